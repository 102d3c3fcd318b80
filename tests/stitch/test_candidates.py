"""Candidate pairs from stage geometry."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.stitch import candidates

TILE = (480, 640)


def test_overlap_fraction_of_equal_tiles() -> None:
    shift = np.array([[0.0, 448.0], [240.0, 320.0], [480.0, 0.0]])
    assert candidates.overlap_fraction(shift, TILE) == pytest.approx([0.3, 0.25, 0.0])


def test_numpy_and_kd_tree_neighbour_searches_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    positions = np.random.default_rng(3).uniform(0, 20000, (1500, 2))
    direct = candidates._overlapping_pairs(positions, TILE)
    monkeypatch.setattr(candidates, "ALL_PAIRS_LIMIT", 10)
    with_tree = candidates._overlapping_pairs(positions, TILE)
    assert len(direct) > 100
    np.testing.assert_array_equal(direct, with_tree)


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
