"""EXIF written into finished JPEGs: the same bytes piexif makes of the whole file."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import piexif
import pytest
import pyvips

from ofs_stitch.io import exif
from ofs_stitch.io.exif import exif_block, insert_exif_into_jpeg, parse_exif_block

COMMENT = {"image": {"name": "tile"}, "instrument": {"settings": {"note": "x" * 300}}}


def _noise_jpeg(path: Path, height: int, width: int) -> bytes:
    """A JPEG of random pixels (incompressible, so its size follows its area)."""
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pyvips.Image.new_from_array(pixels, interpretation="srgb").jpegsave(str(path), Q=90)
    return path.read_bytes()


def _piexif_whole_file(block: bytes, jpeg: bytes) -> bytes:
    result = io.BytesIO()
    piexif.insert(block, jpeg, result)
    return result.getvalue()


def _comment_segment(length: int) -> bytes:
    return b"\xff\xfe" + struct.pack(">H", length + 2) + b"c" * length


@pytest.mark.parametrize("shape", [(24, 32), (600, 800)], ids=["small", "larger-than-head"])
def test_insert_matches_piexif_on_the_whole_file(tmp_path: Path, shape: tuple[int, int]) -> None:
    path = tmp_path / "mosaic.jpg"
    original = _noise_jpeg(path, *shape)
    block = exif_block(COMMENT, "2024:05:17 11:00:00")
    insert_exif_into_jpeg(path, block)
    assert path.read_bytes() == _piexif_whole_file(block, original)
    image = pyvips.Image.new_from_file(str(path))
    assert parse_exif_block(image.get("exif-data")).user_comment_json() == COMMENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosaic.jpg"]  # no temporary left


def test_existing_exif_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "mosaic.jpg"
    _noise_jpeg(path, 300, 400)
    insert_exif_into_jpeg(path, exif_block({"first": 1}))
    with_first = path.read_bytes()
    second = exif_block({"second": 2})
    insert_exif_into_jpeg(path, second)
    assert path.read_bytes() == _piexif_whole_file(second, with_first)
    image = pyvips.Image.new_from_file(str(path))
    assert parse_exif_block(image.get("exif-data")).user_comment_json() == {"second": 2}


def test_header_segments_beyond_the_head_use_the_whole_file(tmp_path: Path) -> None:
    # Two large comment segments push the image data past the first 64 KiB.
    plain = _noise_jpeg(tmp_path / "plain.jpg", 200, 300)
    padded = plain[:2] + _comment_segment(40_000) + _comment_segment(40_000) + plain[2:]
    assert padded.index(b"\xff\xda") > exif._HEAD_BYTES
    path = tmp_path / "padded.jpg"
    path.write_bytes(padded)
    block = exif_block(COMMENT)
    insert_exif_into_jpeg(path, block)
    assert path.read_bytes() == _piexif_whole_file(block, padded)


def test_without_copy_file_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mosaic.jpg"
    original = _noise_jpeg(path, 600, 800)

    def unsupported(*_args: object) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    block = exif_block(COMMENT)
    insert_exif_into_jpeg(path, block)
    assert path.read_bytes() == _piexif_whole_file(block, original)


def test_a_full_disk_leaves_the_original_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mosaic.jpg"
    original = _noise_jpeg(path, 600, 800)

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", disk_full)
    monkeypatch.setattr(exif.shutil, "copyfileobj", disk_full)
    with pytest.raises(OSError, match="No space left"):
        insert_exif_into_jpeg(path, exif_block(COMMENT))
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosaic.jpg"]


def test_not_a_jpeg_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "image.jpg"
    pyvips.Image.black(8, 8).cast("uchar").pngsave(str(path))
    before = path.read_bytes()
    with pytest.raises(piexif.InvalidImageDataError, match="not a JPEG"):
        insert_exif_into_jpeg(path, exif_block(COMMENT))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.jpg"]
