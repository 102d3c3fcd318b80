"""Live stitching benchmark: a generated scan written into a watched folder tile by tile.

Short mode (default, run by the test suite): a 4x4 scan of 320x240 tiles, one every 0.05 s.
The watch ends as soon as the last file is complete. It asserts that every tile was placed,
that every tile shown reached positions.json after its file was complete (the tiles still
queued when the watch ends, as many as the machine's load left behind, are placed for the
final outputs only), that the final positions equal those of ``ofs-stitch`` run afterwards on
a fresh copy of the folder to 0.01 px, and that the final files are the same; it prints
latencies (wall: they include the machine's load) and CPU time per tile. Full mode
(OFS_BENCH_FULL=1): the 15x15 scan of 640x480 tiles one every 0.3 s from the targets.
benchmarks/compare_live.py runs every target scenario (15x15, a 40x40 scan, 6x6 of 8 MP
tiles) and compares memory with a batch run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import ofs_stitch

pytest.importorskip("skimage")
from live_cases import replay_watched  # noqa: E402

from ofs_stitch.testing.scans import make_scan  # noqa: E402

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
SIZE, SHAPE, INTERVAL = (15, (480, 640), 0.3) if FULL else (4, (240, 320), 0.05)


def test_live_latency_and_final_equality(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scan = make_scan(tmp_path / "generated", rows=SIZE, cols=SIZE, tile_shape=SHAPE, seed=5)
    folder = tmp_path / "scan"
    run = benchmark.pedantic(
        lambda: replay_watched(scan.paths, folder, INTERVAL), rounds=1, iterations=1
    )
    assert run.status == 0
    # The watch ends as the last file is complete: the tiles still queued then (the last one,
    # and more on a loaded machine where the worker fell behind) are placed for the final
    # outputs only. So the shown tiles are the first ones placed, and each has a latency.
    assert sorted(r.name for r in run.reports) == sorted(p.name for p in scan.paths)
    shown = [r.shown for r in run.reports]
    assert shown == sorted(shown, reverse=True)
    assert sorted(run.latencies) == sorted(r.name for r in run.reports if r.shown)
    assert all(latency > 0 for latency in run.latencies.values())
    assert json.loads((folder / "positions.json").read_text())["tile_count"] == len(scan.paths)

    copy = tmp_path / "batch" / "scan"
    copy.mkdir(parents=True)
    for path in scan.paths:
        shutil.copy(path, copy / path.name)
    batch = ofs_stitch.stitch(copy, output_dir=str(tmp_path / "batch_out"))
    live = ofs_stitch.stitch(folder, output_dir=str(tmp_path / "again"))  # from the cache
    assert batch.positions is not None and live.positions is not None
    by_name = dict(zip(live.names, live.positions, strict=True))
    difference = max(
        float(np.abs(by_name[n] - p).max())
        for n, p in zip(batch.names, batch.positions, strict=True)
    )
    assert difference < 0.01
    final = sorted(p.name for p in folder.iterdir() if p.suffix != ".jpeg")
    assert final == sorted(p.name for p in (tmp_path / "batch_out").iterdir())

    if run.latencies:
        median, p95 = run.latency_stats(1, len(scan.paths))
        latency = f"latency median {1000 * median:.0f} ms, p95 {1000 * p95:.0f} ms"
    else:
        latency = "no tile shown before the watch ended"
    print(
        f"\n{SIZE}x{SIZE} live scan, one {SHAPE[1]}x{SHAPE[0]} tile every {INTERVAL} s: "
        f"{latency} (wall, on a loaded machine); {len(run.latencies)} of {len(scan.paths)} "
        "tiles shown before the final outputs; "
        f"CPU per tile median {1000 * run.cpu_stats(1, len(scan.paths)):.0f} ms; final outputs "
        f"{run.finished_after_s:.2f} s after the last tile; final positions = batch to "
        f"{difference:.1e} px"
    )


def test_finish_after_a_lead(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The shortcut compare_live.py --finish_runs takes to a scan's end: the first tiles at
    once, stitched and shown before the rest come at the scan's pace, then the finish."""
    scan = make_scan(tmp_path / "generated", rows=4, cols=4, tile_shape=(240, 320), seed=6)
    folder = tmp_path / "scan"
    lead = 11
    run = benchmark.pedantic(
        lambda: replay_watched(scan.paths, folder, 0.05, lead=lead), rounds=1, iterations=1
    )
    assert run.status == 0
    assert [t.name for t in run.replayed] == [p.name for p in scan.paths[lead:]]
    # Every lead tile was on the live outputs before the first paced tile was written.
    first_paced = run.replayed[0].complete_at
    by_name = {r.name: r for r in run.reports}
    assert all(
        by_name[p.name].shown and by_name[p.name].written_at < first_paced
        for p in scan.paths[:lead]
    )
    assert sorted(run.latencies) == sorted(
        r.name for r in run.reports if r.shown and r.written_at > first_paced
    )
    assert json.loads((folder / "positions.json").read_text())["tile_count"] == len(scan.paths)
    assert 0 < run.finished_after_s < 60
    print(f"\nfinish after a lead of {lead} tiles: {run.finished_after_s:.2f} s")


def test_a_lead_tile_that_never_comes_ends_the_replay_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lead tile the stitcher refuses gets no report: the shortcut gives up rather than wait
    for ever."""
    import live_cases

    scan = make_scan(tmp_path / "generated", rows=2, cols=3, tile_shape=(240, 320), seed=7)
    broken = tmp_path / "broken" / scan.paths[2].name
    broken.parent.mkdir()
    broken.write_bytes(b"not a JPEG at all" * 100)
    tiles = [*scan.paths[:2], broken, *scan.paths[3:]]
    monkeypatch.setattr(live_cases, "LEAD_STALL_S", 2.0)
    with pytest.raises(RuntimeError, match="3 of the 4 lead tiles were stitched"):
        replay_watched(tiles, tmp_path / "scan", 0.05, lead=4)
