"""Regions of uncompressed TIFFs read straight from the file equal libvips' reads; other TIFFs
still go to libvips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

from ofs_stitch.errors import ImageReadError
from ofs_stitch.fusion.raw_tiff import raw_layout
from ofs_stitch.fusion.tile_reads import read_own_region
from ofs_stitch.io.header import read_headers


def _libvips_region(path: Path, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    pixels = pyvips.Image.new_from_file(str(path)).numpy()[row0:row1, col0:col1]
    return pixels


@pytest.mark.parametrize(
    ("shape", "dtype", "options", "raw"),
    [
        ((70, 90), np.uint16, {}, True),
        ((70, 90), np.uint16, {"byteorder": ">"}, True),
        ((70, 90, 3), np.uint8, {"photometric": "rgb"}, True),
        ((70, 90), np.uint8, {"rowsperstrip": 7}, True),
        ((70, 90), np.uint16, {"compression": "zlib"}, False),
        ((70, 90), np.uint16, {"tile": (32, 32)}, False),
        ((70, 90), np.int16, {}, False),
        ((70, 90), np.uint16, {"photometric": "miniswhite"}, False),
    ],
)
def test_a_region_reads_as_libvips_reads_it(
    tmp_path: Path, shape: tuple[int, ...], dtype: type, options: dict, raw: bool
) -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, pixels, **{"photometric": "minisblack", **options})
    assert (raw_layout(str(path), path.stat().st_mtime) is not None) == raw
    (header,) = read_headers([path])
    for row0, row1, col0, col1 in ((0, 70, 0, 90), (13, 51, 27, 88), (69, 70, 0, 1)):
        got = read_own_region(header, row0, row1, col0, col1)
        want = _libvips_region(path, row0, row1, col0, col1)
        assert got.dtype == want.dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, want)


def test_a_short_file_is_named_and_a_read_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    pixels = np.arange(70 * 90, dtype=np.uint16).reshape(70, 90)
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, pixels, photometric="minisblack")
    (header,) = read_headers([path])
    region = read_own_region(header, 10, 20, 5, 60)
    np.testing.assert_array_equal(region, pixels[10:20, 5:60])
    # The rows are the file's own bytes, mapped read-only: a painter cannot change the tile.
    assert not region.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        region[0, 0] = 1
    del region
    assert read_own_region(header, 5, 5, 0, 90).shape == (0, 90)
    original = path.read_bytes()
    assert np.array_equal(tifffile.imread(path), pixels)
    # Cut short after the reads above: the next read names the file instead of crashing.
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(ImageReadError, match="tile.tif"):
        read_own_region(header, 60, 70, 0, 90)
