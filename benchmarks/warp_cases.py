"""The workloads of bench_warp.py and compare_warp.py: two photographs, one map, three warps.

The issue's sizes (OFS_BENCH_FULL=1): a 2048x2048 uint16 grey image and a 1024x1024 RGB uint8
image (short mode: 512x512 and 256x256), turned by 17 degrees, scaled by 1.05 / 0.95 and moved
by a fraction of a pixel. Timed against OpenCV's ``warpAffine`` (when cv2 is installed: the
``compare`` extra) and scipy's ``affine_transform``, one thread against one thread and every
core against every core (scipy has no threads). Times are the best of interleaved rounds, so a
burst of load from other jobs hits every contender alike; one-thread runs are timed in CPU
time of the calling thread (every contender then runs there), which other jobs on a shared
machine disturb far less than the wall clock.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ofs_stitch.core.warp import warp_affine
from ofs_stitch.testing.warp_reference import centred_affine

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
ALL_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
INTERPOLATIONS = ("linear", "cubic")


@dataclass(frozen=True)
class WarpCase:
    name: str
    image: np.ndarray
    matrix: np.ndarray  # 3x3, output (row, col) -> input (row, col)


@functools.lru_cache(maxsize=2)
def warp_cases(full: bool = FULL) -> tuple[WarpCase, ...]:
    from skimage import data

    grey_size, colour_size = (2048, 1024) if full else (512, 256)
    camera = data.camera().astype(np.float64)
    grey = ndimage.zoom(camera, grey_size / camera.shape[0], order=1)
    grey16 = np.clip(grey * 257, 0, 65535).astype(np.uint16)
    astronaut = data.astronaut()
    factor = colour_size / astronaut.shape[0]
    colour = ndimage.zoom(astronaut, (factor, factor, 1), order=1).astype(np.uint8)
    cases = []
    for name, image in (
        (f"{grey_size}^2 uint16 grey", grey16),
        (f"{colour_size}^2 RGB uint8", colour),
    ):
        image.setflags(write=False)
        m = centred_affine(image.shape, angle_deg=17.0, scale=(1.05, 0.95), shift=(0.37, -0.21))
        cases.append(WarpCase(name, image, m))
    return tuple(cases)


def opencv_module():
    """cv2 when installed (``pip install opencv-python-headless``), else None."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def ours(case: WarpCase, interpolation: str, threads: int) -> Callable[[], np.ndarray]:
    # cubic_a=-0.75 is OpenCV's INTER_CUBIC, so both compute the same numbers.
    return lambda: warp_affine(
        case.image, case.matrix, interpolation=interpolation, threads=threads, cubic_a=-0.75
    )


def opencv(cv2, case: WarpCase, interpolation: str, threads: int) -> Callable[[], np.ndarray]:
    m = case.matrix
    xy = np.array([[m[1, 1], m[1, 0], m[1, 2]], [m[0, 1], m[0, 0], m[0, 2]]])
    flags = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}[interpolation]
    size = (case.image.shape[1], case.image.shape[0])

    def run() -> np.ndarray:
        cv2.setNumThreads(threads)
        return cv2.warpAffine(case.image, xy, size, flags=flags | cv2.WARP_INVERSE_MAP)

    return run


def scipy(case: WarpCase, interpolation: str) -> Callable[[], np.ndarray]:
    # scipy's cubic is a B-spline with a prefilter: what a scipy user calls for "cubic".
    order = {"linear": 1, "cubic": 3}[interpolation]

    def plane(values: np.ndarray) -> np.ndarray:
        return ndimage.affine_transform(values, case.matrix, order=order, mode="constant")

    if case.image.ndim == 2:
        return lambda: plane(case.image)
    return lambda: np.stack([plane(case.image[..., k]) for k in range(case.image.shape[2])], -1)


def interleaved_best(
    runs: dict[str, Callable[[], np.ndarray]], rounds: int, threads: int = 1
) -> dict[str, float]:
    """The fastest of ``rounds`` times (s) of each run, taken in turn: CPU time of this thread
    for one-thread runs, wall-clock time otherwise."""
    clock = time.thread_time if threads == 1 else time.perf_counter
    best = dict.fromkeys(runs, np.inf)
    for _ in range(rounds):
        for name, run in runs.items():
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    return best


def interleaved_medians(
    runs: dict[str, Callable[[], np.ndarray]], rounds: int
) -> dict[str, tuple[float, float]]:
    """(median wall-clock, median CPU time of the whole process, every thread) in seconds of
    each run over ``rounds`` turns taken in turn. On a loaded machine the wall time of a
    threaded run measures the other jobs too; its CPU time says how much work it did."""
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            cpus[name].append(time.process_time() - cpu)
            walls[name].append(time.perf_counter() - wall)
    return {name: (float(np.median(walls[name])), float(np.median(cpus[name]))) for name in runs}
