"""ofs_stitch._core.solve: tile positions from pair displacements (bind_solve.cpp)."""

import numpy as np
from numpy.typing import NDArray

def solve_positions(
    n_tiles: int,
    i: NDArray[np.int64],
    j: NDArray[np.int64],
    displacement: NDArray[np.float64],
    weight: NDArray[np.float64],
    prior_tile: NDArray[np.int64],
    prior_position: NDArray[np.float64],
    prior_weight: NDArray[np.float64],
    loss: str = "none",
    robust_scale: float = 1.0,
    max_reweighting_iterations: int = 50,
    tolerance: float = 1e-12,
    initial_positions: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], dict[str, object]]: ...
