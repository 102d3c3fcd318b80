"""ofs_stitch._core.solve: tile positions from pair displacements, tile maps from matching
points (bind_solve.cpp)."""

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
    method: str = "auto",
    position_tolerance: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], dict[str, object]]: ...
def place_points(
    n_tiles: int,
    tile_a: NDArray[np.int64],
    tile_b: NDArray[np.int64],
    points_a: NDArray[np.float64],
    points_b: NDArray[np.float64],
    weight: NDArray[np.float64],
    model: str = "affine",
    gauge: str = "first",
    fixed_tile: int = -1,
    loss: str = "none",
    robust_scale: float = 1.0,
    max_reweighting_iterations: int = 50,
    tolerance: float = 1e-12,
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.int64],
    dict[str, object],
]: ...
