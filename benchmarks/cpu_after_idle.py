"""How fast this machine runs the same work after continuous work and after a live scan's
rhythm of short bursts and pauses.

Usage: python benchmarks/cpu_after_idle.py [--repeats N]

A live run's final outputs start right after the last tile, on cores that spent the scan
mostly idle (a tile's update every 0.3 s); the batch run it is compared with renders after
seconds of continuous work. On a virtual machine (and on a CPU whose clock follows its load)
the same work can run slower after the pauses. Prints the time of a fixed piece of numpy and
Python work after 2 s of continuous work and after 6 s of 70 ms busy / 230 ms idle, in turn,
and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def fixed_work(values: np.ndarray) -> float:
    """Sorting and a Python loop (what a run's stages mix), timed."""
    started = time.perf_counter()
    for _ in range(40):
        np.sort(values)
        sum(range(20_000))
    return time.perf_counter() - started


def busy(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def after_continuous_work() -> None:
    busy(2.0)


def after_bursts_and_pauses() -> None:
    for _ in range(20):
        busy(0.07)
        time.sleep(0.23)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    values = np.random.default_rng(0).random(200_000)
    fixed_work(values)
    times: dict[str, list[float]] = {"continuous": [], "bursts": []}
    for _ in range(args.repeats):
        after_continuous_work()
        times["continuous"].append(fixed_work(values))
        after_bursts_and_pauses()
        times["bursts"].append(fixed_work(values))
    for name, values_s in times.items():
        print(f"after {name:10s}: " + ", ".join(f"{t:.3f}" for t in values_s) + " s")
    ratio = statistics.median(times["bursts"]) / statistics.median(times["continuous"])
    print(f"median after bursts and pauses / after continuous work: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
