"""Decoding tiles: the same pixels and the same errors whichever library decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import ImageFile

from ofs_stitch.errors import ImageReadError
from ofs_stitch.io import decode
from ofs_stitch.io.decode import PILLOW_JPEG_MAX_PIXELS, read_tile


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
