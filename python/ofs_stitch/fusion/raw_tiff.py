"""Rows of an uncompressed TIFF read straight from the file, without libvips.

An uncompressed TIFF whose strips follow each other in the file (what microscope cameras and
our benchmark's generator write) holds its pixels as one array: rows ``row0..row1`` are one
run of bytes at a known offset, and a single ``pread`` puts them into a numpy array. libvips
reads the same region in strips into its own buffers, then copies it into a Python bytes
object: two more passes over every pixel, and in a libvips worker thread. Measured on the 8x8
benchmark mosaic of 1024^2 tiles, the libvips read was the largest share of the fusion's CPU,
and passes over memory cost two workers on two cores more than one (they share its
bandwidth). Any other TIFF (compressed, tiled, planar, inverted grey, signed or float
samples) is read by libvips as before; this returns None for it.
"""

from __future__ import annotations

import functools
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
    """Rows [row0, row1), all columns, as (rows, cols, bands) in native byte order."""
    # numpy's own dtype object for native samples: the kernels recognise dtypes by identity.
    native = np.dtype(layout.dtype.type)
    stored = native if layout.dtype.isnative else layout.dtype
    pixels = np.empty((row1 - row0, layout.cols, layout.bands), stored)
    wanted = pixels.nbytes
    with open(path, "rb", buffering=0) as file:
        got = os.preadv(
            file.fileno(), [pixels.data.cast("B")], layout.offset + row0 * layout.row_bytes
        )
    if got != wanted:
        raise OSError(f"{path.name} ended after {got} of {wanted} bytes")
    return pixels if stored is native else pixels.astype(native)
