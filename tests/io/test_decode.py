"""The one decoder: files to numpy pixels of their own samples, optionally shrunk on load,
resized, cropped and made grey; the same pixels and the same errors whichever library decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import ImageFile
from pixel_samples import KINDS, write_sample

from ofs_stitch.core.grey import grey_float32
from ofs_stitch.errors import ImageReadError, InputError, decode_error
from ofs_stitch.io import decode
from ofs_stitch.io.decode import PILLOW_JPEG_MAX_PIXELS, open_image, read_pixels, shrink_on_load
from ofs_stitch.io.header import read_header


def _photo(shape: tuple[int, ...]) -> np.ndarray:
    """Smooth content with detail, like a micrograph (JPEG artefacts differ from noise's)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    grey = 128 + 60 * np.sin(rows / 7.0) * np.cos(cols / 11.0) + 30 * np.sin((rows + cols) / 3.0)
    if len(shape) == 2:
        return grey.astype(np.uint8)
    return np.stack([grey, grey[::-1], 255 - grey], axis=2).astype(np.uint8)


def _save_jpeg(path: Path, pixels: np.ndarray, **options: object) -> Path:
    pyvips.Image.new_from_array(pixels).jpegsave(str(path), Q=90, **options)
    return path


def _libvips_pixels(path: Path) -> np.ndarray:
    return pyvips.Image.new_from_file(str(path)).numpy()


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 3)])
@pytest.mark.parametrize("limit", [PILLOW_JPEG_MAX_PIXELS, 100])
def test_jpeg_tiles_decode_to_the_same_pixels_small_or_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: tuple[int, ...], limit: int
) -> None:
    # Small JPEGs go through Pillow, larger ones (here: above a lowered limit) through libvips;
    # the renderer may mix held tiles with tiles it decodes itself, so both must agree exactly.
    monkeypatch.setattr(decode, "PILLOW_JPEG_MAX_PIXELS", limit)
    path = _save_jpeg(tmp_path / "tile.jpeg", _photo(shape))
    pixels = read_pixels(path)
    reference = _libvips_pixels(path)
    assert pixels.dtype == np.uint8 and pixels.shape == reference.shape
    np.testing.assert_array_equal(pixels, reference)


def test_chroma_subsampled_and_progressive_jpegs_match_libvips(tmp_path: Path) -> None:
    photo = _photo((40, 56, 3))
    for name, options in {
        "420.jpg": {"subsample_mode": "on"},
        "progressive.jpg": {"interlace": True},
    }.items():
        path = _save_jpeg(tmp_path / name, photo, **options)
        np.testing.assert_array_equal(read_pixels(path), _libvips_pixels(path))


@pytest.mark.parametrize("pad_truncated", [False, True])
def test_a_truncated_jpeg_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pad_truncated: bool
) -> None:
    # Even when some other code in the process asked Pillow to pad truncated files with grey.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pad_truncated)
    path = _save_jpeg(tmp_path / "cut.jpg", _photo((64, 64, 3)))
    path.write_bytes(path.read_bytes()[:-600])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_pixels(path)


def test_jpegs_pillow_does_not_take_are_decoded_by_libvips(tmp_path: Path) -> None:
    cmyk = tmp_path / "cmyk.jpg"
    pyvips.Image.new_from_array(_photo((32, 32, 3))).copy(interpretation="srgb").colourspace(
        "cmyk"
    ).jpegsave(str(cmyk))
    assert read_pixels(cmyk).shape == (32, 32, 4)
    # A PNG under a JPEG name: decoded for what it is.
    misnamed = tmp_path / "really_a_png.jpg"
    pyvips.Image.new_from_array(_photo((20, 30))).pngsave(str(misnamed))
    np.testing.assert_array_equal(read_pixels(misnamed), _photo((20, 30)))


# --- every kind of file, and the options ------------------------------------------------------


def _libvips(path: Path, **options: object) -> pyvips.Image:
    """The file as the decoder this module replaced opened it (read_tile, open_tile)."""
    return pyvips.Image.new_from_file(
        str(path), access="sequential", fail_on="truncated", **options
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_decodes_to_its_own_samples(tmp_path: Path, kind: str) -> None:
    # 16-bit stays 16-bit, alpha stays, CMYK stays CMYK, palettes come expanded: exactly what
    # libvips gives (and what read_tile gave).
    path = write_sample(tmp_path, kind)
    pixels = read_pixels(path)
    reference = _libvips(path).numpy()
    assert pixels.dtype == reference.dtype and pixels.shape == reference.shape
    np.testing.assert_array_equal(pixels, reference)
    expected_dtype = np.uint16 if "16" in kind else np.uint8
    assert pixels.dtype == expected_dtype


@pytest.mark.parametrize("kind", ["rgb8.jpg", "grey16.png", "rgba16.tif", "palette.png"])
def test_scale_is_libvips_resize_of_the_whole_image(tmp_path: Path, kind: str) -> None:
    # upstream's --resize: what read_tile(path, scale) gave, pixel for pixel.
    path = write_sample(tmp_path, kind, (61, 83))
    for scale in (0.5, 0.37):
        np.testing.assert_array_equal(
            read_pixels(path, scale=scale), _libvips(path).resize(scale).numpy()
        )


@pytest.mark.parametrize("shape", [(48, 64), (37, 29), (61, 83)])
@pytest.mark.parametrize("kind", ["grey8.jpg", "rgb8.jpg"])
@pytest.mark.parametrize("limit", [PILLOW_JPEG_MAX_PIXELS, 100])
def test_jpeg_shrink_on_load_gives_libvips_pixels_from_either_decoder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shape: tuple[int, int],
    kind: str,
    limit: int,
) -> None:
    # Pillow's draft and libvips' shrink both scale libjpeg's inverse DCT; libvips rounds
    # the shrunk size down, and so must Pillow's result.
    monkeypatch.setattr(decode, "PILLOW_JPEG_MAX_PIXELS", limit)
    path = write_sample(tmp_path, kind, shape)
    for shrink in (2, 4, 8):
        reference = _libvips(path, shrink=shrink).numpy()
        assert reference.shape[:2] == (shape[0] // shrink, shape[1] // shrink)
        for loader in (None, "jpegload"):
            np.testing.assert_array_equal(
                read_pixels(path, shrink=shrink, loader=loader), reference
            )


def test_shrink_on_load_is_ignored_where_the_format_has_none(tmp_path: Path) -> None:
    png = write_sample(tmp_path, "rgb16.png")
    cmyk = write_sample(tmp_path, "cmyk8.jpg")  # a JPEG Pillow leaves to libvips
    np.testing.assert_array_equal(read_pixels(png, shrink=4), read_pixels(png))
    np.testing.assert_array_equal(read_pixels(png, shrink=4, loader="pngload"), read_pixels(png))
    np.testing.assert_array_equal(read_pixels(cmyk, shrink=2), _libvips(cmyk, shrink=2).numpy())
    with pytest.raises(InputError, match="1, 2, 4 or 8"):
        read_pixels(png, shrink=3)


@pytest.mark.parametrize("kind", ["rgb8.jpg", "grey8.jpg", "greyalpha16.png", "cmyk8.jpg"])
@pytest.mark.parametrize("limit", [PILLOW_JPEG_MAX_PIXELS, 100])
def test_a_region_and_grey_are_the_whole_image_cropped_and_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, limit: int
) -> None:
    monkeypatch.setattr(decode, "PILLOW_JPEG_MAX_PIXELS", limit)
    path = write_sample(tmp_path, kind, (40, 56))
    whole = read_pixels(path)
    for region in [(slice(5, 30), slice(7, 50)), (slice(-12, None), slice(None, 9))]:
        np.testing.assert_array_equal(read_pixels(path, region=region), whole[region])
        grey = read_pixels(path, region=region, grey=True)
        assert grey.dtype == np.float32
        np.testing.assert_array_equal(grey, grey_float32(whole[region]))
    shrunk = read_pixels(path, shrink=2)
    np.testing.assert_array_equal(
        read_pixels(path, shrink=2, region=(slice(2, 9), slice(3, 20))), shrunk[2:9, 3:20]
    )


def test_regions_with_steps_or_nothing_in_them_are_refused(tmp_path: Path) -> None:
    path = write_sample(tmp_path, "rgb8.jpg")
    with pytest.raises(InputError, match="step"):
        read_pixels(path, region=(slice(0, 10, 2), slice(None)))
    with pytest.raises(InputError, match="empty"):
        read_pixels(path, region=(slice(30, 10), slice(None)))


def test_shrink_on_load_factor_comes_from_the_header(tmp_path: Path) -> None:
    jpeg = read_header(write_sample(tmp_path, "rgb8.jpg", (480, 640)))
    png = read_header(write_sample(tmp_path, "rgb16.png", (480, 640)))
    assert shrink_on_load(jpeg, (480, 640)) == 1
    assert shrink_on_load(jpeg, (240, 320)) == 2
    assert shrink_on_load(jpeg, (241, 320)) == 1  # 480 / 241 < 2: decode full size
    assert shrink_on_load(jpeg, (100, 200)) == 2  # 640 / 200 = 3.2: the wider side decides
    assert shrink_on_load(jpeg, (10, 10)) == 8
    assert shrink_on_load(png, (10, 10)) == 1


# --- errors -------------------------------------------------------------------------------------


def _libvips_error(path: Path) -> pyvips.Error:
    try:
        _libvips(path).numpy()
    except pyvips.Error as error:
        return error
    raise AssertionError(f"libvips decoded {path}")


@pytest.mark.parametrize("kind", ["rgb8.jpg", "grey16.png", "rgb16.tif", "palette.png"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
@pytest.mark.parametrize("limit", [PILLOW_JPEG_MAX_PIXELS, 100])
def test_a_broken_file_gives_one_line_naming_it_whichever_decoder_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, damage: str, limit: int
) -> None:
    # The message read_tile gave: libvips' own reason, whether or not Pillow saw the file first.
    monkeypatch.setattr(decode, "PILLOW_JPEG_MAX_PIXELS", limit)
    path = write_sample(tmp_path, kind, (64, 64))
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:16] + bytes(range(256)) * 4)
    expected = str(decode_error(path, _libvips_error(path)))
    assert expected.startswith(f"cannot decode {path}: ") and "\n" not in expected
    for options in ({}, {"shrink": 2}, {"scale": 0.5}, {"grey": True}):
        with pytest.raises(ImageReadError) as raised:
            read_pixels(path, **options)
        assert "\n" not in str(raised.value)
        assert str(raised.value).startswith(f"cannot decode {path}: ")
        if not options:
            assert str(raised.value) == expected


def test_a_missing_file_is_named_too(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="nothing.jpg"):
        read_pixels(tmp_path / "nothing.jpg")
    with pytest.raises(ImageReadError, match="nothing.png"):
        open_image(tmp_path / "nothing.png", shrink=2)
