"""EXIF in and out: the OpenFlexure UserComment JSON and the capture time.

Reading goes through the image header that pyvips loads anyway (no pixels are decoded), and
piexif parses the raw EXIF block; piexif also inserts EXIF into finished JPEGs without
re-encoding them. We chose piexif over Pillow because it is a small pure-Python package that
reads and writes raw EXIF blocks directly, which is all we need, and it leaves pixels alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import piexif

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


def insert_exif_into_jpeg(jpeg_path: Path | str, block: bytes) -> None:
    """Insert (or replace) the EXIF block of a JPEG file in place, without re-encoding pixels."""
    piexif.insert(block, str(jpeg_path))
