"""ofs-stitch FOLDER --watch: a scan replayed into a folder, ended by idleness or Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from live_support import copy_tiles, largest_difference

from ofs_stitch.cli.stitch import main as command
from ofs_stitch.stitching.live.completeness import CompletenessTracker, ends_like_a_jpeg
from ofs_stitch.stitching.live.stitcher import LiveStitcher
from ofs_stitch.stitching.live.watch import WatchSettings, watch_folder
from ofs_stitch.stitching.options import build_parser, options_from_args
from ofs_stitch.testing.replay import replay_scan


def _options(folder: Path, *extra: str):  # type: ignore[no-untyped-def]
    return options_from_args(build_parser().parse_args([str(folder), "--quiet", *extra]))


def _watch_in_thread(folder: Path, settings: WatchSettings, *extra: str, stop=None):  # type: ignore[no-untyped-def]
    made: list[LiveStitcher] = []
    result: dict[str, int] = {}

    def run() -> None:
        result["status"] = watch_folder(
            folder, _options(folder, *extra), settings, stop=stop, stitcher_hook=made.append
        )

    thread = threading.Thread(target=run)
    thread.start()
    while not made and thread.is_alive():
        time.sleep(0.01)
    return thread, made, result


@pytest.mark.parametrize("poll", [None, 0.05], ids=["notified", "polled"])
def test_a_replayed_scan_ends_as_the_batch_run(
    small_scan, small_scan_batch, tmp_path: Path, poll
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    copy_tiles(small_scan.paths[:1], folder)  # one tile is there before the watch starts
    thread, made, result = _watch_in_thread(
        folder, WatchSettings(idle_s=1.0, poll_s=poll, settle_s=0.1)
    )
    replayed = replay_scan(small_scan.paths[1:], folder, interval_s=0.05)
    thread.join(120)
    assert result["status"] == 0
    (live,) = made
    assert sorted(r.name for r in live.reports) == sorted(p.name for p in small_scan.paths)
    written = {r.name: r.written_at for r in live.reports}
    # Every tile reached positions.json after its file was complete.
    assert all(written[t.name] >= t.complete_at for t in replayed)
    batch, batch_files = small_scan_batch
    final = json.loads((folder / "positions.json").read_text())
    assert "live" not in final  # the batch run's file, not a live one
    positions = {
        t["name"]: (t["position_px"]["row"], t["position_px"]["col"]) for t in final["tiles"]
    }
    assert largest_difference(batch, positions) < 0.01
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".jpeg") == batch_files


def test_an_empty_folder_waits_and_ends_idle_without_outputs(tmp_path: Path) -> None:
    status = watch_folder(tmp_path, _options(tmp_path), WatchSettings(idle_s=0.2))
    assert status == 0
    assert not list(tmp_path.iterdir())


def test_a_folder_that_disappears_ends_the_watch_with_a_warning(
    small_scan, tmp_path: Path, capfd
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    copy_tiles(small_scan.paths[:3], folder)
    output = tmp_path / "out"
    thread, made, result = _watch_in_thread(
        folder, WatchSettings(idle_s=30, settle_s=0.05), "-o", str(output)
    )
    (live,) = made
    while len(live.reports) < 3:
        time.sleep(0.02)
    shutil.rmtree(folder)
    thread.join(60)
    assert result["status"] == 2
    err = capfd.readouterr().err
    assert "disappeared" in err and "Traceback" not in err
    # What was written stays whole: positions.json of the three tiles.
    assert json.loads((output / "positions.json").read_text())["tile_count"] == 3
    assert not list(output.glob(".*"))


def test_a_tile_deleted_mid_scan_is_taken_out(small_scan, tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths[:4], folder)
    stop = threading.Event()
    thread, made, result = _watch_in_thread(
        folder,
        WatchSettings(settle_s=0.05),
        "-o",
        str(tmp_path / "out"),
        "--stitching_mode",
        "preview_stitch",
        stop=stop,
    )
    (live,) = made
    while len(live.reports) < 4:
        time.sleep(0.02)
    gone = tiles[-1]  # the end of the row: the others still overlap each other
    gone.unlink()
    deadline = time.monotonic() + 30
    while gone.name in live.positions and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(live.positions) == sorted(t.name for t in tiles if t != gone)
    assert any(gone.name in w and "deleted" in w for w in live.warnings), live.warnings
    stop.set()
    thread.join(60)
    assert result["status"] == 0
    assert json.loads((tmp_path / "out" / "positions.json").read_text())["tile_count"] == 3


def test_ctrl_c_ends_the_watch_and_writes_the_final_outputs(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    folder.mkdir()
    output = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "ofs_stitch", str(folder), "--watch", "-o", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background has SIGINT ignored, and a child inherits that:
        # give the command the disposition a terminal gives it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        replay_scan(small_scan.paths[:5], folder, interval_s=0.05)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if json.loads((output / "positions.json").read_text())["tile_count"] == 5:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=600)  # generous: CI machines can be loaded
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out and "5 tiles" in out
    assert (output / "scan_stitched.jpg").is_file()
    assert "live" not in json.loads((output / "positions.json").read_text())
    assert not list(output.glob(".*"))


@pytest.mark.parametrize("poll", [None, 30.0], ids=["notified", "polled"])
def test_a_tile_that_lands_as_the_watch_ends_is_in_the_final_mosaic(
    small_scan, tmp_path: Path, capfd, poll
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    copy_tiles(small_scan.paths[:3], folder)
    stop = threading.Event()
    # Polled every 30 s: no event tells about the fourth tile before the watch ends.
    thread, made, result = _watch_in_thread(
        folder, WatchSettings(poll_s=poll, settle_s=0.2), stop=stop
    )
    (live,) = made
    deadline = time.monotonic() + 60
    while len(live.reports) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    # The watch ends as soon as the fourth tile is written (a microscope server that knows
    # its scan is over), and while a fifth is still being written.
    (fourth,) = copy_tiles(small_scan.paths[3:4], folder)
    data = small_scan.paths[4].read_bytes()
    (folder / small_scan.paths[4].name).write_bytes(data[: len(data) // 2])
    stop.set()
    thread.join(120)
    assert result["status"] == 0
    final = json.loads((folder / "positions.json").read_text())
    assert "live" not in final
    assert sorted(t["name"] for t in final["tiles"]) == sorted(p.name for p in small_scan.paths[:4])
    assert live.reports[-1].name == fourth.name
    err = capfd.readouterr().err
    assert f"{small_scan.paths[4].name} was still being written" in err and "Traceback" not in err


def test_a_jpeg_being_written_is_not_read_half_way(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = small_scan.paths[0].read_bytes()
    path = tmp_path / "tile.jpeg"
    tracker = CompletenessTracker(settle_s=0.0, give_up_s=60)
    path.write_bytes(data[: len(data) // 2])
    tracker.changed(path, closed=True)  # even "closed": it has no End Of Image marker yet
    assert not ends_like_a_jpeg(path) and tracker.ready() == []
    path.write_bytes(data)
    tracker.changed(path, closed=True)
    assert ends_like_a_jpeg(path) and tracker.ready() == [path]
    # A PNG (no marker to look for) waits until its size has settled.
    png = tmp_path / "tile.png"
    png.write_bytes(b"\x89PNG" + b"\0" * 100)
    slow = CompletenessTracker(settle_s=0.2)
    slow.changed(png)
    assert slow.ready() == []
    time.sleep(0.25)
    assert slow.ready() == [png]
    # A file deleted before it was complete is forgotten.
    gone = tmp_path / "gone.jpeg"
    gone.write_bytes(data[:100])
    slow.changed(gone)
    gone.unlink()
    assert slow.ready() == [] and len(slow) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--watch_idle", "5"], "--watch_idle and --watch_poll need --watch"),
        (["--watch", "--grid", "2x2"], "--grid"),
        (["--watch", "--stitching_mode", "stage_stitch"], "stitching_mode"),
        (["--watch", "--watch_idle", "-1"], "--watch_idle"),
    ],
)
def test_option_errors_are_one_line(tmp_path: Path, capsys, arguments, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) if "-1" in arguments else _returns(2) as outcome:
        outcome.status = command([str(tmp_path), *arguments])
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert command([str(tmp_path / "nowhere"), "--watch"]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and len(err.strip().splitlines()) == 1


class _returns:
    """A context that checks the status stored in it (the twin of pytest.raises)."""

    def __init__(self, status: int) -> None:
        self.expected = status
        self.status: int | None = None

    def __enter__(self) -> _returns:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.status == self.expected


def test_the_environment_has_inotify_or_the_watch_polls(tmp_path: Path) -> None:
    """The polling fallback needs nothing from the system: it runs anywhere."""
    from ofs_stitch.stitching.live.watch import _Events, start_observer

    events = _Events()
    observer = start_observer(tmp_path, events, 0.05, warn=print)
    try:
        (tmp_path / "a.jpeg").write_bytes(b"x")
        deadline = time.monotonic() + 10
        while not events.wake.wait(0.05) and time.monotonic() < deadline:
            pass
        assert any(path.name == "a.jpeg" for path, _ in events.take())
    finally:
        observer.stop()
    assert os.path.isdir(tmp_path)
