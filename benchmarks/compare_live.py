"""Live stitching against its targets, and against a batch run of the same scan.

Usage: python benchmarks/compare_live.py [--work DIR] [--only NAME ...] [--stitch_dzi]

Scenarios (scans generated once into --work, reused on later calls):

- ``15x15``: 640x480 tiles written into the watched folder one every 0.3 s. Latency from each
  file being complete to positions.json and preview.jpg showing it: median and 95th percentile
  over all tiles, tiles 20-40 and tiles 200-225.
- ``40x40``: a simulated large scan: 1,600 tiles of 160x120 (a 640x480 scene would need a
  3 GB canvas to generate), one every 0.3 s, to show what grows with the tile count (the
  solve, positions.json); tiles 20-40 against 1,580-1,600.
- ``8mp``: 6x6 tiles of 3280x2464 (8 MP), one every 2 s: latency, CPU time per tile, and
  peak memory against ``ofs-stitch`` on the same folder afterwards.

Each live run is a separate process (its peak memory is its own), the batch run too (the
command, which prints its peak memory). CPU times are process CPU (all threads); wall-clock
latencies include the load of this machine. The final outputs are compared with the batch
run's: positions to 0.01 px, same files; "ready after the last tile" is compared with the batch
run's render time + 0.5 s. The watch ends as a microscope server that knows its scan is over
ends it: as soon as the last tile's file is complete (that tile is then measured and placed
for the final outputs, not shown on the live ones first); ``--end_at update`` ends it once
positions.json shows the last tile instead.

One finish and one batch render are one sample each of this machine's load, and each varies
from run to run by as much as the 0.5 s. ``--finish_runs N`` measures the finish N more times,
each in a new live process followed by a new batch process: the live run reaches the scan's
end by a shortcut (every tile but the last few written at once and stitched, then the last
few at the scan's pace, `replay_watched`'s ``lead``), and the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = {
    # name: (rows, cols, tile (rows, cols), seconds between tiles, latency ranges to report)
    "15x15": (15, 15, (480, 640), 0.3, [(1, 225), (20, 40), (200, 225)]),
    "40x40": (40, 40, (120, 160), 0.3, [(1, 1600), (20, 40), (1580, 1600)]),
    "8mp": (6, 6, (2464, 3280), 2.0, [(1, 36)]),
}


def generate(work: Path, name: str) -> Path:
    from ofs_stitch.testing.scans import make_scan

    rows, cols, shape, _, _ = SCENARIOS[name]
    folder = work / f"scan_{name}"
    if not (folder / "ground_truth.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        make_scan(folder, rows=rows, cols=cols, tile_shape=shape, seed=11)
        print(f"generated {name} in {time.monotonic() - started:.0f} s", flush=True)
    return folder


# With --finish_runs, the scan's last tiles come at its pace for this long before the finish.
PACED_END_S = 6.0


def paced_tail(name: str) -> int:
    """How many of the scan's last tiles a finish run replays at the scan's pace."""
    interval = SCENARIOS[name][3]
    return max(5, math.ceil(PACED_END_S / interval))


def live_run(
    work: Path, name: str, extra: tuple[str, ...] = (), end_at: str = "file", lead: int = 0
) -> dict:
    """In this process (run as a child): replay the scan into a watched folder, with the
    command's options ``extra``; the watch ends at ``end_at`` (`replay_watched`). ``lead``:
    only the finish is measured, after a shortcut through the first ``lead`` tiles."""
    sys.path.insert(0, str(HERE))
    from live_cases import replay_watched

    from ofs_stitch.testing.scans import SyntheticScan

    scan = SyntheticScan.load_ground_truth(work / f"scan_{name}" / "ground_truth.json")
    _, _, _, interval, ranges = SCENARIOS[name]
    run = replay_watched(
        scan.paths, work / "live" / "scan", interval, *extra, end_at=end_at, lead=lead
    )
    if lead:
        return {"status": run.status, "finished_after_s": run.finished_after_s}
    figures = {
        "status": run.status,
        "peak_rss_mb": run.peak_rss_mb,
        "finished_after_s": run.finished_after_s,
        "cpu_between_tiles_s": run.cpu_between_tiles_s,
        "replay_wall_s": run.replay_wall_s,
        "ranges": {
            f"{a}-{b}": {
                "median_s": run.latency_stats(a, b)[0],
                "p95_s": run.latency_stats(a, b)[1],
                "cpu_median_s": run.cpu_stats(a, b),
            }
            for a, b in ranges
        },
    }
    return figures


def batch_run(work: Path, name: str, extra: tuple[str, ...] = ()) -> dict:
    """``ofs-stitch`` on a fresh copy of the scan (no cache), as a separate process."""
    scan_folder = work / f"scan_{name}"
    copy = work / "batch" / "scan"
    shutil.rmtree(copy.parent, ignore_errors=True)
    copy.mkdir(parents=True)
    for path in scan_folder.iterdir():
        if path.suffix == ".jpeg":
            shutil.copy(path, copy / path.name)
    done = subprocess.run(
        [sys.executable, __file__, "--batch", str(copy), *extra], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch_child(folder: Path, extra: tuple[str, ...] = ()) -> dict:
    """In this process (run as a child): the command's pipeline, its stage times, peak memory."""
    from ofs_stitch.io.memory import peak_resident_bytes
    from ofs_stitch.stitching.options import build_parser, options_from_args
    from ofs_stitch.stitching.pipeline import stitch

    options = options_from_args(build_parser().parse_args([str(folder), "--quiet", *extra]))
    result = stitch(folder, options)
    peak = peak_resident_bytes()
    return {"timings": result.timings, "peak_mb": None if peak is None else peak / 2**20}


def compare_outputs(work: Path) -> dict:
    import numpy as np

    live = json.loads((work / "live" / "scan" / "positions.json").read_text())
    batch = json.loads((work / "batch" / "scan" / "positions.json").read_text())
    by_name = {t["name"]: t["position_px"] for t in live["tiles"]}
    difference = max(
        float(
            np.hypot(
                by_name[t["name"]]["row"] - t["position_px"]["row"],
                by_name[t["name"]]["col"] - t["position_px"]["col"],
            )
        )
        for t in batch["tiles"]
    )
    files = {
        where: sorted(p.name for p in (work / where / "scan").iterdir() if p.suffix != ".jpeg")
        for where in ("live", "batch")
    }
    return {
        "max_position_difference_px": difference,
        "same_files": files["live"] == files["batch"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ofs_live")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--stitch_dzi",
        action="store_true",
        help="live and batch runs with --stitch_dzi (the live Deep Zoom image updated per tile)",
    )
    parser.add_argument(
        "--end_at",
        choices=("file", "update"),
        default="file",
        help="end the watch as soon as the last tile's file is complete (default), or once "
        "positions.json shows it",
    )
    parser.add_argument(
        "--finish_runs",
        type=int,
        default=0,
        help="then measure the finish this many more times, each against a new batch run "
        "(see above), and compare the medians",
    )
    parser.add_argument(
        "--finish_only",
        action="store_true",
        help="with --finish_runs: skip the replay of the whole scan at its pace",
    )
    parser.add_argument("--lead", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    extra = ("--stitch_dzi",) if args.stitch_dzi else ()
    if args.batch:
        print(json.dumps(batch_child(args.batch, extra)))
        return
    if args.child:
        print(json.dumps(live_run(args.work, args.child, extra, args.end_at, args.lead)))
        return
    if args.finish_only and args.finish_runs < 1:
        parser.error("--finish_only needs --finish_runs N (N >= 1)")
    for name in args.only or list(SCENARIOS):
        generate(args.work, name)
        print(f"== {name}", flush=True)
        if not args.finish_only:
            paced_run(args, name, extra)
        if args.finish_runs:
            finish_runs(args, name, extra, args.finish_runs)


def live_child(args: argparse.Namespace, name: str, extra: tuple[str, ...], lead: int = 0) -> dict:
    """`live_run` in a new process (its peak memory is its own); raises when it failed."""
    child = subprocess.run(
        [sys.executable, __file__, "--work", str(args.work), "--child", name]
        + ["--end_at", args.end_at, "--lead", str(lead), *extra],
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the live run of {name} failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def paced_run(args: argparse.Namespace, name: str, extra: tuple[str, ...]) -> None:
    """The whole scan at its pace, then a batch run: every figure of the scenario."""
    live = live_child(args, name, extra)
    batch = batch_run(args.work, name, extra)
    outputs = compare_outputs(args.work)
    for span, figures in live["ranges"].items():
        print(
            f"  tiles {span}: latency median {1000 * figures['median_s']:.0f} ms, "
            f"p95 {1000 * figures['p95_s']:.0f} ms (wall); CPU per tile median "
            f"{1000 * figures['cpu_median_s']:.0f} ms"
        )
    render = batch["timings"].get("render")
    print(
        f"  final outputs {live['finished_after_s']:.2f} s after the last tile "
        f"(watch ended at its {'file' if args.end_at == 'file' else 'update'})"
        + (f" (batch render {render:.2f} s + 0.5 s = {render + 0.5:.2f} s)" if render else "")
    )
    print(
        f"  CPU between tiles {live['cpu_between_tiles_s']:.2f} s over "
        f"{live['replay_wall_s']:.0f} s of scan (outside tile updates and the final run)"
    )
    print(
        f"  peak memory: live {live['peak_rss_mb']:.0f} MB, batch {batch['peak_mb']:.0f} MB; "
        f"final positions = batch to {outputs['max_position_difference_px']:.1e} px, "
        f"same files: {outputs['same_files']}",
        flush=True,
    )


def finish_runs(args: argparse.Namespace, name: str, extra: tuple[str, ...], runs: int) -> None:
    """``runs`` finishes, each followed by a batch run; the medians against the target."""
    total = SCENARIOS[name][0] * SCENARIOS[name][1]
    paced = paced_tail(name)
    finishes, renders = [], []
    for run in range(1, runs + 1):
        live = live_child(args, name, extra, lead=total - paced)
        batch = batch_run(args.work, name, extra)
        outputs = compare_outputs(args.work)
        finished, render = live["finished_after_s"], batch["timings"]["render"]
        finishes.append(finished)
        renders.append(render)
        print(
            f"  finish run {run}: {finished:.2f} s after the last tile (batch render "
            f"{render:.2f} s + 0.5 s = {render + 0.5:.2f} s: "
            f"{'met' if finished <= render + 0.5 else 'missed'}); final positions = batch to "
            f"{outputs['max_position_difference_px']:.1e} px, same files: "
            f"{outputs['same_files']}",
            flush=True,
        )
    finish, render = statistics.median(finishes), statistics.median(renders)
    print(
        f"  finish over {runs} runs (the last {paced} tiles paced): median {finish:.2f} s "
        f"(range {min(finishes):.2f}-{max(finishes):.2f}); batch render median {render:.2f} s "
        f"(range {min(renders):.2f}-{max(renders):.2f}); target {render + 0.5:.2f} s: "
        f"{'met' if finish <= render + 0.5 else 'missed'}"
    )


if __name__ == "__main__":
    main()
