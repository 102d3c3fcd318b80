"""ofs_stitch._core.image: tile pixels to float32 grey, and block means (bind_image.cpp).

Inputs are read in place, any strides; other dtypes are refused, never converted."""

import numpy as np
from numpy.typing import NDArray

def grey_float32(pixels: NDArray[np.uint8] | NDArray[np.uint16]) -> NDArray[np.float32]:
    """Float32 grey copy of (rows, cols[, channels]) 8/16-bit pixels: mean of the first three
    channels when there are three or more, else the first channel."""

def block_mean(image: NDArray[np.float32], factor: int) -> NDArray[np.float32]:
    """Means of factor x factor blocks of a 2-D float32 image of any strides (partial blocks
    at the right and bottom edges left out)."""
