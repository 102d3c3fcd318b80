"""Decoded tile pixels to the float32 grey that registration correlates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import ImageFile

from ofs_stitch import _core
from ofs_stitch.errors import ImageReadError
from ofs_stitch.io import decode
from ofs_stitch.io.decode import PILLOW_JPEG_MAX_PIXELS, grey_region, read_tile


def numpy_grey(pixels: np.ndarray) -> np.ndarray:
    """The definition: mean of the first three bands when there are three or more, else band 0."""
    values = pixels.astype(np.float64)
    if values.ndim == 2:
        return values
    if values.shape[2] < 3:
        return values[:, :, 0]
    return values[:, :, :3].sum(axis=2) / 3.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("bands", [None, 1, 2, 3, 4])
def test_grey_matches_the_definition_on_a_strided_region(dtype: type, bands: int | None) -> None:
    rng = np.random.default_rng(bands or 0)
    top = np.iinfo(dtype).max
    shape = (37, 53) if bands is None else (37, 53, bands)
    tile = rng.integers(0, top, size=shape, endpoint=True).astype(dtype)
    region = (slice(5, 30), slice(7, 50, 2))  # a column stride of two pixels
    grey = grey_region(tile, region)
    assert grey.dtype == np.float32 and grey.flags.c_contiguous
    np.testing.assert_allclose(grey, numpy_grey(tile[region]), rtol=1e-6)


def test_grey_of_reversed_views_and_extremes() -> None:
    tile = np.zeros((4, 6, 3), dtype=np.uint16)
    tile[0, 0] = 65535  # white: the integer sum must not overflow
    tile[3, 5] = (1, 2, 4)
    grey = _core.image.grey_float32(tile[::-1, ::-1])
    assert grey[3, 5] == pytest.approx(65535.0)
    assert grey[0, 0] == pytest.approx(7 / 3)
    assert grey.sum() == pytest.approx(65535.0 + 7 / 3)


def test_other_sample_types_fall_back_to_numpy_or_are_refused() -> None:
    floats = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    np.testing.assert_allclose(
        grey_region(floats, (slice(None), slice(None))), numpy_grey(floats), rtol=1e-6
    )
    with pytest.raises(ValueError, match="uint8 or uint16"):
        _core.image.grey_float32(floats)
    with pytest.raises(ValueError, match="rows, cols"):
        _core.image.grey_float32(np.zeros(5, dtype=np.uint8))


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_block_mean_matches_the_definition_on_a_strided_view(factor: int) -> None:
    # The coarse level of the coarse-to-fine search; partial blocks at the edges are left out.
    image = np.random.default_rng(factor).random((83, 61), dtype=np.float32) * 255
    for view in (image, image[3:, ::-1][:, 1:], image[::2, :]):
        rows, cols = (view.shape[0] // factor) * factor, (view.shape[1] // factor) * factor
        blocks = view[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
        expected = blocks.astype(np.float64).mean(axis=(1, 3))
        np.testing.assert_allclose(_core.image.block_mean(view, factor), expected, atol=1e-4)


def test_block_mean_refuses_other_pixels_and_factors() -> None:
    with pytest.raises(ValueError, match="float32"):
        _core.image.block_mean(np.zeros((8, 8), np.float64), 2)
    with pytest.raises(ValueError, match="factor"):
        _core.image.block_mean(np.zeros((8, 8), np.float32), 0)


# --- decoding ---------------------------------------------------------------------------------


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
    pixels = read_tile(path)
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
        np.testing.assert_array_equal(read_tile(path), _libvips_pixels(path))


@pytest.mark.parametrize("pad_truncated", [False, True])
def test_a_truncated_jpeg_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pad_truncated: bool
) -> None:
    # Even when some other code in the process asked Pillow to pad truncated files with grey.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pad_truncated)
    path = _save_jpeg(tmp_path / "cut.jpg", _photo((64, 64, 3)))
    path.write_bytes(path.read_bytes()[:-600])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_tile(path)


def test_jpegs_pillow_does_not_take_are_decoded_by_libvips(tmp_path: Path) -> None:
    cmyk = tmp_path / "cmyk.jpg"
    pyvips.Image.new_from_array(_photo((32, 32, 3))).copy(interpretation="srgb").colourspace(
        "cmyk"
    ).jpegsave(str(cmyk))
    assert read_tile(cmyk).shape == (32, 32, 4)
    # A PNG under a JPEG name: decoded for what it is.
    misnamed = tmp_path / "really_a_png.jpg"
    pyvips.Image.new_from_array(_photo((20, 30))).pngsave(str(misnamed))
    np.testing.assert_array_equal(read_tile(misnamed), _photo((20, 30)))
