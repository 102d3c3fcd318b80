"""Regions of uncompressed TIFFs read straight from the file equal libvips' reads; other TIFFs
still go to libvips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

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
