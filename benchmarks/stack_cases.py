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


# The child process that runs ``ofs stack`` and reports its memory: its own high-water mark
# (VmHWM) before the run, with every module the command uses already loaded, and after it, so
# the difference is what the run's data cost (ru_maxrss would carry the parent's peak).
COMMAND_CHILD = """
import sys
import numpy, scipy.ndimage, pyvips, tqdm
import ofs_stitch.stack.command, ofs_stitch.stack.alignment, ofs_stitch.stack.corrected
import ofs_stitch.stack.depthmap, ofs_stitch.stack.exposure, ofs_stitch.stack.inputs
import ofs_stitch.stack.outputs, ofs_stitch.stack.pyramid_fusion, ofs_stitch.cli.ofs
from ofs_stitch.io.memory import peak_resident_bytes
baseline = peak_resident_bytes()
assert ofs_stitch.cli.ofs.main(["stack", *sys.argv[1:], "-q", "--align", "none"]) == 0
print(baseline, peak_resident_bytes())
"""


def write_frames(folder, name: str, count: int, repeat: int = 1, size: int | None = None):  # type: ignore[no-untyped-def]
    """``count`` frames of the synthetic ``name`` stack as PNG (TIFF when ``repeat`` > 1: each
    frame tiled ``repeat`` x ``repeat`` times, a large frame without a large generator)."""
    from ofs_stitch.testing.files import write_tile

    data = fs.focus_stack(name, slices=count, noise=0.002, seed=1, size=size)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = fs.to_uint8(data.frames)
    del data
    suffix = ".png" if repeat == 1 else ".tif"
    for k in range(count):
        write_tile(folder / f"slice_{k:03d}{suffix}", np.tile(pixels[k], (repeat, repeat, 1)))
    rows, cols = pixels.shape[1:3]
    return rows * repeat, cols * repeat


def command_memory(folder, *options: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(MiB the run of ``ofs stack folder options --align none`` added to the process's peak
    resident memory, CPU seconds of the child)."""
    import resource
    import subprocess
    import sys

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", COMMAND_CHILD, str(folder), *options],
        check=True,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    baseline, peak = (int(v) for v in done.stdout.split())
    return (peak - baseline) / 2**20, cpu
