"""Staged outputs: replaced in one step when complete, nothing left on failure, failures named."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import pyvips

from ofs_stitch.errors import ImageReadError, OutputError
from ofs_stitch.io.atomic import (
    staged_output,
    staged_outputs,
    write_failures_named,
    write_text_atomic,
)


def test_a_staged_file_appears_under_its_name_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "mosaic.jpg"
    final.write_bytes(b"previous")
    with staged_output(final) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".jpg"
        temporary.write_bytes(b"new")
        assert final.read_bytes() == b"previous"
    assert final.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["mosaic.jpg"]


def test_text_reaches_the_disk_before_taking_its_name_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    sync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), sync(fd))[1])
    (tmp_path / "positions.json").write_text("previous")
    write_text_atomic(tmp_path / "positions.json", "synced")
    assert len(synced) == 1
    write_text_atomic(tmp_path / "report.html", "not synced", sync=False)
    assert len(synced) == 1
    assert (tmp_path / "positions.json").read_text() == "synced"
    assert (tmp_path / "report.html").read_text() == "not synced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["positions.json", "report.html"]


def test_a_failed_staged_file_leaves_the_previous_one_and_names_the_final_path(
    tmp_path: Path,
) -> None:
    final = tmp_path / "mosaic.jpg"
    final.write_bytes(b"previous")
    with pytest.raises(OutputError, match="cannot write .*mosaic.jpg: the disk is full"):
        with staged_output(final) as temporary:
            temporary.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert final.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["mosaic.jpg"]


def test_staged_outputs_replace_previous_files_and_folders_together(tmp_path: Path) -> None:
    tiles, dzi = tmp_path / "scan_files", tmp_path / "scan.dzi"
    (tiles / "9").mkdir(parents=True)
    (tiles / "9" / "0_0.jpeg").write_bytes(b"old tile")
    dzi.write_text("old")
    with staged_outputs([tiles, dzi]) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".")
        (staging / "scan_files" / "0").mkdir(parents=True)
        (staging / "scan_files" / "0" / "0_0.jpeg").write_bytes(b"new tile")
        (staging / "scan.dzi").write_text("new")
        assert dzi.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.dzi", "scan_files"]
    assert dzi.read_text() == "new"
    assert [p.name for p in tiles.iterdir()] == ["0"]


def test_failed_staged_outputs_leave_the_previous_ones_alone(tmp_path: Path) -> None:
    tiles, dzi = tmp_path / "scan_files", tmp_path / "scan.dzi"
    tiles.mkdir()
    dzi.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with staged_outputs([tiles, dzi]) as staging:
            (staging / "scan.dzi").write_text("half")
            raise RuntimeError("interrupted")  # not a write failure: passed on as it is
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.dzi", "scan_files"]
    assert dzi.read_text() == "old"


def test_staged_outputs_in_a_folder_that_cannot_exist_name_the_last_path(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    folder = tmp_path / "a_file" / "out"
    with pytest.raises(OutputError, match=r"cannot write .*out/scan\.dzi: ") as failure:
        with staged_outputs([folder / "scan_files", folder / "scan.dzi"]):
            pass
    assert "\n" not in str(failure.value) and "output folder" in str(failure.value)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied; choose a"),
        (OSError(errno.EROFS, "Read-only file system"), "permission denied; choose a"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full; free some space"),
        (
            pyvips.Error("unable to call VipsForeignSaveJpegFile\n  vips__file_write: bad file"),
            "vips__file_write: bad file; check free space",
        ),
    ],
    ids=["permission", "read-only", "disk-full", "libvips"],
)
def test_write_failures_are_one_line_output_errors_naming_the_file(
    tmp_path: Path, error: Exception, message: str
) -> None:
    with pytest.raises(OutputError) as failure:
        with write_failures_named(tmp_path / "scan.ome.tiff"):
            raise error
    text = str(failure.value)
    assert text.startswith(f"cannot write {tmp_path / 'scan.ome.tiff'}: ")
    assert message in text and "\n" not in text


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    read_error = ImageReadError("cannot decode tile_007.jpg")
    with pytest.raises(ImageReadError) as failure:
        with write_failures_named(tmp_path / "x.jpg"):
            raise read_error
    assert failure.value is read_error
    with pytest.raises(ValueError, match="a bug"):
        with write_failures_named(tmp_path / "x.jpg"):
            raise ValueError("a bug")
