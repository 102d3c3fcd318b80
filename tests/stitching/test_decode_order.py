"""The decode order of pair measurement: every pair completed exactly once, and few strips
waiting for --priority memory whatever order the tiles were captured in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofs_stitch.stitching.decode_order import (
    evaluate_order,
    least_waiting_order,
    pair_graph_order,
    sweep,
    tiles_of,
)

TILE_SHAPE = (480, 640)
OVERLAP = 0.3


def grid_scan(
    rows: int, cols: int, capture: str, *, noise: float = 0.03, seed: int = 0
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Stage positions (tile index = capture order) and neighbour pairs of a rows x cols grid
    captured in ``capture`` order: raster, snake, column, column-snake or shuffled."""
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    if capture == "snake":
        cells = [(r, c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]
    elif capture == "column":
        cells = [(r, c) for c in range(cols) for r in range(rows)]
    elif capture == "column-snake":
        cells = [(r if c % 2 == 0 else rows - 1 - r, c) for c in range(cols) for r in range(rows)]
    elif capture == "shuffled":
        cells = [cells[k] for k in np.random.default_rng(seed).permutation(len(cells))]
    else:
        assert capture == "raster"
    step = np.array(TILE_SHAPE) * (1 - OVERLAP)
    jitter = np.random.default_rng(seed + 1).normal(0, noise * TILE_SHAPE[1], (len(cells), 2))
    positions = np.array(cells) * step + jitter
    index = {cell: k for k, cell in enumerate(cells)}
    pairs = []
    for (r, c), k in index.items():
        for neighbour in ((r, c + 1), (r + 1, c)):
            if neighbour in index:
                pairs.append(tuple(sorted((k, index[neighbour]))))
    return positions, pairs


def completed_once(order_pairs: list[tuple[int, int]], completes: tuple[tuple[int, ...], ...]):
    done = sorted(p for step in completes for p in step)
    return done == list(range(len(order_pairs)))


def test_waiting_counts_strips_between_the_decodes_of_their_two_tiles() -> None:
    # A line of four tiles decoded from the middle out.
    pairs = [(0, 1), (1, 2), (2, 3)]
    order = evaluate_order([1, 2, 0, 3], pairs, strip_pixels=[10, 20, 30])
    assert order.tiles == (1, 2, 0, 3)
    assert order.completes == ((), (1,), (0,), (2,))
    assert order.waiting == (2, 2, 1, 0)
    assert order.waiting_pixels == (30, 40, 30, 0)
    assert order.most_waiting == 2 and order.most_waiting_pixels == 40


@pytest.mark.parametrize("bad", [[0, 1], [0, 1, 2, 2], [0, 1, 2, 0]])
def test_an_order_must_list_each_tile_once(bad: list[int]) -> None:
    with pytest.raises(ValueError, match="exactly once"):
        evaluate_order(bad, [(0, 1), (1, 2)])


@pytest.mark.parametrize("capture", ["raster", "snake", "column", "column-snake", "shuffled"])
@pytest.mark.parametrize("rows, cols", [(8, 8), (3, 12), (12, 3), (5, 7), (1, 15), (15, 1)])
def test_every_pair_is_measured_once_with_few_strips_waiting(
    rows: int, cols: int, capture: str
) -> None:
    positions, pairs = grid_scan(rows, cols, capture)
    order = least_waiting_order(positions, TILE_SHAPE, pairs)
    assert sorted(order.tiles) == list(range(rows * cols))
    assert completed_once(pairs, order.completes)
    # A sweep along the longer side keeps one band of the shorter side waiting, plus the pair
    # between the tile just decoded and the next.
    assert order.most_waiting <= min(rows, cols) + 1
    # Never more than capture order keeps waiting.
    capture_order = evaluate_order(tiles_of(pairs), pairs)
    assert order.most_waiting_pixels <= capture_order.most_waiting_pixels


@pytest.mark.parametrize("rows, cols", [(3, 12), (12, 3)])
def test_long_scans_are_swept_across_their_short_side(rows: int, cols: int) -> None:
    """Captured along the long side, a scan keeps a whole long row waiting; the memory order
    keeps a short one."""
    capture = "column" if rows > cols else "raster"
    positions, pairs = grid_scan(rows, cols, capture)
    assert evaluate_order(tiles_of(pairs), pairs).most_waiting >= max(rows, cols)
    assert least_waiting_order(positions, TILE_SHAPE, pairs).most_waiting <= min(rows, cols) + 1


def test_a_strip_of_tiles_keeps_one_strip_waiting_in_any_capture_order() -> None:
    positions, pairs = grid_scan(1, 20, "shuffled", seed=3)
    assert evaluate_order(tiles_of(pairs), pairs).most_waiting > 3
    assert least_waiting_order(positions, TILE_SHAPE, pairs).most_waiting == 1


def test_capture_order_wins_ties() -> None:
    positions, pairs = grid_scan(4, 4, "snake", noise=0.0)
    # Equal strip sizes: the sweeps of a square snake keep as much waiting as capture order.
    order = least_waiting_order(positions, TILE_SHAPE, pairs)
    assert order.tiles == tuple(range(16))


def test_strip_sizes_choose_between_equal_counts() -> None:
    """On a square grid rows and columns keep as many strips waiting; the smaller strips win."""
    positions, pairs = grid_scan(6, 6, "snake")
    vertical = [abs(positions[i, 0] - positions[j, 0]) > 100 for i, j in pairs]
    # Vertical pairs' strips four times the size of horizontal ones: sweep down the columns, so
    # that horizontal pairs wait.
    sizes = [4 if v else 1 for v in vertical]
    order = least_waiting_order(positions, TILE_SHAPE, pairs, sizes)
    assert order.tiles == tuple(sweep(positions, TILE_SHAPE, tiles_of(pairs), axis=1))
    assert order.most_waiting_pixels <= 6 * 1 + 4


def test_sweep_finds_rows_despite_stage_error() -> None:
    positions, pairs = grid_scan(4, 5, "shuffled", noise=0.05, seed=7)
    rows = np.round(positions[:, 0] / (TILE_SHAPE[0] * (1 - OVERLAP))).astype(int)
    order = sweep(positions, TILE_SHAPE, tiles_of(pairs), axis=0)
    # Band by band, top to bottom, each band a whole row of the grid.
    assert [int(rows[t]) for t in order] == sorted(int(rows[t]) for t in order)
    cols_in_first_row = [positions[t, 1] for t in order[:5]]
    assert cols_in_first_row == sorted(cols_in_first_row)  # left to right, then back
    cols_in_second_row = [positions[t, 1] for t in order[5:10]]
    assert cols_in_second_row == sorted(cols_in_second_row, reverse=True)


def test_pair_graph_order_keeps_a_ring_of_tiles_close() -> None:
    """Layouts that are no grid (a ring of 16 tiles) still get a tight order."""
    pairs = [(k, (k + 1) % 16) for k in range(16)]
    order = pair_graph_order(tiles_of(pairs), pairs)
    assert sorted(order) == list(range(16))
    assert evaluate_order(order, pairs).most_waiting <= 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                    lambda p: p[0] != p[1]
                ),
                min_size=1,
                max_size=60,
                unique_by=lambda p: (min(p), max(p)),
            ),
            st.integers(0, 2**32 - 1),
        )
    )
)
def test_any_layout_measures_each_pair_once_and_never_waits_more_than_capture_order(
    case: tuple[int, list[tuple[int, int]], int],
) -> None:
    n, pairs, seed = case
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 3000, (n, 2))
    sizes = rng.integers(1, 1000, len(pairs)).tolist()
    order = least_waiting_order(positions, TILE_SHAPE, pairs, sizes)
    assert sorted(order.tiles) == tiles_of(pairs)
    assert completed_once(pairs, order.completes)
    assert (
        order.most_waiting_pixels
        <= evaluate_order(tiles_of(pairs), pairs, sizes).most_waiting_pixels
    )
