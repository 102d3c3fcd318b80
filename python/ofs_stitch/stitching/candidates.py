"""Which tiles to correlate: pairs whose stage positions say they overlap enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.components import DisjointSets
from ..core.matches import CandidatePair


def overlap_fraction(shift: np.ndarray, tile_shape: tuple[int, int]) -> np.ndarray:
    """Overlap area / tile area of equal-size tiles displaced by ``shift`` ((m, 2) rows, cols)."""
    height, width = tile_shape
    rows = np.clip(height - np.abs(shift[:, 0]), 0, None)
    cols = np.clip(width - np.abs(shift[:, 1]), 0, None)
    return rows * cols / float(height * width)


# Upstream's default --minimum_overlap; the derived threshold never exceeds it.
UPSTREAM_MINIMUM_OVERLAP = 0.2
# A pair whose offset along one axis is below this fraction of the tile is a neighbour along
# the other axis (a grid's left-right or up-down neighbour, not a diagonal one).
NEIGHBOUR_OFFSET_FRACTION = 0.5


@dataclass(frozen=True)
class NeighbourOverlaps:
    """The overlaps of a scan's neighbouring tiles (left-right and up-down, not diagonal)."""

    pairs: np.ndarray  # (k, 2) index pairs i < j
    fractions: np.ndarray  # (k,) overlap area / tile area from the positions
    along_rows: np.ndarray  # (k,) bool: j is above or below i (else beside it)

    def typical_overlap(self) -> float | None:
        """The smaller of the median up-down and the median left-right overlap (None: no
        neighbours). Medians, so that a few tiles the stage misplaced do not decide it."""
        medians = [
            float(np.median(self.fractions[direction]))
            for direction in (self.along_rows, ~self.along_rows)
            if direction.any()
        ]
        return min(medians) if medians else None


def neighbour_overlaps(
    stage_positions_px: np.ndarray,
    tile_shape: tuple[int, int],
    overlapping: np.ndarray | None = None,
) -> NeighbourOverlaps:
    """The overlapping pairs that are direct neighbours, with their overlap fractions.
    ``overlapping``: `overlapping_pairs` of these positions, when the caller has them."""
    positions = np.asarray(stage_positions_px, dtype=float).reshape(-1, 2)
    close = overlapping_pairs(positions, tile_shape) if overlapping is None else overlapping
    close = close.astype(np.int64).reshape(-1, 2)
    shifts = positions[close[:, 1]] - positions[close[:, 0]]
    relative = np.abs(shifts) / np.asarray(tile_shape, dtype=float)
    neighbours = relative.min(axis=1) < NEIGHBOUR_OFFSET_FRACTION
    return NeighbourOverlaps(
        pairs=close[neighbours],
        fractions=overlap_fraction(shifts[neighbours], tile_shape),
        along_rows=relative[neighbours, 0] > relative[neighbours, 1],
    )


def derived_minimum_overlap(neighbours: NeighbourOverlaps) -> float:
    """The --minimum_overlap to use when the user gives none: upstream's 0.2 while it leaves no
    neighbour pair out; otherwise half the scan's typical neighbour overlap (real grids often
    overlap by only 10 %, and a threshold above that leaves a spanning tree where loops could
    catch a bad match). Keeping 0.2 when it suffices keeps diagonal pairs out of wide-overlap
    scans, as upstream does."""
    typical = neighbours.typical_overlap()
    if typical is None or bool(np.all(neighbours.fractions >= UPSTREAM_MINIMUM_OVERLAP)):
        return UPSTREAM_MINIMUM_OVERLAP
    return min(UPSTREAM_MINIMUM_OVERLAP, 0.5 * typical)


def neighbours_left_out(neighbours: NeighbourOverlaps, pairs: list[CandidatePair]) -> int:
    """How many neighbour pairs are not among the candidate ``pairs``."""
    chosen = {(p.i, p.j) for p in pairs}
    return sum(pair not in chosen for pair in map(tuple, neighbours.pairs.tolist()))


def candidate_pairs(
    stage_positions_px: np.ndarray,
    tile_shape: tuple[int, int],
    minimum_overlap: float,
    overlapping: np.ndarray | None = None,
) -> list[CandidatePair]:
    """Pairs (i < j) whose stage positions overlap by at least ``minimum_overlap`` of a tile,
    plus the fewest smaller overlaps that join the scan into one connected piece.
    ``overlapping``: `overlapping_pairs` of these positions, when the caller has them.

    The extra pairs matter on strips and sparse scans: stage error can shrink one link's
    apparent overlap below the limit, and a chain with a missing link cannot be placed from
    the images.
    """
    positions = np.asarray(stage_positions_px, dtype=float).reshape(-1, 2)
    close = overlapping_pairs(positions, tile_shape) if overlapping is None else overlapping
    if len(close) == 0:
        return []
    shifts = positions[close[:, 1]] - positions[close[:, 0]]
    fractions = overlap_fraction(shifts, tile_shape)
    keep = fractions >= minimum_overlap
    keep |= _joining_pairs(len(positions), close, fractions, keep)
    # Plain Python numbers from .tolist(): converting numpy scalars one by one took as long
    # as finding the pairs (1,600 tiles).
    return [
        CandidatePair(i=i, j=j, expected_shift=(s_row, s_col), overlap_fraction=f)
        for (i, j), (s_row, s_col), f in zip(
            close[keep].tolist(), shifts[keep].tolist(), fractions[keep].tolist(), strict=True
        )
    ]


# Up to this many tiles, all pairs are checked with numpy at once (a few milliseconds); larger
# scans use scipy's k-d tree, whose import alone costs more than that check on small scans.
ALL_PAIRS_LIMIT = 2048


def overlapping_pairs(stage_positions_px: np.ndarray, tile_shape: tuple[int, int]) -> np.ndarray:
    """(m, 2) index pairs i < j of tiles whose rectangles overlap at all, sorted."""
    positions = np.asarray(stage_positions_px, dtype=float).reshape(-1, 2)
    if len(positions) < 2:
        return np.empty((0, 2), np.int64)
    height, width = tile_shape
    if len(positions) <= ALL_PAIRS_LIMIT:
        return _overlapping_pairs_swept(positions, (float(height), float(width)))
    from scipy.spatial import cKDTree

    within = cKDTree(positions).query_pairs(float(np.hypot(height, width)), output_type="ndarray")
    within = within[np.lexsort((within[:, 1], within[:, 0]))]
    gap = np.abs(positions[within[:, 1]] - positions[within[:, 0]])
    return within[(gap[:, 0] < height) & (gap[:, 1] < width)].astype(np.int64)


def _overlapping_pairs_swept(positions: np.ndarray, size: tuple[float, float]) -> np.ndarray:
    """`overlapping_pairs` by a sweep along the scan's longer axis (in tile sizes): each tile
    is checked only against the tiles less than a tile further along it. Checking all pairs
    at once took 0.12 s at 1,600 tiles (1.3 million pairs); this checks about 3 per tile in a
    square scan, and no more pairs than that in any scan."""
    n = len(positions)
    extent = np.ptp(positions, axis=0) / np.asarray(size)
    axis = int(np.argmax(extent))
    order = np.argsort(positions[:, axis], kind="stable")
    along = positions[order, axis]
    # Tiles order[a + 1 : reach[a]] lie less than a tile further along the axis than order[a].
    reach = np.searchsorted(along, along + size[axis], side="left")
    counts = reach - np.arange(n) - 1
    first = np.repeat(np.arange(n), counts)
    # The k-th tile after a: a + 1 + k, k counted from each run's start.
    starts = np.cumsum(counts) - counts
    second = first + 1 + (np.arange(len(first)) - np.repeat(starts, counts))
    a, b = order[first], order[second]
    gap = np.abs(positions[b] - positions[a])
    touching = (gap[:, 0] < size[0]) & (gap[:, 1] < size[1])
    pairs = np.sort(np.column_stack([a[touching], b[touching]]), axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64).reshape(-1, 2)


def _joining_pairs(
    n: int, close: np.ndarray, fractions: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Mask of the largest-overlap pairs (overlap > 0) that connect the pieces ``kept`` leaves
    apart (Kruskal's algorithm over the remaining pairs, largest overlap first)."""
    groups = DisjointSets(n)
    pieces = n
    for i, j in close[kept].tolist():
        pieces -= groups.join(i, j)
    joining = np.zeros(len(close), dtype=bool)
    if pieces == 1:  # the usual case: the kept pairs join the scan already
        return joining
    order = np.argsort(-fractions)
    order = order[~kept[order] & (fractions[order] > 0)]
    for k, (i, j) in zip(order.tolist(), close[order].tolist(), strict=True):
        joining[k] = groups.join(i, j)
    return joining


def isolated_tiles(n_tiles: int, pairs: list[CandidatePair]) -> list[int]:
    """Indices of tiles that take part in no candidate pair."""
    linked = np.zeros(n_tiles, dtype=bool)
    for pair in pairs:
        linked[pair.i] = linked[pair.j] = True
    return [int(t) for t in np.flatnonzero(~linked)]
