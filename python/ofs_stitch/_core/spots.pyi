"""ofs_stitch._core.spots: 2-D Gaussian fits of bright spots (bind_spots.cpp)."""

import numpy as np
from numpy.typing import NDArray

def fit_gaussians(
    image: NDArray[np.float32],
    starts: NDArray[np.float64],
    half_width: int = 4,
    sigma: float = 1.5,
    threads: int = 0,
) -> NDArray[np.float64]: ...
