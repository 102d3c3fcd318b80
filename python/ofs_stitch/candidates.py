"""Which tiles to correlate: pairs whose stage positions say they overlap enough."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .measurements import CandidatePair


def overlap_fraction(shift: np.ndarray, tile_shape: tuple[int, int]) -> np.ndarray:
    """Overlap area / tile area of equal-size tiles displaced by ``shift`` ((m, 2) rows, cols)."""
    height, width = tile_shape
    rows = np.clip(height - np.abs(shift[:, 0]), 0, None)
    cols = np.clip(width - np.abs(shift[:, 1]), 0, None)
    return rows * cols / float(height * width)


def candidate_pairs(
    stage_positions_px: np.ndarray, tile_shape: tuple[int, int], minimum_overlap: float
) -> list[CandidatePair]:
    """Pairs (i < j) whose stage positions overlap by at least ``minimum_overlap`` of a tile,
    plus the fewest smaller overlaps that join the scan into one connected piece.

    The extra pairs matter on strips and sparse scans: stage error can shrink one link's
    apparent overlap below the limit, and a chain with a missing link cannot be placed from
    the images. A k-d tree finds neighbours within a tile diagonal, so large scans cost
    O(n log n), not n^2.
    """
    positions = np.asarray(stage_positions_px, dtype=float).reshape(-1, 2)
    if len(positions) < 2:
        return []
    reach = float(np.hypot(*tile_shape))
    close = np.array(sorted(cKDTree(positions).query_pairs(reach)), dtype=np.int64).reshape(-1, 2)
    if len(close) == 0:
        return []
    shifts = positions[close[:, 1]] - positions[close[:, 0]]
    fractions = overlap_fraction(shifts, tile_shape)
    keep = fractions >= minimum_overlap
    keep |= _joining_pairs(len(positions), close, fractions, keep)
    return [
        CandidatePair(i=int(i), j=int(j), expected_shift=(float(s[0]), float(s[1])), overlap_fraction=float(f))
        for (i, j), s, f in zip(close[keep], shifts[keep], fractions[keep])
    ]


def _joining_pairs(
    n: int, close: np.ndarray, fractions: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Mask of the largest-overlap pairs (overlap > 0) that connect the pieces ``kept`` leaves
    apart (Kruskal's algorithm over the remaining pairs, largest overlap first)."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in close[kept]:
        parent[root(int(i))] = root(int(j))
    joining = np.zeros(len(close), dtype=bool)
    for k in np.argsort(-fractions):
        if kept[k] or fractions[k] <= 0:
            continue
        a, b = root(int(close[k, 0])), root(int(close[k, 1]))
        if a != b:
            parent[a] = b
            joining[k] = True
    return joining


def isolated_tiles(n_tiles: int, pairs: list[CandidatePair]) -> list[int]:
    """Indices of tiles that take part in no candidate pair."""
    linked = np.zeros(n_tiles, dtype=bool)
    for pair in pairs:
        linked[pair.i] = linked[pair.j] = True
    return [int(t) for t in np.flatnonzero(~linked)]
