"""Each level of a pyramidal TIFF states its own resolution; only the first carries the OME-XML.

libvips (8.18) writes every level of a pyramid with the full-resolution XResolution and
YResolution, and with a copy of the image-description: every level of an OME-TIFF then claims
the full-resolution pixel size and carries the OME-XML again. Without a pixel size it writes
25.4 pixels per inch, which OpenSlide and libvips read back as 1000 um per pixel. libvips'
``tiffsave`` has no option for either, so `fix_pyramid_tags` rewrites the tags of the file just
written (still under its temporary name, see `io.atomic`):

- pixel size known: ResolutionUnit centimetre and X/YResolution ``10^4 / (pixel_size_um * 2^k)``
  pixels per cm at level k (libvips halves each level, dropping an odd last pixel, so a pixel
  of level k spans exactly 2^k full-resolution pixels);
- pixel size unknown: ResolutionUnit none and X/YResolution 1/1 (square pixels, no physical
  size: OpenSlide reports no ``openslide.mpp-x``, tifffile and exiftool say "none");
- ImageDescription removed from every IFD but the first.

Every change is made in place: the resolution values are rewritten where they stand (a
RATIONAL stays 8 bytes), and an IFD loses its ImageDescription entry by moving the entries
after it up one place (the IFD shrinks; the XML text it pointed at becomes unused bytes).
This is a few dozen lines of struct work on a file whose layout libvips has just fixed; tifffile
can overwrite tag values but not remove a tag, and it is only a test dependency here.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

IMAGE_WIDTH = 256
IMAGE_DESCRIPTION = 270
X_RESOLUTION = 282
Y_RESOLUTION = 283
RESOLUTION_UNIT = 296
SUB_IFDS = 330
RESUNIT_NONE = 1
RESUNIT_CENTIMETER = 3

_SHORT, _LONG, _RATIONAL, _LONG8 = 3, 4, 5, 16
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TYPE_SIZES.update({16: 8, 17: 8, 18: 8})
_UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class _Layout:
    """Classic TIFF or BigTIFF, in one byte order: the sizes of an IFD's parts."""

    order: str  # "<" or ">"
    big: bool

    @property
    def count_format(self) -> str:
        return self.order + ("Q" if self.big else "H")

    @property
    def offset_format(self) -> str:
        return self.order + ("Q" if self.big else "I")

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def inline_size(self) -> int:
        """Bytes a value may take and still sit inside its entry."""
        return 8 if self.big else 4


@dataclass(frozen=True)
class _Entry:
    tag: int
    type: int
    count: int
    at: int  # file offset of the entry itself
    value_at: int  # file offset of its value (inside the entry when small enough)


@dataclass(frozen=True)
class _Ifd:
    at: int
    entries: dict[int, _Entry]
    next_at: int  # offset of the next IFD in the chain, 0 at the end


def fix_pyramid_tags(path: Path | str, pixel_size_um: float | None) -> None:
    """Give every level of the pyramidal TIFF at ``path`` its own resolution (or none, when
    ``pixel_size_um`` is None) and leave the image-description on the first IFD only.

    The levels are every IFD of the file, in the main chain and in SubIFDs alike: the files
    written here hold one plane and its reduced levels. Raises ValueError for a file that is not
    a TIFF or lacks the resolution tags libvips writes (a bug, not a user's mistake).
    """
    with open(path, "r+b") as handle:
        layout, first = _header(handle)
        ifds = _all_ifds(handle, layout, first)
        full_width = _read_value(handle, layout, ifds[0].entries[IMAGE_WIDTH])
        for index, ifd in enumerate(ifds):
            width = _read_value(handle, layout, ifd.entries[IMAGE_WIDTH])
            level = round(math.log2(full_width / width)) if width > 0 else 0
            _set_resolution(handle, layout, ifd, pixel_size_um, level)
            if index > 0 and IMAGE_DESCRIPTION in ifd.entries:
                _remove_entry(handle, layout, ifd, IMAGE_DESCRIPTION)


def pixels_per_cm(pixel_size_um: float, level: int) -> Fraction:
    """The X/YResolution of pyramid level ``level`` as an exact fraction that fits a TIFF
    RATIONAL (two uint32): 10^4 um per cm over the level's pixel size."""
    # str(): the decimal the user typed (0.2232 -> 279/1250), not its binary approximation.
    value = Fraction(10_000) / (Fraction(str(pixel_size_um)) * 2**level)
    limit = _UINT32_MAX
    fitted = value.limit_denominator(limit)
    while fitted.numerator > _UINT32_MAX and limit > 1:
        limit //= 2
        fitted = value.limit_denominator(limit)
    if fitted.numerator > _UINT32_MAX or fitted.numerator == 0:
        raise ValueError(f"pixel size {pixel_size_um} um cannot be written as a TIFF resolution")
    return fitted


def _header(handle: BinaryIO) -> tuple[_Layout, int]:
    head = handle.read(16)
    orders = {b"II": "<", b"MM": ">"}
    if len(head) < 8 or head[:2] not in orders:
        raise ValueError("not a TIFF file")
    order = orders[head[:2]]
    (version,) = struct.unpack(order + "H", head[2:4])
    if version == 42:
        return _Layout(order, big=False), struct.unpack(order + "I", head[4:8])[0]
    if version == 43:
        return _Layout(order, big=True), struct.unpack(order + "Q", head[8:16])[0]
    raise ValueError(f"not a TIFF file (version {version})")


def _read_ifd(handle: BinaryIO, layout: _Layout, at: int) -> _Ifd:
    count_size = struct.calcsize(layout.count_format)
    handle.seek(at)
    (count,) = struct.unpack(layout.count_format, handle.read(count_size))
    raw = handle.read(count * layout.entry_size + struct.calcsize(layout.offset_format))
    entries: dict[int, _Entry] = {}
    count_format = layout.order + ("HHQ" if layout.big else "HHI")
    for k in range(count):
        start = k * layout.entry_size
        tag, kind, n = struct.unpack_from(count_format, raw, start)
        entry_at = at + count_size + start
        field_at = entry_at + struct.calcsize(count_format)
        size = _TYPE_SIZES.get(kind, 1) * n
        if size <= layout.inline_size:
            value_at = field_at
        else:
            (value_at,) = struct.unpack_from(layout.offset_format, raw, field_at - at - count_size)
        entries[tag] = _Entry(tag, kind, n, entry_at, value_at)
    (next_at,) = struct.unpack_from(layout.offset_format, raw, count * layout.entry_size)
    return _Ifd(at, entries, next_at)


def _all_ifds(handle: BinaryIO, layout: _Layout, first: int) -> list[_Ifd]:
    """Every IFD, each main-chain IFD followed by its SubIFDs, in file order of reference."""
    found: list[_Ifd] = []
    seen: set[int] = set()
    at = first
    while at and at not in seen:
        seen.add(at)
        ifd = _read_ifd(handle, layout, at)
        found.append(ifd)
        if SUB_IFDS in ifd.entries:
            for sub in _read_offsets(handle, layout, ifd.entries[SUB_IFDS]):
                if sub and sub not in seen:
                    seen.add(sub)
                    found.append(_read_ifd(handle, layout, sub))
        at = ifd.next_at
    if not found:
        raise ValueError("the TIFF file holds no image")
    return found


def _read_offsets(handle: BinaryIO, layout: _Layout, entry: _Entry) -> list[int]:
    size = _TYPE_SIZES[entry.type]
    code = {4: "I", 8: "Q"}[size]
    handle.seek(entry.value_at)
    return list(
        struct.unpack(f"{layout.order}{entry.count}{code}", handle.read(size * entry.count))
    )


def _read_value(handle: BinaryIO, layout: _Layout, entry: _Entry) -> int:
    code = {_SHORT: "H", _LONG: "I", _LONG8: "Q"}[entry.type]
    handle.seek(entry.value_at)
    return int(struct.unpack(layout.order + code, handle.read(struct.calcsize(code)))[0])


def _set_resolution(
    handle: BinaryIO, layout: _Layout, ifd: _Ifd, pixel_size_um: float | None, level: int
) -> None:
    missing = [t for t in (X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT) if t not in ifd.entries]
    if missing:
        raise ValueError(f"the TIFF IFD at {ifd.at} lacks resolution tags {missing}")
    if pixel_size_um is None:
        resolution, unit = Fraction(1), RESUNIT_NONE
    else:
        resolution, unit = pixels_per_cm(pixel_size_um, level), RESUNIT_CENTIMETER
    for tag in (X_RESOLUTION, Y_RESOLUTION):
        entry = ifd.entries[tag]
        if (entry.type, entry.count) != (_RATIONAL, 1):
            raise ValueError(f"the TIFF IFD at {ifd.at} has tag {tag} of an unexpected type")
        handle.seek(entry.value_at)
        handle.write(struct.pack(layout.order + "II", resolution.numerator, resolution.denominator))
    entry = ifd.entries[RESOLUTION_UNIT]
    if (entry.type, entry.count) != (_SHORT, 1):
        raise ValueError(f"the TIFF IFD at {ifd.at} has a ResolutionUnit of an unexpected type")
    handle.seek(entry.value_at)
    handle.write(struct.pack(layout.order + "H", unit))


def _remove_entry(handle: BinaryIO, layout: _Layout, ifd: _Ifd, tag: int) -> None:
    """Drop one entry from an IFD in place: later entries move up, the count and the
    next-IFD offset follow them, and the freed bytes at the end are zeroed."""
    count_size = struct.calcsize(layout.count_format)
    offset_size = struct.calcsize(layout.offset_format)
    handle.seek(ifd.at)
    (count,) = struct.unpack(layout.count_format, handle.read(count_size))
    body = handle.read(count * layout.entry_size + offset_size)
    index = (ifd.entries[tag].at - ifd.at - count_size) // layout.entry_size
    start, end = index * layout.entry_size, (index + 1) * layout.entry_size
    rest = body[:start] + body[end:]  # entries (still sorted by tag) and the next offset
    handle.seek(ifd.at)
    handle.write(struct.pack(layout.count_format, count - 1) + rest + bytes(layout.entry_size))
