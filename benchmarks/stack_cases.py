"""The focus-stacking cases the benchmark and the comparison share, and the numpy baseline
they are measured against in the same run."""

from __future__ import annotations

import functools
import os
import time

import numpy as np
from scipy import ndimage

from ofs_stitch.testing import focus_stacks as fs

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
BORDER = 8  # px left out of PSNR and SSIM at each edge (shifted frames leave it empty)


@functools.cache
def stack(name: str, noise: float, moving: bool) -> fs.FocusStack:
    if moving:
        return fs.focus_stack(name, noise=noise, max_shift=3.0, max_gain=0.05, seed=1)
    return fs.focus_stack(name, noise=noise, seed=1)


def argmax_baseline(frames: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """A plain numpy focus stack: per pixel, the frame with the most smoothed Laplacian
    energy (no alignment, no balance)."""
    energy = np.stack(
        [ndimage.gaussian_filter(ndimage.laplace(f.mean(axis=2)) ** 2, sigma) for f in frames]
    )
    choice = energy.argmax(axis=0)
    rows, cols = np.indices(choice.shape)
    return frames[choice, rows, cols]


def cpu_seconds(function, repeats: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median process CPU time (every thread) of ``function()`` over ``repeats`` runs."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.process_time()
        result = function()
        times.append(time.process_time() - start)
    return float(np.median(times)), result


def scores(image: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return fs.psnr(image, truth, BORDER), fs.ssim(image, truth, BORDER)
