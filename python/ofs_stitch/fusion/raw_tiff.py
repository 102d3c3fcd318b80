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
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# TIFF tag values (TIFF 6.0): no compression; grey with 0 black, RGB; samples interleaved;
# unsigned integer samples; bits in each byte from the most significant.
_NO_COMPRESSION = 1
_MINISBLACK, _RGB = 1, 2
_CONTIG = 1
_UINT = 1

# The first page's tags the layout depends on (TIFF 6.0; 32997 is SGI's ImageDepth, which
# tifffile also reads), with the value an absent optional one stands for.
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC, _FILL_ORDER = 256, 257, 258, 259, 262, 266
_STRIP_OFFSETS, _SAMPLES, _STRIP_BYTES, _PLANAR = 273, 277, 279, 284
_TILE_WIDTH, _TILE_LENGTH, _SAMPLE_FORMAT, _IMAGE_DEPTH = 322, 323, 339, 32997
_DEFAULTS = {
    _BITS: 1,
    _COMPRESSION: 1,
    _FILL_ORDER: 1,
    _SAMPLES: 1,
    _PLANAR: 1,
    _SAMPLE_FORMAT: 1,
    _IMAGE_DEPTH: 1,
}
_WANTED = {_WIDTH, _LENGTH, _PHOTOMETRIC, _STRIP_OFFSETS, _STRIP_BYTES, *_DEFAULTS}
_TILED = {_TILE_WIDTH, _TILE_LENGTH}
# Field types of unsigned integers (SHORT, LONG and BigTIFF's LONG8) and their struct codes.
_INTEGER_FIELDS = {3: "H", 4: "I", 16: "Q"}
# What one read of a file's start takes in: the header and, in most files, the first page's
# tags and strip tables.
_HEAD_BYTES = 16 << 10
# Beyond these a page's tags are not worth reading here (a damaged file's counts can be any
# number): the file goes to libvips.
_MOST_ENTRIES = 4096
_MOST_VALUES = 1 << 20


class _NotPlain(Exception):
    """The file is not a TIFF whose first page this module reads itself."""


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


def _first_page_tags(path: str) -> tuple[str, dict[int, tuple[int, ...]]]:
    """The byte order ("<" or ">") of a classic or Big TIFF and its first page's tags in
    `_WANTED`, each as the tuple of its values. Raises _NotPlain for any other file, a tag
    of another field type, or a tiled page."""
    with open(path, "rb", buffering=0) as file:
        head = os.pread(file.fileno(), _HEAD_BYTES, 0)

        def read(offset: int, size: int) -> bytes:
            if offset + size <= len(head):
                return head[offset : offset + size]
            data = os.pread(file.fileno(), size, offset)
            if len(data) < size:
                raise _NotPlain
            return data

        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None or len(head) < 16:
            raise _NotPlain
        (version,) = struct.unpack_from(order + "H", head, 2)
        if version == 42:  # classic TIFF: 32-bit offsets, 12-byte entries
            count_code, entry_bytes = "H", 12
            (ifd,) = struct.unpack_from(order + "I", head, 4)
        elif version == 43:  # BigTIFF: 64-bit offsets, 20-byte entries
            count_code, entry_bytes = "Q", 20
            (ifd,) = struct.unpack_from(order + "Q", head, 8)
        else:
            raise _NotPlain
        value_code = "I" if version == 42 else "Q"
        value_bytes = struct.calcsize(value_code)
        count_bytes = struct.calcsize(count_code)
        (entries,) = struct.unpack(order + count_code, read(ifd, count_bytes))
        if entries > _MOST_ENTRIES:
            raise _NotPlain
        table = read(ifd + count_bytes, entries * entry_bytes)
        tags: dict[int, tuple[int, ...]] = {}
        for k in range(entries):
            at = k * entry_bytes
            tag, field, count = struct.unpack_from(order + "HH" + value_code, table, at)
            if tag in _TILED:
                raise _NotPlain
            if tag not in _WANTED:
                continue
            code = _INTEGER_FIELDS.get(field)
            if code is None or not 1 <= count <= _MOST_VALUES:
                raise _NotPlain
            size = count * struct.calcsize(code)
            inline = table[at + 4 + value_bytes : at + entry_bytes]
            if size <= value_bytes:
                data = inline[:size]
            else:
                (where,) = struct.unpack(order + value_code, inline)
                data = read(where, size)
            tags[tag] = struct.unpack(f"{order}{count}{code}", data)
    return order, tags


@functools.lru_cache(maxsize=4096)
def raw_layout(path: str, mtime: float) -> RawLayout | None:
    """The pixel layout of ``path``'s first page when it is one uncompressed run of
    interleaved unsigned 8- or 16-bit samples, grey (0 black) or RGB; else None (also for a
    file that is no TIFF or cannot be read: libvips then reports the error). Kept per process
    and per file version (``mtime``).

    The first page's tags are read here rather than by tifffile: tifffile parses every tag
    of the page into objects, 0.4-0.9 ms a file (each worker parses a tile the first time a
    chunk of its needs it, so a fusion whose blocks went to the other workers before parses
    again), and its import takes 19 ms in each worker. This reads the dozen tags it needs from one
    read of the file's start, in about 0.08 ms a file. The tests check it against tifffile.
    """
    try:
        order, tags = _first_page_tags(path)
    except (OSError, struct.error, _NotPlain):
        return None

    def values(tag: int) -> tuple[int, ...]:
        return tags.get(tag, (_DEFAULTS[tag],))

    if not {_WIDTH, _LENGTH, _PHOTOMETRIC, _STRIP_OFFSETS, _STRIP_BYTES} <= tags.keys():
        return None
    offsets, counts = tags[_STRIP_OFFSETS], tags[_STRIP_BYTES]
    bits = values(_BITS)
    bands = values(_SAMPLES)[0]
    plain = (
        len(offsets) == len(counts)
        and values(_COMPRESSION)[0] == _NO_COMPRESSION
        and tags[_PHOTOMETRIC][0] in (_MINISBLACK, _RGB)
        and (bands == 1 or values(_PLANAR)[0] == _CONTIG)
        and all(value == _UINT for value in values(_SAMPLE_FORMAT))
        and all(value == bits[0] for value in bits)
        and bits[0] in (8, 16)
        and values(_FILL_ORDER)[0] == 1
        and values(_IMAGE_DEPTH)[0] == 1
    )
    if not plain:
        return None
    dtype = np.dtype(f"{order}u{bits[0] // 8}")
    layout = RawLayout(offsets[0], tags[_LENGTH][0], tags[_WIDTH][0], bands, dtype)
    # One run: each strip starts where the one before ends, and they hold exactly the pixels.
    contiguous = all(offsets[k + 1] == offsets[k] + counts[k] for k in range(len(offsets) - 1))
    if not contiguous or sum(counts) < layout.rows * layout.row_bytes:
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
