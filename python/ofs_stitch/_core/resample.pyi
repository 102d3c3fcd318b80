"""Type stub of ofs_stitch._core.resample (cpp/bindings/bind_resample.cpp): affine warps."""

import numpy as np
from numpy.typing import NDArray

def warp_affine(
    image: NDArray[np.uint8] | NDArray[np.uint16] | NDArray[np.float32],
    matrix: tuple[float, ...],
    out: NDArray[np.uint8] | NDArray[np.uint16] | NDArray[np.float32],
    valid: NDArray[np.uint8] | None,
    interpolation: str,
    fill: float,
    cubic_a: float,
    top: int,
    left: int,
    threads: int,
) -> None:
    """Fill ``out`` (rows, cols[, channels], the image's dtype: the output window whose first
    pixel is (top, left)) with ``image`` warped through ``matrix``: the first two rows, row-major,
    of the homogeneous (row, col) map from output to input coordinates. ``valid`` (optional,
    (rows, cols) of 1-byte samples) gets 1 where every tap lay inside the image. Arrays of any
    strides; nothing is copied; the GIL is released."""

def is_integer_translation(matrix: tuple[float, ...]) -> bool:
    """True when warp_affine copies samples: the identity plus a whole-pixel shift."""

def kernel_variant() -> str:
    """The instruction set of the interior kernels: 'avx2' or 'baseline' (same results)."""
