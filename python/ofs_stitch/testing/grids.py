"""Tiles in memory with exactly known positions: any positions, and raster grids.

Truth: each tile's top-left corner (row, col), sub-pixel and exact, and for a raster grid what
a noisy stage guessed for it; for the solver, a raster's positions and noisy measurements of
every neighbour shift. ``make_tiles`` photographs the scene through the camera (band-limited:
tiles are exact shifts of each other); ``tile_grid`` samples the canvas with a cubic spline, as
the registration benchmarks' recorded figures were measured on. Scans written to disk with
OpenFlexure metadata are ``testing.scans``; grids of affine-distorted tiles are
``testing.affine_grids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .camera import canvas_covering, channels_last, check_blur, photograph, quantise
from .scene import SPLINE_MARGIN, make_canvas, sample_spline


def make_tiles(
    positions: Any,
    tile_shape: tuple[int, int],
    *,
    seed: int = 0,
    rgb: bool = False,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
    dtype: Any = np.float32,
) -> list[np.ndarray]:
    """In-memory tiles of ``tile_shape`` whose top-left corners sit at ``positions`` (n, 2).

    Positions are (row, col) px, sub-pixel, in any frame: the scene is laid out to cover them,
    so one call photographs one scene (another set of positions gives another canvas). Tiles at
    positions p and q satisfy ``tile_q[y, x] == tile_p[y + d_row, x + d_col]`` with d = q - p,
    to float32 rounding, before noise. ``blur_sigma``: Gaussian defocus (px); ``noise_sigma``:
    independent Gaussian noise per tile, fraction of full scale; ``dtype``: float32/float64 in
    [0, 1], uint8 or uint16. RGB tiles are (rows, cols, 3).
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    shape = (int(tile_shape[0]), int(tile_shape[1]))
    if shape[0] < 1 or shape[1] < 1:
        raise InputError(f"tile_shape {tile_shape} must be positive")
    check_blur(blur_sigma)
    canvas, low = canvas_covering(positions, shape, seed)
    tiles = []
    for index, position in enumerate(positions):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x711E, index]))
        image = photograph(
            canvas,
            position - low,
            shape,
            rgb=rgb,
            rng=rng,
            blur_sigma=blur_sigma,
            noise_sigma=noise_sigma,
        )
        tiles.append(channels_last(quantise(image, dtype)))
    return tiles


@dataclass(frozen=True)
class TileGrid:
    """Tiles of a raster scan with their exact positions and a noisy stage's guess of them."""

    tiles: list[np.ndarray]  # float32 grey, row-major over the grid
    true_positions: np.ndarray  # (n, 2) top-left corners (row, col), exact
    stage_positions: np.ndarray  # (n, 2) true positions plus the stage's error
    grid_shape: tuple[int, int]
    tile_shape: tuple[int, int]
    pitch: tuple[float, float]  # nominal spacing (rows, cols) between neighbours

    def index(self, row: int, col: int) -> int:
        return row * self.grid_shape[1] + col

    def neighbour_pairs(self) -> list[tuple[int, int]]:
        """(i, j) of every horizontal, then every vertical, pair of neighbours."""
        rows, cols = self.grid_shape
        across = [
            (self.index(r, c), self.index(r, c + 1)) for r in range(rows) for c in range(cols - 1)
        ]
        down = [
            (self.index(r, c), self.index(r + 1, c)) for r in range(rows - 1) for c in range(cols)
        ]
        return across + down


def tile_grid(
    grid_shape: tuple[int, int],
    *,
    tile_shape: tuple[int, int] = (480, 640),
    overlap: float = 0.3,
    jitter: float = 1.5,
    stage_error: float = 10.0,
    noise_fraction: float = 0.0,
    seed: int = 0,
) -> TileGrid:
    """A ``grid_shape`` raster of grey tiles spline-sampled from the canvas at sub-pixel positions.

    Each tile sits at its nominal grid position plus a uniform jitter of +-``jitter`` px per
    axis; the stage reports each position with a uniform error of +-``stage_error`` px per axis.
    ``noise_fraction``: independent Gaussian noise per tile, as a fraction of full scale.
    """
    rng = np.random.default_rng(seed)
    rows, cols = grid_shape
    height, width = tile_shape
    pitch = (height * (1.0 - overlap), width * (1.0 - overlap))
    grid = np.array([(r, c) for r in range(rows) for c in range(cols)], dtype=float)
    start = SPLINE_MARGIN + jitter
    true_positions = start + grid * pitch + rng.uniform(-jitter, jitter, grid.shape)
    stage_positions = true_positions + rng.uniform(-stage_error, stage_error, grid.shape)
    canvas_shape = (
        int(np.ceil(true_positions[:, 0].max())) + height + SPLINE_MARGIN + 1,
        int(np.ceil(true_positions[:, 1].max())) + width + SPLINE_MARGIN + 1,
    )
    pixels = make_canvas(canvas_shape, seed=seed)
    tiles = []
    for origin in true_positions:
        tile = sample_spline(pixels, (origin[0], origin[1]), tile_shape)
        if noise_fraction > 0:
            tile = tile + rng.normal(0.0, noise_fraction, tile.shape).astype(np.float32)
        tiles.append(tile)
    return TileGrid(
        tiles=tiles,
        true_positions=true_positions,
        stage_positions=stage_positions,
        grid_shape=(rows, cols),
        tile_shape=(height, width),
        pitch=pitch,
    )


def neighbour_shifts(
    size: int,
    *,
    tile_shape: tuple[int, int] = (480, 640),
    overlap: float = 0.3,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """True positions of a ``size`` x ``size`` raster and measurements of its neighbour shifts.

    Returns the (n, 2) positions (row-major, +-2 px of jitter around the nominal grid) and the
    (pairs, 5) table (i, j, d_row, d_col, weight) ``solve_positions`` takes: every horizontal,
    then every vertical, neighbour pair, its true shift plus Gaussian noise of ``noise`` px per
    axis, and a weight uniform in [0.5, 1) like quality-derived weights. No images are made.
    """
    rng = np.random.default_rng(seed)
    pitch = (tile_shape[0] * (1 - overlap), tile_shape[1] * (1 - overlap))
    grid = np.array([(r, c) for r in range(size) for c in range(size)], dtype=float)
    truth = grid * pitch + rng.uniform(-2.0, 2.0, grid.shape)
    index = np.arange(size * size).reshape(size, size)
    i = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    j = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    d = truth[j] - truth[i] + rng.normal(0, noise, (len(i), 2))
    weights = rng.uniform(0.5, 1.0, len(i))
    return truth, np.column_stack([i, j, d, weights])
