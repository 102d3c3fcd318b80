"""Rows of an uncompressed TIFF read straight from the file, without libvips.

An uncompressed TIFF whose strips follow each other in the file (what microscope cameras and
our benchmark's generator write) holds its pixels as one array: rows ``row0..row1`` are one
run of bytes at a known offset. libvips reads the same region in strips into its own
buffers, then copies it into a Python bytes object: two more passes over every pixel, and in
a libvips worker thread. Measured on the 8x8 benchmark mosaic of 1024^2 tiles, the libvips
read was the largest share of the fusion's CPU, and passes over memory cost two workers on
two cores more than one (they share its bandwidth). Any other TIFF (compressed, tiled,
planar, inverted grey, signed or float samples) is read by libvips as before; this returns
None for it.

The rows are mapped into memory, not copied: the painters read the columns they need
straight from the page cache. A read into an array (one ``pread``) copied whole rows, twice
the width a chunk needs where it crosses a tile's edge. Measured on 8x8 tiles of 1024^2,
fusions alternating on one warm cluster: 0.258 s against 0.289 s with 2 worker processes and
0.442 s against 0.474 s with 1 (medians of 10). The file's size is checked before mapping, so
a short file is reported as before; a file cut short in place in the moment a chunk is
painted from it would stop the process with SIGBUS (a dask.distributed worker is restarted
and its task retried), while a file replaced under the same name (written anew and renamed,
as cameras and our tools save) keeps the old pixels mapped. Samples stored in the other byte
order are read into an array and swapped.
"""

from __future__ import annotations

import functools
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# TIFF tag values (TIFF 6.0): no compression; grey with 0 black, RGB; samples interleaved;
# unsigned integer samples; bits in each byte from the most significant.
_NO_COMPRESSION = 1
_MINISBLACK, _RGB = 1, 2
_CONTIG = 1
_UINT = 1


@dataclass(frozen=True)
class RawLayout:
    """Where an uncompressed TIFF's first page keeps its pixels."""

    offset: int  # file offset of row 0's first byte
    rows: int
    cols: int
    bands: int
    dtype: np.dtype  # the samples as stored (byte order included)

    @property
    def row_bytes(self) -> int:
        return self.cols * self.bands * self.dtype.itemsize


@functools.lru_cache(maxsize=4096)
def raw_layout(path: str, mtime: float) -> RawLayout | None:
    """The pixel layout of ``path``'s first page when it is one uncompressed run of
    interleaved unsigned 8- or 16-bit samples, grey (0 black) or RGB; else None (also when
    tifffile cannot parse it: libvips then reports the error). Kept per process and per file
    version (``mtime``): parsing the header costs about as much as reading a small region."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            offsets, counts = page.dataoffsets, page.databytecounts
            dtype = np.dtype(page.dtype).newbyteorder(tif.byteorder)
            bands = int(page.samplesperpixel)
            layout = RawLayout(
                int(offsets[0]), int(page.imagelength), int(page.imagewidth), bands, dtype
            )
            plain = (
                int(page.compression) == _NO_COMPRESSION
                and not page.is_tiled
                and int(page.photometric) in (_MINISBLACK, _RGB)
                and (bands == 1 or int(page.planarconfig) == _CONTIG)
                and int(page.sampleformat) == _UINT
                and int(page.bitspersample) in (8, 16)
                and int(page.fillorder) == 1
                and int(page.imagedepth) == 1
            )
    except Exception:  # noqa: BLE001 - any file tifffile cannot parse goes to libvips
        return None
    if not plain:
        return None
    # One run: each strip starts where the one before ends, and they hold exactly the pixels.
    contiguous = all(
        int(offsets[k + 1]) == int(offsets[k]) + int(counts[k]) for k in range(len(offsets) - 1)
    )
    if not contiguous or sum(int(n) for n in counts) < layout.rows * layout.row_bytes:
        return None
    return layout


def read_raw_rows(path: Path, layout: RawLayout, row0: int, row1: int) -> np.ndarray:
    """Rows [row0, row1), all columns, as (rows, cols, bands) in native byte order: a view of
    the file mapped read-only (kept mapped while the array lives), or, for samples in the
    other byte order, a swapped copy. Raises OSError when the file is shorter than its
    header says."""
    if row1 <= row0:
        return np.empty((0, layout.cols, layout.bands), np.dtype(layout.dtype.type))
    start = layout.offset + row0 * layout.row_bytes
    end = layout.offset + row1 * layout.row_bytes
    with open(path, "rb", buffering=0) as file:
        size = os.fstat(file.fileno()).st_size
        if size < end:
            raise OSError(f"{path.name} ended after {size} bytes, before its pixels' end at {end}")
        if layout.dtype.isnative:
            # The mapping starts on a page boundary; the view starts at row0.
            base = start - start % mmap.ALLOCATIONGRANULARITY
            mapped = mmap.mmap(file.fileno(), end - base, offset=base, access=mmap.ACCESS_READ)
            # numpy's own dtype object for native samples: the kernels recognise dtypes by
            # identity.
            native = np.dtype(layout.dtype.type)
            pixels = np.frombuffer(mapped, native, (end - start) // native.itemsize, start - base)
            return pixels.reshape(row1 - row0, layout.cols, layout.bands)
        stored = np.empty((row1 - row0, layout.cols, layout.bands), layout.dtype)
        got = os.preadv(file.fileno(), [stored.data.cast("B")], start)
    if got != stored.nbytes:
        raise OSError(
            f"{path.name} ended after {start + got} bytes, before its pixels' end at {end}"
        )
    return stored.astype(np.dtype(layout.dtype.type))
