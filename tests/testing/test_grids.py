"""Tiles in memory: exact positions, raster grids with a stage guess, shift tables."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from ofs_stitch.testing.grids import make_tiles, neighbour_shifts, tile_grid  # noqa: E402


def test_tiles_in_memory_share_one_scene_with_blur() -> None:
    positions = [(10.25, 20.5), (10.25 + 30.0, 20.5 - 12.0)]
    a, b = make_tiles(positions, (100, 120), blur_sigma=1.5, seed=4)
    sharp, _ = make_tiles(positions, (100, 120), seed=4)
    assert np.abs(b[:-30, 12:] - a[30:, :-12]).max() < 2e-6  # blur keeps tiles consistent
    # Blur removes fine detail: the mean gradient drops.
    assert np.abs(np.diff(a, axis=1)).mean() < 0.7 * np.abs(np.diff(sharp, axis=1)).mean()


def test_tile_grid_positions_stage_guess_and_neighbours() -> None:
    grid = tile_grid((2, 3), tile_shape=(40, 60), overlap=0.25, jitter=1.0, stage_error=4.0)
    assert len(grid.tiles) == 6 and grid.tiles[0].shape == (40, 60)
    assert grid.tiles[0].dtype == np.float32
    nominal = np.array([(r * 30.0, c * 45.0) for r in range(2) for c in range(3)])
    offset = grid.true_positions - nominal
    assert np.ptp(offset, axis=0).max() <= 2.0  # +-1 px of jitter around one start
    assert np.abs(grid.stage_positions - grid.true_positions).max() <= 4.0
    assert grid.pitch == (30.0, 45.0)
    assert grid.neighbour_pairs() == [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]
    assert grid.index(1, 2) == 5


def test_neighbour_shifts_measure_every_neighbour_with_the_requested_noise() -> None:
    truth, pairs = neighbour_shifts(20, tile_shape=(48, 64), overlap=0.25, noise=0.5, seed=2)
    assert truth.shape == (400, 2) and pairs.shape == (2 * 20 * 19, 5)
    i, j = pairs[:, 0].astype(int), pairs[:, 1].astype(int)
    assert np.all(np.isin(j - i, (1, 20)))  # right and lower neighbours only
    error = pairs[:, 2:4] - (truth[j] - truth[i])
    assert np.all(np.abs(error.std(axis=0) - 0.5) < 0.05)
    assert pairs[:, 4].min() >= 0.5 and pairs[:, 4].max() < 1.0
