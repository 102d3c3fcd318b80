"""The mosaic's pixel format from the tiles' headers, and the one normaliser bringing decoded
pixels to it: tiles decoded from files and tiles held in memory must come out the same, and as
the two normalisers this one replaced made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from pixel_samples import KINDS, old_file_normaliser, write_sample

from ofs_stitch.errors import InputError
from ofs_stitch.io.decode import open_image, read_pixels
from ofs_stitch.io.header import read_header, read_headers
from ofs_stitch.io.pixel_format import (
    PixelFormat,
    pixel_format_of,
    pixels_in_format,
    to_pixel_format,
)

FORMATS = [
    PixelFormat(bands, np.dtype(dtype)) for bands in (1, 3) for dtype in (np.uint8, np.uint16)
]


def _old_memory_normaliser(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """The renderer's normaliser for tiles held in memory, as it was (io.strips)."""
    array = pixels if pixels.ndim == 3 else pixels[:, :, None]
    if array.shape[2] in (2, 4):  # drop alpha
        array = array[:, :, : array.shape[2] - 1]
    if array.shape[2] > fmt.bands:
        array = array[:, :, : fmt.bands]
    if array.dtype == np.uint8 and fmt.dtype == np.uint16:
        array = array.astype(np.uint16) * 257
    if array.shape[2] < fmt.bands:
        array = np.repeat(array, fmt.bands, axis=2)
    return np.asarray(array, fmt.dtype)


def _as_3d(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


@pytest.mark.parametrize("kind", KINDS)
def test_files_and_held_pixels_normalise_as_before_and_alike(tmp_path: Path, kind: str) -> None:
    path = write_sample(tmp_path, kind)
    header = read_header(path)
    # Every mosaic format that can hold this tile (a 16-bit tile makes the mosaic 16-bit).
    holding = [f for f in FORMATS if f.dtype == np.uint16 or header.pixel_format == "uchar"]
    for fmt in holding:
        from_file = _as_3d(to_pixel_format(open_image(path), fmt).numpy())
        held = pixels_in_format(read_pixels(path), header.interpretation, fmt)
        before = old_file_normaliser(pyvips.Image.new_from_file(str(path)), fmt).numpy()
        assert from_file.shape == (*held.shape[:2], fmt.bands) and from_file.dtype == fmt.dtype
        np.testing.assert_array_equal(from_file, _as_3d(before))
        np.testing.assert_array_equal(held, from_file)
        if header.interpretation != "cmyk":
            # Held CMYK pixels used to lose K and show C, M, Y as R, G, B; the renderer now
            # decodes CMYK tiles from their files instead (see render.compose.file_source).
            np.testing.assert_array_equal(held, _old_memory_normaliser(read_pixels(path), fmt))


def test_held_pixels_are_not_copied_where_a_view_will_do() -> None:
    rgb = np.zeros((5, 7, 3), np.uint8)
    kept = pixels_in_format(rgb, "srgb", PixelFormat(3, np.dtype(np.uint8)))
    assert kept.shape == rgb.shape and np.shares_memory(kept, rgb)
    grey = np.zeros((5, 7), np.uint16)
    kept = pixels_in_format(grey, "grey16", PixelFormat(1, np.dtype(np.uint16)))
    assert kept.shape == (5, 7, 1) and np.shares_memory(kept, grey)
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgb = pixels_in_format(rgba, "srgb", PixelFormat(3, np.dtype(np.uint8)))
    assert rgb.shape == (5, 7, 3) and np.shares_memory(rgb, rgba)  # alpha dropped by slicing


def test_two_bands_without_alpha_fill_an_rgb_mosaic_with_the_first() -> None:
    # A 2-band image whose second band is not alpha (libvips says "multiband") is grey in
    # the mosaic's eyes; it used to be joined into four bands, which no mosaic holds.
    pixels = np.stack([np.full((3, 4), 10, np.uint8), np.full((3, 4), 200, np.uint8)], axis=2)
    out = pixels_in_format(pixels, "multiband", PixelFormat(3, np.dtype(np.uint8)))
    assert out.shape == (3, 4, 3) and (out == 10).all()


def _old_probe(paths: list[Path]) -> tuple[int, str]:
    """The mosaic format as probe_pixel_format found it, opening every file again."""
    bands, depth16 = 1, False
    for path in paths:
        image = pyvips.Image.new_from_file(str(path))
        colour_bands = image.bands - (1 if image.hasalpha() else 0)
        if colour_bands >= 3 or image.interpretation == "cmyk":
            bands = 3
        depth16 |= str(image.format) == "ushort"
    return bands, "uint16" if depth16 else "uint8"


@pytest.mark.parametrize(
    "kinds",
    [
        ["grey8.jpg"],
        ["greyalpha8.png"],
        ["greyalpha16.png", "grey8.jpg"],
        ["grey8.jpg", "rgb8.jpg"],
        ["cmyk8.jpg"],
        ["rgba8.png"],
        ["palette.png"],
        ["palettealpha.png", "grey16.tif"],
        ["rgb16.tif", "grey8.jpg"],
        ["rgba16.tif"],
    ],
)
def test_the_mosaic_format_from_headers_is_what_reopening_the_files_gave(
    tmp_path: Path, kinds: list[str]
) -> None:
    paths = [write_sample(tmp_path, kind) for kind in kinds]
    fmt = pixel_format_of(read_headers(paths))
    assert (fmt.bands, str(fmt.dtype)) == _old_probe(paths)


def test_samples_no_mosaic_holds_are_refused_naming_the_file(tmp_path: Path) -> None:
    grey = write_sample(tmp_path, "grey8.jpg")
    floats = tmp_path / "floats.tif"
    pyvips.Image.new_from_array(np.zeros((4, 4), np.float32)).tiffsave(str(floats))
    with pytest.raises(InputError, match="floats.tif: float samples"):
        pixel_format_of(read_headers([grey, floats]))
