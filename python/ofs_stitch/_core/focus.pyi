"""ofs_stitch._core.focus: Laplacian pyramid steps and per-pixel frame selection for focus
stacking (bind_focus.cpp). Arrays are float32 (int32 for frame indexes), C-contiguous,
(rows, cols) or (rows, cols, channels); arrays written into must be writable. Nothing is
converted."""

import numpy as np
from numpy.typing import NDArray

def reduce(src: NDArray[np.float32], dst: NDArray[np.float32], threads: int = 1) -> None:
    """dst = src blurred by the 5x5 binomial kernel, every second row and column; dst is
    ((rows + 1) // 2, (cols + 1) // 2[, channels])."""

def expand_add(
    src: NDArray[np.float32], dst: NDArray[np.float32], sign: float, threads: int = 1
) -> None:
    """dst += sign * src interpolated to dst's size (2 n - 1 or 2 n along each axis)."""

def local_energy(
    src: NDArray[np.float32], energy: NDArray[np.float32], radius: int, threads: int = 1
) -> None:
    """energy = the (2 radius + 1)^2 window mean of the squares of src summed over channels."""

def select_max(
    energy: NDArray[np.float32],
    coefficients: NDArray[np.float32],
    best_energy: NDArray[np.float32],
    best_index: NDArray[np.int32],
    best: NDArray[np.float32] | None,
    index: int,
    threads: int = 1,
) -> None:
    """Where energy > best_energy, take this frame: best_energy, best_index = index and
    (unless best is None) best = coefficients."""

def gather(
    coefficients: NDArray[np.float32],
    chosen: NDArray[np.int32],
    index: int,
    out: NDArray[np.float32],
    threads: int = 1,
) -> None:
    """Where chosen == index, out = coefficients."""

def accumulate_weighted(
    coefficients: NDArray[np.float32],
    weight: NDArray[np.float32],
    out: NDArray[np.float32],
    threads: int = 1,
) -> None:
    """out += weight * coefficients, weight a (rows, cols) plane."""
