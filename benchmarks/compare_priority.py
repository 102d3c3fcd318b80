"""``--priority time`` against ``--priority memory``: peak memory and time of whole runs.

Usage: python benchmarks/compare_priority.py [--runs N] [--work DIR] [--scan DIR] [--quick]

Generates an 8x8 scan of 8-megapixel tiles (3280x2464, 30 % overlap: a 517-megapixel mosaic)
once, then runs ``ofs-stitch`` on it as a separate process in each priority, with
``--stitching_mode all`` and ``only_correlate``, the two priorities taking turns so that they
share the machine's load. Each run writes into a fresh folder (no cached pairs). Peak memory is
the process's peak resident set (``wait4``'s ru_maxrss: the largest of the command and the plot
helper it starts), which the load does not change; times are the best of N, CPU time is user +
system. The issue's targets: with ``--priority memory``, at most 600 MB and 1.5 times the time
of ``--priority time``. ``--scan`` reuses a scan generated earlier (it takes minutes);
``--quick`` uses a 3x3 scan of the same tiles.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TILE_SHAPE = (2464, 3280)  # (rows, cols): an 8-megapixel camera's full frame
TARGET_PEAK_MB = 600
TARGET_TIME_RATIO = 1.5
PRIORITIES = ("time", "memory")
STITCHING_MODES = ("all", "only_correlate")
SAID_PEAK = re.compile(r"^peak memory (\d+) MB", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float  # ru_maxrss of the process tree, as wait4 reports it
    said_peak_mb: int | None  # what the run's own summary said
    load: float  # 1-minute load average when it started


def ofs_stitch_command() -> list[str]:
    script = Path(sys.executable).parent / "ofs-stitch"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ofs_stitch"]


def run_once(scan: Path, output: Path, priority: str, mode: str) -> Run:
    command = [
        *ofs_stitch_command(),
        str(scan),
        "-o",
        str(output),
        "--stitching_mode",
        mode,
        "--priority",
        priority,
    ]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with open(output.with_suffix(".log"), "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        # wait4, not wait: it reports this child's own resource use, not all children's.
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = output.with_suffix(".log").read_text()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text}")
    said = SAID_PEAK.search(text)
    shutil.rmtree(output, ignore_errors=True)  # a 517-megapixel JPEG per run adds up
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        said_peak_mb=int(said.group(1)) if said else None,
        load=load,
    )


def generate(folder: Path, size: int) -> Path:
    """The scan, written by a separate process: Linux starts a child's peak resident set at its
    parent's (fork copies it, exec keeps it), so this process must stay small for the runs'
    peaks to be theirs alone. For the same reason it imports neither numpy nor ofs_stitch."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ofs_stitch.testing.scans import make_scan; "
            "make_scan(sys.argv[1], rows=int(sys.argv[2]), cols=int(sys.argv[2]), "
            f"tile_shape={TILE_SHAPE}, overlap=0.3, seed=0)",
            str(folder),
            str(size),
        ],
        check=True,
    )
    print(
        f"generated a {size}x{size} scan of {TILE_SHAPE[1]}x{TILE_SHAPE[0]} tiles in "
        f"{time.perf_counter() - started:.0f} s: {folder}",
        flush=True,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (best of N)")
    parser.add_argument("--work", type=Path, default=None, help="folder for scan and outputs")
    parser.add_argument("--scan", type=Path, default=None, help="reuse this generated scan")
    parser.add_argument("--quick", action="store_true", help="a 3x3 scan instead of 8x8")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="compare_priority_"))
    work.mkdir(parents=True, exist_ok=True)
    size = 3 if args.quick else 8
    scan = args.scan or generate(work / f"scan{size}x{size}", size)
    own_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert own_peak_mb < 50, f"this process holds {own_peak_mb:.0f} MB, which its runs inherit"
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start", flush=True)

    results: dict[tuple[str, str], list[Run]] = {}
    for mode in STITCHING_MODES:
        for number in range(args.runs):
            for priority in PRIORITIES:
                output = work / f"out_{mode}_{priority}_{number}"
                run = run_once(scan, output, priority, mode)
                results.setdefault((mode, priority), []).append(run)
                print(
                    f"  {mode:>14} {priority:>6} run {number + 1}: {run.wall_s:6.1f} s wall, "
                    f"{run.cpu_s:6.1f} s CPU, peak {run.peak_mb:5.0f} MB (said "
                    f"{run.said_peak_mb} MB), load {run.load:.1f}",
                    flush=True,
                )

    loads = [run.load for runs in results.values() for run in runs]
    print(
        f"\n{scan.name}: best of {args.runs} (load average {min(loads):.1f}-{max(loads):.1f} "
        f"on {os.cpu_count()} cores while running)"
    )
    print(
        f"{'stitching mode':>14} {'priority':>8} {'best s':>7} {'median s':>8} "
        f"{'CPU s':>6} {'peak MB':>8}"
    )
    missed = []
    for mode in STITCHING_MODES:
        best = {}
        for priority in PRIORITIES:
            runs = results[(mode, priority)]
            best[priority] = min(run.wall_s for run in runs)
            peak = max(run.peak_mb for run in runs)
            print(
                f"{mode:>14} {priority:>8} {best[priority]:7.1f} "
                f"{statistics.median(r.wall_s for r in runs):8.1f} "
                f"{min(r.cpu_s for r in runs):6.1f} {peak:8.0f}"
            )
            if priority == "memory" and peak > TARGET_PEAK_MB:
                missed.append(f"{mode}: peak {peak:.0f} MB > {TARGET_PEAK_MB} MB")
        ratio = best["memory"] / best["time"]
        peaks = [max(r.peak_mb for r in results[(mode, p)]) for p in PRIORITIES]
        print(
            f"{mode:>14} memory/time: {ratio:.2f}x the time, {peaks[1] / peaks[0]:.2f}x the "
            "peak memory"
        )
        if ratio > TARGET_TIME_RATIO:
            missed.append(f"{mode}: {ratio:.2f}x the time > {TARGET_TIME_RATIO}x")
    if size == 8:
        print("targets met" if not missed else "targets missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
