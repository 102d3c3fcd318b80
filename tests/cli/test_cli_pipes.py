"""ofs-stitch piped into a reader that stops early (``| head``) still finishes cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")
from ofs_stitch.testing.scans import make_scan  # noqa: E402


def test_closed_stdout_neither_stops_the_work_nor_prints_a_traceback(tmp_path: Path) -> None:
    scan = make_scan(tmp_path / "scan", rows=1, cols=2, tile_shape=(240, 320), seed=3)
    output = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "ofs_stitch", str(scan.folder), "-o", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stderr is not None
    first_line = process.stdout.readline()
    process.stdout.close()  # as `head -1` does
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert first_line.startswith(b"2 tiles from")
    assert "Traceback" not in errors
    assert (output / "scan_stitched.jpg").is_file()
    assert (output / "positions.json").is_file()
