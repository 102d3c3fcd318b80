"""Print ofs-stitch's warp_affine side by side with OpenCV's warpAffine and scipy's
affine_transform, with the ratios.

    python benchmarks/compare_warp.py [--quick] [--rounds N]

Cases (see warp_cases.py): 2048^2 uint16 grey and 1024^2 RGB uint8 (--quick: 512^2, 256^2),
linear and cubic, one thread against one thread and every core against every core. OpenCV
comes from the ``compare`` extra (opencv-python-headless); without it its columns are blank.
Target: within 1.5x of warpAffine, well ahead of scipy.

A second table runs both with every core (OpenCV through ``cv2.setNumThreads``), taking the
median over the rounds of the wall-clock time and of the process's CPU time (every thread):
on a machine shared with other jobs the wall time of a threaded run depends on their load,
while the CPU time measures the work each side did.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from warp_cases import (  # noqa: E402
    ALL_CORES,
    INTERPOLATIONS,
    interleaved_best,
    interleaved_medians,
    opencv,
    opencv_module,
    ours,
    scipy,
    warp_cases,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short-mode sizes")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (best of)")
    args = parser.parse_args()
    cv2 = opencv_module()
    print(
        f"{'case':<22} {'interp.':<7} {'threads':>7}  {'ofs-stitch':>10}  {'OpenCV':>8}  "
        f"{'ratio':>6}  {'scipy':>8}  {'scipy/ours':>10}"
    )
    for case in warp_cases(full=not args.quick):
        for interpolation in INTERPOLATIONS:
            scipy_seconds = interleaved_best(
                {"scipy": scipy(case, interpolation)}, max(1, args.rounds // 3)
            )["scipy"]
            for threads in (1, ALL_CORES):
                runs = {"ours": ours(case, interpolation, threads)}
                if cv2 is not None:
                    runs["opencv"] = opencv(cv2, case, interpolation, threads)
                best = interleaved_best(runs, args.rounds, threads)
                theirs = best.get("opencv")
                opencv_text = f"{theirs * 1e3:6.1f}ms" if theirs else f"{'-':>8}"
                ratio_text = f"{best['ours'] / theirs:5.2f}x" if theirs else f"{'-':>6}"
                scipy_text = f"{scipy_seconds * 1e3:6.1f}ms" if threads == 1 else f"{'':>8}"
                speed_up = f"{scipy_seconds / best['ours']:9.1f}x"
                print(
                    f"{case.name:<22} {interpolation:<7} {threads:>7}  "
                    f"{best['ours'] * 1e3:8.1f}ms  {opencv_text}  {ratio_text}  "
                    f"{scipy_text}  {speed_up}"
                )
    if cv2 is not None:
        all_cores_table(cv2, args.quick, args.rounds)
    print(
        "\nratio: ofs-stitch time / OpenCV time at the same thread count (under 1.5 is the "
        "target); scipy/ours: how many times faster than scipy (which has one thread). One "
        "thread: CPU time of the calling thread; all cores: wall-clock time. "
        "OpenCV computes cubic with a = -0.75; so does ofs-stitch here (cubic_a=-0.75); "
        "scipy's cubic is a prefiltered B-spline."
    )


def all_cores_table(cv2, quick: bool, rounds: int) -> None:
    print(
        f"\nevery core ({ALL_CORES} threads each), medians of {rounds} interleaved rounds\n"
        f"{'case':<22} {'interp.':<7}  {'ours wall':>9}  {'OpenCV wall':>11}  {'ratio':>6}  "
        f"{'ours CPU':>9}  {'OpenCV CPU':>10}  {'ratio':>6}"
    )
    for case in warp_cases(full=not quick):
        for interpolation in INTERPOLATIONS:
            runs = {
                "ours": ours(case, interpolation, ALL_CORES),
                "opencv": opencv(cv2, case, interpolation, ALL_CORES),
            }
            for run in runs.values():  # warm-up: thread pools started, pages touched
                run()
            medians = interleaved_medians(runs, rounds)
            (ours_wall, ours_cpu), (cv_wall, cv_cpu) = medians["ours"], medians["opencv"]
            print(
                f"{case.name:<22} {interpolation:<7}  {ours_wall * 1e3:7.1f}ms  "
                f"{cv_wall * 1e3:9.1f}ms  {ours_wall / cv_wall:5.2f}x  {ours_cpu * 1e3:7.1f}ms  "
                f"{cv_cpu * 1e3:8.1f}ms  {ours_cpu / cv_cpu:5.2f}x"
            )


if __name__ == "__main__":
    main()
