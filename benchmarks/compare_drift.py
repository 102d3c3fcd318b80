"""Print ``ofs drift`` side by side with OpenCV's ECC loop + warpAffine and pystackreg, as
whole programs on generated series with known drift, with the ratios; and the peak memory of a
long series.

    python benchmarks/compare_drift.py [--quick] [--repeat N] [--peers ecc,stackreg]
                                       [--in_process] [--memory FRAMES]

Cases (drift_cases.py): 50 frames of 512^2 (--quick: 12 of 256^2), retina and hubble, 1000 and
50 photons. Error: the mean (and largest) endpoint error against the truth over every frame,
and the largest over the frames the program did not flag. Time: CPU seconds of the whole
program (by default each run is a fresh interpreter: start, imports, reading, registering,
writing; all threads) and wall seconds, medians of ``--repeat`` rounds in which the programs
take turns, with the ratios peer / ours (above 1: ours is faster). Targets (issue 14): mean <= 0.02 px (translation), <= 0.03 px (rigid) at 1000 photons,
<= 0.12 px at 50 photons; no frame above 0.25 px; no unflagged frame above 1 px.

``--memory FRAMES`` runs ``ofs drift`` in a fresh process on a FRAMES-frame 512^2 series (a
multi-page TIFF whose frames cycle through a generated 50-frame series) and prints its peak
resident memory (target: 2000 frames under 300 MB).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from drift_cases import PROGRAMS, drift_cases, peer_available, timed, timed_process

TARGETS = {("translation", 1000): 0.02, ("rigid", 1000): 0.03, ("rigid", 50): 0.12}


def compare(quick: bool, repeat: int, peers: list[str], in_process: bool) -> None:
    names = ["ours", *(name for name in peers if peer_available(name))]
    print(
        f"{'case':<28} {'program':<9} {'mean px':>8} {'max px':>7} {'unflagged max':>13} "
        f"{'CPU s':>7} {'wall s':>7} {'CPU ratio':>9} {'wall ratio':>10} {'target':>7}"
    )
    for case in drift_cases(full=not quick):
        series = case.series()
        cpu: dict[str, list[float]] = {name: [] for name in names}
        wall: dict[str, list[float]] = {name: [] for name in names}
        last = {}
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / "series"
            series.write_folder(folder)
            for round_number in range(repeat):
                # Side by side: each round runs every program once, in turn, starting with a
                # different one each round, so a change in the machine's load hits all alike.
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    out = Path(scratch) / f"{name}_{round_number}"
                    run = (
                        timed(PROGRAMS[name], folder, out, case.model)
                        if in_process
                        else timed_process(name, folder, out, case.model)
                    )
                    cpu[name].append(run.cpu_s)
                    wall[name].append(run.wall_s)
                    last[name] = run
                    shutil.rmtree(out, ignore_errors=True)
        target = TARGETS.get((case.model, int(case.photons)))
        ours_cpu, ours_wall = float(np.median(cpu["ours"])), float(np.median(wall["ours"]))
        for name in names:
            run = last[name]
            errors = series.endpoint_errors(run.matrices)
            unflagged = errors[~run.flagged].max() if (~run.flagged).any() else 0.0
            cpu_s, wall_s = float(np.median(cpu[name])), float(np.median(wall[name]))
            print(
                f"{case.name:<28} {name:<9} {errors.mean():8.4f} {errors.max():7.3f} "
                f"{unflagged:13.3f} {cpu_s:7.2f} {wall_s:7.2f} {cpu_s / ours_cpu:9.2f} "
                f"{wall_s / ours_wall:10.2f} {'' if target is None else f'{target:.2f}':>7}",
                flush=True,
            )


def memory(frames: int) -> None:
    import tifffile

    from ofs_stitch.testing.drift_series import drifting_series

    series = drifting_series(50, (512, 512), content="retina", seed=21)
    with tempfile.TemporaryDirectory() as scratch:
        stack = Path(scratch) / "long.tif"
        with tifffile.TiffWriter(stack, bigtiff=True) as tiff:
            tiff.write(
                (series.frames[k % 50] for k in range(frames)),
                shape=(frames, 512, 512),
                dtype=np.uint16,
                metadata={"axes": "TYX"},
            )
        code = (
            "import sys, time, resource\n"
            "from ofs_stitch.cli.ofs import main\n"
            "from ofs_stitch.io.memory import peak_resident_bytes\n"
            f"status = main(['drift', {str(stack)!r}, '-o', {str(Path(scratch) / 'out')!r}, '-q'])\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\n"
            "print(status, peak_resident_bytes(), u.ru_utime + u.ru_stime)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        status, peak, cpu = done.stdout.split()
        print(
            f"ofs drift, {frames} frames of 512^2 (multi-page TIFF in, aligned TIFF out): "
            f"exit {status}, peak resident {int(peak) / 2**20:.0f} MB, {float(cpu):.0f} CPU s "
            f"({1000 * float(cpu) / frames:.0f} ms per frame)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short-mode series")
    parser.add_argument("--memory", type=int, default=0, metavar="FRAMES", help="peak memory run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per case (medians)")
    parser.add_argument(
        "--peers", default="ecc,stackreg", help="comma-separated peers (ecc, stackreg)"
    )
    parser.add_argument(
        "--in_process",
        action="store_true",
        help="run every program in this process (imports paid once) instead of a fresh one each",
    )
    args = parser.parse_args()
    if args.memory:
        memory(args.memory)
    else:
        peers = [name for name in args.peers.split(",") if name]
        compare(args.quick, max(1, args.repeat), peers, args.in_process)


if __name__ == "__main__":
    main()
