"""Regions of uncompressed TIFFs read straight from the file equal libvips' reads; other TIFFs
still go to libvips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

from ofs_stitch.errors import ImageReadError
from ofs_stitch.fusion.raw_tiff import RawLayout, raw_layout
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


def _tifffile_layout(path: Path) -> RawLayout | None:
    """The layout as tifffile reads the first page (what raw_layout reads by itself)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        offsets, counts = page.dataoffsets, page.databytecounts
        if not (
            page.compression == 1
            and not page.is_tiled
            and page.photometric in (1, 2)
            and (page.samplesperpixel == 1 or page.planarconfig == 1)
            and page.sampleformat == 1
            and page.bitspersample in (8, 16)
            and page.fillorder == 1
            and page.imagedepth == 1
        ):
            return None
        dtype = np.dtype(page.dtype).newbyteorder(tif.byteorder)
        layout = RawLayout(
            int(offsets[0]), page.imagelength, page.imagewidth, page.samplesperpixel, dtype
        )
    runs = all(offsets[k + 1] == offsets[k] + counts[k] for k in range(len(offsets) - 1))
    return layout if runs and sum(counts) >= layout.rows * layout.row_bytes else None


@pytest.mark.parametrize(
    ("shape", "dtype", "options"),
    [
        ((70, 90), np.uint16, {}),
        ((70, 90), np.uint16, {"byteorder": ">"}),
        ((70, 90), np.uint16, {"bigtiff": True}),
        ((70, 90), np.uint16, {"bigtiff": True, "byteorder": ">", "rowsperstrip": 3}),
        ((70, 90), np.uint8, {"rowsperstrip": 1}),
        ((1, 90), np.uint16, {}),
        ((70, 90, 3), np.uint16, {"photometric": "rgb", "rowsperstrip": 9}),
        ((3, 70, 90), np.uint8, {"photometric": "rgb", "planarconfig": "separate"}),
        ((70, 90), np.float32, {}),
        ((70, 90), np.uint16, {"compression": "zlib"}),
        ((70, 90), np.uint16, {"tile": (32, 32)}),
        ((600, 700), np.uint16, {"rowsperstrip": 2}),  # strip tables past the first read
    ],
)
def test_the_first_page_reads_as_tifffile_reads_it(
    tmp_path: Path, shape: tuple[int, ...], dtype: type, options: dict
) -> None:
    path = tmp_path / "tile.tif"
    pixels = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    tifffile.imwrite(path, pixels, **{"photometric": "minisblack", **options})
    assert raw_layout(str(path), path.stat().st_mtime) == _tifffile_layout(path)


def test_libvips_tiffs_and_files_that_are_no_tiff(tmp_path: Path) -> None:
    tiff = tmp_path / "vips.tif"
    pyvips.Image.black(300, 200).cast("ushort").tiffsave(str(tiff))
    layout = raw_layout(str(tiff), tiff.stat().st_mtime)
    assert layout is not None and layout == _tifffile_layout(tiff)
    assert (layout.rows, layout.cols, layout.bands) == (200, 300, 1)
    # A BigTIFF header whose first page claims 2^60 tags.
    huge = b"II+\0\x08\0\0\0" + (16).to_bytes(8, "little") + (1 << 60).to_bytes(8, "little")
    cases = (("empty.tif", b""), ("text.tif", b"II*\0 not a tiff"), ("x.tif", b"MM\0+"))
    for name, data in (*cases, ("huge.tif", huge)):
        (tmp_path / name).write_bytes(data)
        assert raw_layout(str(tmp_path / name), 0.0) is None


def test_a_damaged_header_never_raises(tmp_path: Path) -> None:
    """Any byte of the header and first page's tags changed: a layout or None, no error (the
    file then goes to libvips, which reports it)."""
    source = tmp_path / "tile.tif"
    tifffile.imwrite(source, np.zeros((20, 30), np.uint16), photometric="minisblack")
    original = source.read_bytes()
    rng = np.random.default_rng(11)
    damaged = tmp_path / "damaged.tif"
    for trial in range(300):
        data = bytearray(original)
        for at in rng.integers(0, 400, 3):
            data[at] = int(rng.integers(0, 256))
        damaged.write_bytes(bytes(data))
        layout = raw_layout(str(damaged), float(trial))
        assert layout is None or isinstance(layout, RawLayout)
