"""Candidate pairs from stage geometry."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.stitching import candidates

TILE = (480, 640)


def test_overlap_fraction_of_equal_tiles() -> None:
    shift = np.array([[0.0, 448.0], [240.0, 320.0], [480.0, 0.0]])
    assert candidates.overlap_fraction(shift, TILE) == pytest.approx([0.3, 0.25, 0.0])


def test_numpy_and_kd_tree_neighbour_searches_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    positions = np.random.default_rng(3).uniform(0, 20000, (1500, 2))
    direct = candidates.overlapping_pairs(positions, TILE)
    monkeypatch.setattr(candidates, "ALL_PAIRS_LIMIT", 10)
    with_tree = candidates.overlapping_pairs(positions, TILE)
    assert len(direct) > 100
    np.testing.assert_array_equal(direct, with_tree)


def _all_pairs_overlapping(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    i, j = np.triu_indices(len(positions), k=1)
    gap = np.abs(positions[j] - positions[i])
    touching = (gap[:, 0] < shape[0]) & (gap[:, 1] < shape[1])
    return np.column_stack([i[touching], j[touching]]).astype(np.int64)


@pytest.mark.parametrize("layout", ["scattered", "row strip", "column strip", "grid", "stacked"])
def test_the_sweep_finds_exactly_the_overlapping_pairs_of_every_pair_checked(layout: str) -> None:
    rng = np.random.default_rng(7)
    n = 300
    if layout == "scattered":
        positions = rng.uniform(0, 8000, (n, 2))
    elif layout == "row strip":  # the sweep runs along the columns
        positions = np.column_stack([rng.normal(0, 5, n), np.arange(n) * 500.0])
    elif layout == "column strip":
        positions = np.column_stack([rng.permutation(n) * 400.0, rng.normal(0, 5, n)])
    elif layout == "grid":  # exact tile-size steps: touching edges do not overlap
        rows, cols = np.mgrid[0:15, 0:20]
        positions = np.column_stack([rows.ravel() * 480.0, cols.ravel() * 640.0])
    else:  # z-stacks: several tiles at one position
        positions = rng.integers(0, 6, (n, 2)) * 300.0
    swept = candidates.overlapping_pairs(positions, TILE)
    np.testing.assert_array_equal(swept, _all_pairs_overlapping(positions, TILE))
    assert len(swept) > 0 or layout == "grid"


def test_grid_pairs_are_the_direct_neighbours() -> None:
    rows, cols = np.mgrid[0:3, 0:4]
    positions = np.column_stack([rows.ravel() * 336.0, cols.ravel() * 448.0])
    pairs = candidates.candidate_pairs(positions, TILE, 0.2)
    assert len(pairs) == 3 * 3 + 2 * 4  # horizontal + vertical neighbours; diagonals overlap 9 %
    first = pairs[0]
    assert (first.i, first.j) == (0, 1)
    assert first.expected_shift == (0.0, 448.0)
    assert first.overlap_fraction == pytest.approx(0.3)


def test_a_strip_link_below_the_minimum_overlap_is_kept_to_join_the_strip() -> None:
    # Stage error shrank the middle link's overlap to 15 %; without it the strip falls apart.
    cols = np.array([0.0, 448.0, 448.0 + 544.0, 448.0 + 544.0 + 448.0])
    positions = np.column_stack([np.zeros(4), cols])
    pairs = candidates.candidate_pairs(positions, TILE, 0.2)
    assert [(p.i, p.j) for p in pairs] == [(0, 1), (1, 2), (2, 3)]
    assert pairs[1].overlap_fraction == pytest.approx(0.15)
    assert candidates.isolated_tiles(4, pairs) == []


def test_tiles_that_touch_nothing_are_reported() -> None:
    positions = np.array([[0.0, 0.0], [0.0, 448.0], [5000.0, 5000.0]])
    pairs = candidates.candidate_pairs(positions, TILE, 0.2)
    assert candidates.isolated_tiles(3, pairs) == [2]


def _grid(rows: int, cols: int, overlap: float) -> np.ndarray:
    r, c = np.mgrid[0:rows, 0:cols]
    pitch = (1 - overlap) * np.asarray(TILE, dtype=float)
    return np.column_stack([r.ravel() * pitch[0], c.ravel() * pitch[1]])


def _neighbour_count(rows: int, cols: int) -> int:
    return rows * (cols - 1) + cols * (rows - 1)


def test_a_thin_overlap_grid_measures_every_neighbour_pair() -> None:
    # A real 3x4 confocal scan overlaps by ~10 %: upstream's 0.2 left a spanning tree (11 of 17).
    positions = _grid(3, 4, 0.1)
    neighbours = candidates.neighbour_overlaps(positions, TILE)
    assert len(neighbours.pairs) == _neighbour_count(3, 4) == 17
    threshold = candidates.derived_minimum_overlap(neighbours)
    assert threshold == pytest.approx(0.05)
    pairs = candidates.candidate_pairs(positions, TILE, threshold)
    assert len(pairs) == 17
    assert candidates.neighbours_left_out(neighbours, pairs) == 0
    upstream = candidates.candidate_pairs(positions, TILE, 0.2)
    assert len(upstream) == 11  # joined into one piece, but no loop left
    assert candidates.neighbours_left_out(neighbours, upstream) == 6


def test_a_wide_overlap_scan_keeps_direct_neighbours_only() -> None:
    positions = _grid(3, 3, 0.3)
    neighbours = candidates.neighbour_overlaps(positions, TILE)
    threshold = candidates.derived_minimum_overlap(neighbours)
    assert threshold == candidates.UPSTREAM_MINIMUM_OVERLAP  # upstream's, as it leaves none out
    pairs = candidates.candidate_pairs(positions, TILE, threshold)
    assert {(p.i, p.j) for p in pairs} == {tuple(map(int, ij)) for ij in neighbours.pairs}
    assert all(p.overlap_fraction > 0.25 for p in pairs)  # no diagonal (9 %) pairs


def test_the_thinner_direction_decides() -> None:
    # 40 % left-right, 8 % up-down: half of the up-down overlap.
    pitch = np.array([0.92 * TILE[0], 0.6 * TILE[1]])
    r, c = np.mgrid[0:3, 0:3]
    positions = np.column_stack([r.ravel() * pitch[0], c.ravel() * pitch[1]])
    neighbours = candidates.neighbour_overlaps(positions, TILE)
    assert candidates.derived_minimum_overlap(neighbours) == pytest.approx(0.04)
    assert neighbours.along_rows.sum() == 6 and (~neighbours.along_rows).sum() == 6


def test_one_thin_neighbour_lowers_the_threshold_to_reach_it() -> None:
    positions = _grid(3, 3, 0.3)
    positions[4, 1] += 0.12 * TILE[1]  # the stage put the centre tile 12 % to the right
    neighbours = candidates.neighbour_overlaps(positions, TILE)
    assert neighbours.fractions.min() < 0.2
    threshold = candidates.derived_minimum_overlap(neighbours)
    assert threshold == pytest.approx(0.15)
    pairs = candidates.candidate_pairs(positions, TILE, threshold)
    assert candidates.neighbours_left_out(neighbours, pairs) == 0


def test_a_strip_and_a_single_tile() -> None:
    strip = _grid(1, 5, 0.12)
    assert candidates.derived_minimum_overlap(
        candidates.neighbour_overlaps(strip, TILE)
    ) == pytest.approx(0.06)
    alone = candidates.neighbour_overlaps(np.zeros((1, 2)), TILE)
    assert len(alone.pairs) == 0
    assert candidates.derived_minimum_overlap(alone) == candidates.UPSTREAM_MINIMUM_OVERLAP
