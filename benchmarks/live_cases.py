"""Shared by bench_live.py and compare_live.py: a generated scan replayed into a watched folder
(`ofs-stitch --watch`'s own code, in this process), with every tile's latency and CPU time."""

from __future__ import annotations

import resource
import shutil
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ofs_stitch.stitching.live.stitcher import LiveStitcher, TileReport
from ofs_stitch.stitching.live.watch import WatchSettings, watch_folder
from ofs_stitch.stitching.options import build_parser, options_from_args
from ofs_stitch.testing.replay import ReplayedTile, replay_scan

# replay_watched's lead: how long it waits for the next lead tile's report before it gives up.
LEAD_STALL_S = 60.0


@dataclass(frozen=True)
class LiveRun:
    reports: list[TileReport]
    replayed: list[ReplayedTile]
    latencies: dict[str, float]  # tile name -> s from its file being complete to the outputs
    finished_after_s: float  # from the last tile's file complete to the final outputs written
    # Process CPU not spent in tile updates while tiles came (the replaying writer's included)
    cpu_between_tiles_s: float
    replay_wall_s: float
    status: int
    folder: Path
    peak_rss_mb: float

    def latency_stats(self, first: int, last: int) -> tuple[float, float]:
        """(median, 95th percentile) latency of tiles ``first``..``last`` (1-based, capture
        order) that the live outputs showed."""
        span = self.replayed[first - 1 : last]
        values = [self.latencies[t.name] for t in span if t.name in self.latencies]
        return statistics.median(values), percentile(values, 95)

    def cpu_stats(self, first: int, last: int) -> float:
        by_name = {r.name: r.cpu_s for r in self.reports}
        return statistics.median(by_name[t.name] for t in self.replayed[first - 1 : last])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def replay_watched(
    tiles: list[Path],
    folder: Path,
    interval_s: float,
    *extra: str,
    pieces: int = 3,
    end_at: str = "file",
    lead: int = 0,
) -> LiveRun:
    """Watch ``folder`` (empty) with ``ofs-stitch --watch`` options ``extra`` while ``tiles``
    are written into it one every ``interval_s``, then write the final outputs. The watch
    ends (as a microscope server ends it) as soon as the last tile's file is complete
    (``end_at="file"``: the server knows its scan is over; that tile is then measured and
    placed for the final outputs only), or once positions.json shows the last tile
    (``end_at="update"``). Latencies are those of the tiles the live outputs showed.

    ``lead``: a shortcut to the end of a long scan, for measuring the finish again and again.
    The first ``lead`` tiles are written without pause and the replay waits until the live
    outputs show them all; only the rest come at the scan's pace (so the finish starts in the
    rhythm a scan ends in: after continuous work the same final run is quicker). Only the
    paced tiles are in ``replayed`` and the latencies."""
    if end_at not in ("file", "update"):
        raise ValueError(f"end_at={end_at!r}: 'file' or 'update'")
    if not 0 <= lead < len(tiles):
        raise ValueError(f"lead={lead}: leave at least the last of {len(tiles)} tiles paced")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    options = options_from_args(build_parser().parse_args([str(folder), "--quiet", *extra]))
    stop = threading.Event()
    made: list[LiveStitcher] = []
    outcome: dict[str, float] = {}

    def hook(live: LiveStitcher) -> None:
        def seen(report: TileReport) -> None:
            if report.shown:
                outcome["cpu_at_last_update"] = time.process_time()
            if end_at == "update" and len(live.reports) >= len(tiles):
                stop.set()

        live.on_update = seen
        made.append(live)

    def watch() -> None:
        outcome["status"] = watch_folder(
            folder, options, WatchSettings(settle_s=0.1), stop=stop, stitcher_hook=hook
        )
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=watch)
    thread.start()
    while not made:
        time.sleep(0.01)
    if lead:
        replay_scan(tiles[:lead], folder, interval_s=0.0, pieces=pieces)
        # A tile the stitcher refused gets no report: stop once none has come for a while,
        # rather than wait for ever.
        seen, since = 0, time.monotonic()
        while (count := len(made[0].reports)) < lead and thread.is_alive():
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since > LEAD_STALL_S:
                stop.set()
                thread.join()
                raise RuntimeError(
                    f"{seen} of the {lead} lead tiles were stitched; no other came in "
                    f"{LEAD_STALL_S:g} s (see the warnings above)"
                )
            time.sleep(0.05)
        made[0].wait()
    cpu_start = time.process_time()
    started = time.monotonic()
    replayed = replay_scan(tiles[lead:], folder, interval_s=interval_s, pieces=pieces)
    replay_wall = time.monotonic() - started
    if end_at == "file":
        stop.set()
    thread.join()
    (live,) = made
    paced = {t.name for t in replayed}
    shown = [r for r in live.reports if r.shown and r.name in paced]
    # Up to the last update shown: the final run is not "between tiles". (On a loaded machine
    # the watch can end before any update was shown.)
    cpu_all = outcome.get("cpu_at_last_update", cpu_start) - cpu_start
    written = {r.name: r.written_at for r in shown}
    latencies = {t.name: written[t.name] - t.complete_at for t in replayed if t.name in written}
    return LiveRun(
        reports=list(live.reports),
        replayed=replayed,
        latencies=latencies,
        finished_after_s=outcome["ended"] - replayed[-1].complete_at,
        cpu_between_tiles_s=max(0.0, cpu_all - sum(r.cpu_s for r in shown)),
        replay_wall_s=replay_wall,
        status=int(outcome["status"]),
        folder=folder,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
