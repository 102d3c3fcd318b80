"""Progress bars: on a terminal for each long stage, rendering included; never in a log."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import pyvips

from ofs_stitch.cli.stitch import main
from ofs_stitch.stitching import progress
from ofs_stitch.testing.scans import make_scan


class FakeTerminal(io.StringIO):
    """stderr as a terminal shows it to tqdm: a stream that says it is a tty."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def scan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("progress") / "scan"
    make_scan(folder, rows=2, cols=3, tile_shape=(240, 320), seed=5)
    return folder


@pytest.fixture(autouse=True)
def bars_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real run shows a bar only for a stage that lasts; this small scan's stages do not.
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)


def run(argv: list[str], stderr: io.StringIO) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert main(argv) == 0
    return stdout.getvalue()


def test_a_terminal_gets_a_bar_for_each_long_stage(scan_folder: Path, tmp_path: Path) -> None:
    terminal = FakeTerminal()
    output = tmp_path / "out"
    run([str(scan_folder), "-o", str(output), "--stitch_tiff"], terminal)
    shown = terminal.getvalue()
    assert "reading headers:   0%|          | 0/6 " in shown, shown
    pairs = len(json.loads((output / "positions.json").read_text())["pairs"])
    assert f"correlating:   0%|          | 0/{pairs} " in shown, shown
    # The rendering bar counts the rows of the mosaic (JPEG and TIFF: written in one pass).
    height = pyvips.Image.new_from_file(str(output / "scan_stitched.jpg")).height
    assert re.search(rf"rendering: +\d+%\|.*\| \d+/{height} \[.*row/s\]", shown), shown
    assert shown.endswith("\r")  # each bar is erased when its stage ends


def test_nothing_is_printed_when_stderr_is_not_a_terminal(
    scan_folder: Path, tmp_path: Path
) -> None:
    log = io.StringIO()
    out = run([str(scan_folder), "-o", str(tmp_path / "out")], log)
    assert log.getvalue() == ""
    assert "wrote" in out  # the run itself still talks on stdout


def test_quiet_shows_no_bar_on_a_terminal(scan_folder: Path, tmp_path: Path) -> None:
    terminal = FakeTerminal()
    out = run([str(scan_folder), "-o", str(tmp_path / "out"), "--quiet"], terminal)
    assert terminal.getvalue() == "" and out == ""
