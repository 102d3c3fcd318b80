"""ofs-stitch against openflexure-stitch (and the floor) on the same generated scans.

    python benchmarks/compare_upstream.py [--upstream /path/to/openflexure-stitch] [--quick]
                                          [--runs N]

For each scenario it generates a scan with known true positions (ofs_stitch.testing.scans), runs
both command-line tools in fresh processes, each run without a correlation cache (wall time:
the best of N runs, as the machine may be shared, ofs-stitch's runs taken in turn with the
floor's; peak RSS: the highest), reads the
positions each wrote to OFMTileConfiguration.txt, and prints the errors against the truth and
the ratios. The floor is what any stitcher must spend: decoding each tile once, placing it and
writing the mosaic JPEG with pyvips (benchmarks/stitch_floor.py). openflexure-stitching is an
optional extra (pip install 'ofs-stitch[compare]'); without it only ofs-stitch and the floor
are measured.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ofs_stitch.io.positions_file import read_tile_configuration
from ofs_stitch.testing.scans import SyntheticScan, make_scan

HERE = Path(__file__).resolve().parent

# Run a command and report its peak RSS (kB) on the last stdout line: getrusage of the
# children of this one-off wrapper process is exactly the command's own peak.
_MEASURE = (
    "import resource, subprocess, sys;"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True);"
    "sys.stderr.write(r.stderr[-2000:]);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    ok: bool
    rms_px: float = float("nan")  # over tiles that show sample (all tiles when none is blank)
    max_px: float = float("nan")
    blank_rms_px: float = float("nan")  # over tiles that show no sample at all
    worse_than_stage: int = 0  # tiles more than 0.1 px further from the truth than the stage


def measure(
    command: list[str], runs: int = 1, fresh: Callable[[], None] | None = None
) -> tuple[float, float, bool]:
    """Wall time (the best of ``runs``: the machine is shared), peak RSS (the highest) and
    success of ``command``; ``fresh()`` runs untimed before each run (to drop caches)."""
    return measure_alternating([(command, fresh)], runs)[0]


def measure_alternating(
    commands: list[tuple[list[str], Callable[[], None] | None]], runs: int
) -> list[tuple[float, float, bool]]:
    """`measure` for several commands, their runs taken in turn (a, b, a, b, ...): the load
    of a shared machine drifts over minutes, and a ratio of two tools is only fair when both
    were timed under the same load."""
    results: list[list[tuple[float, float, bool]]] = [[] for _ in commands]
    for _ in range(runs):
        for (command, fresh), taken in zip(commands, results):
            if fresh is not None:
                fresh()
            taken.append(_measure_once(command))
    return [
        (min(r[0] for r in taken), max(r[1] for r in taken), all(r[2] for r in taken))
        for taken in results
    ]


def _measure_once(command: list[str]) -> tuple[float, float, bool]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    rss_kb = float(lines[-1]) if lines else float("nan")
    if done.returncode != 0:
        print(f"    failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return seconds, rss_kb / 1024.0, done.returncode == 0


def score(run: Run, truth: SyntheticScan, positions_file: Path) -> Run:
    if not positions_file.exists():
        return run
    by_name = {
        entry.name: (entry.row, entry.col) for entry in read_tile_configuration(positions_file)
    }
    positions = np.array([by_name[name] for name in truth.file_names])
    textured = ~truth.blank_tiles
    errors = _errors_aligned_on(positions, truth.true_positions, textured)
    stage_errors = _errors_aligned_on(truth.stage_positions_px, truth.true_positions, textured)
    run.rms_px = float(np.sqrt(np.mean(errors[textured] ** 2)))
    run.max_px = float(errors[textured].max())
    if truth.blank_tiles.any():
        run.blank_rms_px = float(np.sqrt(np.mean(errors[truth.blank_tiles] ** 2)))
    run.worse_than_stage = int((errors > stage_errors + 0.1).sum())
    return run


def _errors_aligned_on(positions: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-tile distance from the truth, after the translation that best aligns the tiles in
    ``mask`` (positions are only defined up to a global translation)."""
    offset = (positions[mask] - truth[mask]).mean(axis=0)
    return np.hypot(*(positions - offset - truth).T)


def scenario(
    name: str, work: Path, upstream: str | None, runs: int, **scan_options: object
) -> None:
    folder = work / name
    truth = make_scan(folder, **scan_options)  # type: ignore[arg-type]
    stage = truth.rms_error(truth.stage_positions_px)
    print(
        f"\n{name}: {len(truth.file_names)} tiles {truth.tile_shape[1]}x{truth.tile_shape[0]}, "
        f"{int(truth.blank_tiles.sum())} of them blank, stage error {stage:.1f} px RMS "
        "(RMS and max below: over tiles that show sample; blank RMS: over blank tiles, which "
        "only the stage can place)"
    )

    floor_command = [
        sys.executable,
        str(HERE / "stitch_floor.py"),
        str(folder),
        str(work / f"{name}_floor.jpg"),
    ]
    ours_out = work / f"{name}_ofs"
    ours_command = [sys.executable, "-m", "ofs_stitch", str(folder), "-o", str(ours_out), "-q"]
    # Every run starts without a correlation cache, as the first run on a new scan does.
    (floor_seconds, floor_rss, _), (seconds, rss, ok) = measure_alternating(
        [
            (floor_command, None),
            (ours_command, lambda: shutil.rmtree(ours_out, ignore_errors=True)),
        ],
        runs,
    )
    ours = score(Run(seconds, rss, ok), truth, ours_out / "OFMTileConfiguration.txt")
    rows = [
        ("floor (decode + place + write JPEG)", Run(floor_seconds, floor_rss, True)),
        ("ofs-stitch", ours),
    ]
    if upstream:
        # Upstream writes its cache and plots into the input folder: give it its own copy.
        upstream_in = work / f"{name}_upstream_input"
        # A fresh copy, also when --keep reuses a folder: an old copy would hold old files.
        shutil.rmtree(upstream_in, ignore_errors=True)
        shutil.copytree(folder, upstream_in)
        upstream_out = work / f"{name}_upstream"
        # Upstream keeps its cache in the input folder.
        seconds, rss, ok = measure(
            [upstream, str(upstream_in), "-o", str(upstream_out)],
            runs,
            fresh=lambda: (upstream_in / "openflexure_stitching_cache.json").unlink(
                missing_ok=True
            ),
        )
        rows.append(
            (
                "openflexure-stitch 0.3.1",
                score(Run(seconds, rss, ok), truth, upstream_out / "OFMTileConfiguration.txt"),
            )
        )
    print(
        f"  {'tool':38s} {'wall s':>8s} {'peak MB':>8s} {'RMS px':>8s} {'max px':>8s} {'blank RMS':>9s} {'>stage':>7s}"
    )
    for label, run in rows:
        print(
            f"  {label:38s} {run.seconds:8.2f} {run.peak_rss_mb:8.0f} {run.rms_px:8.3f} {run.max_px:8.3f} "
            f"{run.blank_rms_px:9.2f} {run.worse_than_stage:7d}"
        )
    print(f"  ofs-stitch / floor: {ours.seconds / floor_seconds:.2f}x the floor's wall time")
    if upstream:
        theirs = rows[-1][1]
        print(
            f"  upstream / ofs-stitch: {theirs.seconds / ours.seconds:.1f}x faster, "
            f"{theirs.peak_rss_mb / ours.peak_rss_mb:.1f}x less memory, "
            f"{theirs.rms_px / ours.rms_px:.1f}x smaller RMS error"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--upstream",
        default=shutil.which("openflexure-stitch"),
        help="the openflexure-stitch command (default: found on PATH; '' to leave it out)",
    )
    parser.add_argument("--quick", action="store_true", help="5x5 scans instead of 15x15")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per tool; the best wall time is kept"
    )
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    size = 5 if args.quick else 15
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        common = dict(rows=size, cols=size, tile_shape=(480, 640), overlap=0.3, stage_noise=0.03)
        scenario(f"grid{size}", work, args.upstream, args.runs, seed=11, **common)
        scenario(
            f"grid{size}_blank30",
            work,
            args.upstream,
            args.runs,
            seed=12,
            blank_fraction=0.3,
            **common,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
