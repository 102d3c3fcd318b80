"""Helpers for the end-to-end tests of ``ofs-stitch FOLDER`` (test_cli, test_stitch_accuracy,
test_shared_data): running the CLI in-process and as a real process, reading its outputs back,
and fingerprinting folders so a test can prove what a run did and did not touch."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

OFM_NAME = "OFMTileConfiguration.txt"
POSITIONS_JSON = "positions.json"
CACHE_NAME = "openflexure_stitching_cache.json"
# Upstream's header lines, then one "name; ; (x, y) " line per tile (trailing space included).
OFM_HEADER = [
    "# Define the number of dimensions used",
    "dim = 2",
    "",
    "# Define the image coordinates",
]
OFM_TILE_LINE = re.compile(r"^(?P<name>.+?); ; \((?P<x>[^,()]+), (?P<y>[^,()]+)\) $")
# Seconds a real process may take before we call it hung (e.g. waiting for stdin).
PROCESS_TIMEOUT_S = 120


@dataclass(frozen=True)
class CliRun:
    """What one run of the command line did."""

    status: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli(argv: Sequence[str]) -> CliRun:
    """``ofs_stitch.cli.stitch.main(argv)`` in this process, its output captured.

    argparse errors leave ``main`` through SystemExit; its code is the exit status.
    """
    from ofs_stitch.cli.stitch import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
    return CliRun(int(status), out.getvalue(), err.getvalue())


def entry_point_command() -> list[str] | None:
    """The installed ``ofs-stitch`` script of this interpreter's environment, if there is one."""
    script = Path(sys.executable).parent / "ofs-stitch"
    return [str(script)] if script.is_file() and os.access(script, os.X_OK) else None


def run_process(command: Sequence[str], *, keep_stdin_open: bool = False) -> CliRun:
    """Run ``command`` as a real process with a timeout.

    ``keep_stdin_open``: stdin is a pipe that is never written to nor closed, so a program that
    waits for the keyboard hangs until the timeout instead of reading end-of-file.
    """
    process = subprocess.Popen(
        [str(c) for c in command],
        stdin=subprocess.PIPE if keep_stdin_open else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: dict[str, str] = {}

    def drain(name: str, stream: io.TextIOBase) -> None:
        output[name] = stream.read()

    readers = [
        threading.Thread(target=drain, args=("out", process.stdout)),
        threading.Thread(target=drain, args=("err", process.stderr)),
    ]
    for reader in readers:
        reader.start()
    try:
        status = process.wait(timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(
            f"{' '.join(map(str, command))} did not finish in {PROCESS_TIMEOUT_S} s "
            "(waiting for stdin?)"
        ) from None
    finally:
        for reader in readers:
            reader.join()
        if process.stdin is not None:
            process.stdin.close()
    return CliRun(status, output.get("out", ""), output.get("err", ""))


def read_ofm_positions(folder: Path) -> dict[str, tuple[float, float]]:
    """{file name: (row, col)} from ``OFMTileConfiguration.txt`` (x = col, y = row).

    The file names each tile by its path from the file's folder (``../scan/tile.jpg`` with
    ``-o``); the key is the file name alone."""
    lines = (folder / OFM_NAME).read_text(encoding="utf-8").splitlines()
    positions = {}
    for line in lines[len(OFM_HEADER) :]:
        match = OFM_TILE_LINE.match(line)
        assert match is not None, f"malformed tile line {line!r}"
        positions[PurePosixPath(match["name"]).name] = (float(match["y"]), float(match["x"]))
    return positions


def positions_in_order(folder: Path, names: Sequence[str]) -> np.ndarray:
    """(n, 2) (row, col) from the OFM file, in the order of ``names`` (matched by file name)."""
    found = read_ofm_positions(folder)
    assert sorted(found) == sorted(names), "OFMTileConfiguration.txt lists other files"
    return np.array([found[name] for name in names], dtype=float)


def file_digests(folder: Path) -> dict[str, str]:
    """{name: sha256} of every file at the top of ``folder`` (hidden files included)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def listing(folder: Path) -> set[str]:
    """Every entry at the top of ``folder``, hidden ones included; empty when it is absent."""
    return set(os.listdir(folder)) if folder.is_dir() else set()
