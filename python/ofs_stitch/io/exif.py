"""EXIF in and out: the OpenFlexure UserComment JSON and the capture time.

Reading goes through the image header that pyvips loads anyway (no pixels are decoded), and
piexif parses the raw EXIF block; piexif also inserts EXIF into finished JPEGs without
re-encoding them. We chose piexif over Pillow because it is a small pure-Python package that
reads and writes raw EXIF blocks directly, which is all we need, and it leaves pixels alone.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import piexif

from .atomic import atomic_output

# EXIF writers may prefix UserComment with an 8-byte character-code header (libexif writes
# "ASCII\0\0\0"); OpenFlexure writes bare JSON. Accept all of these.
_CHARSET_PREFIXES = (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"JIS\x00\x00\x00\x00\x00", b"\x00" * 8)


@dataclass(frozen=True)
class ExifInfo:
    """The EXIF fields ofs-stitch uses."""

    user_comment: str | None = None
    date_time: str | None = None  # "%Y:%m:%d %H:%M:%S" as EXIF stores it

    def user_comment_json(self) -> dict[str, Any] | None:
        """The UserComment parsed as a JSON object, or None when it is absent or not JSON."""
        if not self.user_comment:
            return None
        try:
            value = json.loads(self.user_comment)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


def decode_user_comment(raw: bytes) -> str:
    for prefix in _CHARSET_PREFIXES:
        if raw.startswith(prefix):
            encoding = "utf-16" if prefix.startswith(b"UNICODE") else "utf-8"
            return raw[len(prefix) :].decode(encoding, errors="replace").rstrip("\x00")
    return raw.decode("utf-8", errors="replace").rstrip("\x00")


def parse_exif_block(block: bytes) -> ExifInfo:
    """Parse a raw EXIF block (as found in a JPEG APP1 segment or libvips' ``exif-data``)."""
    try:
        exif = piexif.load(block)
    except Exception:  # piexif raises bare ValueError/struct.error/KeyError on junk
        return ExifInfo()
    comment = exif.get("Exif", {}).get(piexif.ExifIFD.UserComment)
    date_time = exif.get("0th", {}).get(piexif.ImageIFD.DateTime)
    if date_time is None:
        date_time = exif.get("Exif", {}).get(piexif.ExifIFD.DateTimeOriginal)
    return ExifInfo(
        user_comment=decode_user_comment(comment) if isinstance(comment, bytes) else None,
        date_time=date_time.decode("ascii", errors="replace").strip("\x00 ")
        if isinstance(date_time, bytes)
        else None,
    )


def exif_block(user_comment: dict[str, Any] | str | None, date_time: str | None = None) -> bytes:
    """Build a raw EXIF block holding ``user_comment`` as bare UTF-8 JSON, as OpenFlexure does."""
    zeroth: dict[int, Any] = {}
    exif_ifd: dict[int, Any] = {}
    if user_comment is not None:
        text = user_comment if isinstance(user_comment, str) else json.dumps(user_comment)
        exif_ifd[piexif.ExifIFD.UserComment] = text.encode("utf-8")
    if date_time is not None:
        zeroth[piexif.ImageIFD.DateTime] = date_time.encode("ascii")
        exif_ifd[piexif.ExifIFD.DateTimeOriginal] = date_time.encode("ascii")
    return piexif.dump({"0th": zeroth, "Exif": exif_ifd, "GPS": {}, "1st": {}, "thumbnail": None})


# piexif only needs a JPEG's header segments, which libvips writes within the first few
# kilobytes. Handing it just this head, and letting the kernel copy the compressed image data
# that follows, keeps the mosaic out of Python: piexif given the whole file reads it, slices it
# and joins it again (30 ms for a 13 MB mosaic, and three times the file in memory, gigabytes
# for the largest mosaics).
_HEAD_BYTES = 1 << 16


def insert_exif_into_jpeg(jpeg_path: Path | str, block: bytes) -> None:
    """Insert (or replace) the EXIF block of a JPEG file, without re-encoding pixels.

    The result is what ``piexif.insert`` makes of the whole file; it replaces the file in one
    step (a new file beside it, then a rename), so an interruption leaves the original.
    """
    path = Path(jpeg_path)
    with open(path, "rb") as original:
        head = original.read(_HEAD_BYTES)
        if not head.startswith(b"\xff\xd8"):
            raise piexif.InvalidImageDataError(f"{path} is not a JPEG file")
        new_head = io.BytesIO()
        try:
            piexif.insert(block, head, new_head)
        except (piexif.InvalidImageDataError, struct.error):
            # The image data starts beyond the head (huge metadata segments): use it all.
            head = head + original.read()
            new_head = io.BytesIO()
            piexif.insert(block, head, new_head)
        with atomic_output(path) as temporary, open(temporary, "wb") as result:
            result.write(new_head.getbuffer())
            _copy_from(original, len(head), result)


def _copy_from(source: IO[bytes], offset: int, target: IO[bytes]) -> None:
    """Append ``source`` from ``offset`` to its end to ``target``, in the kernel where possible."""
    target.flush()
    end = os.fstat(source.fileno()).st_size
    try:
        while offset < end:
            # Writes at the target's file position and moves it on.
            copied = os.copy_file_range(source.fileno(), target.fileno(), end - offset, offset)
            if copied == 0:
                break
            offset += copied
    except (AttributeError, OSError):
        # Not Linux, or a file system without copy_file_range: copy through a buffer.
        target.seek(0, os.SEEK_END)
        source.seek(offset)
        shutil.copyfileobj(source, target, 1 << 20)
