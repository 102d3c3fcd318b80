"""Which tiles are near a stage position, without looking at every tile.

Tiles go into buckets one tile size a side by their stage position; two tiles that overlap
are at most one bucket apart in each direction, so a new tile's candidate pairs are among the
3 x 3 buckets around it, and the tiles within ``reach`` tiles among (2 reach + 1)^2 buckets:
the work per tile stays the same however large the scan grows.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np


class StageGrid:
    """Slots bucketed by stage position (pixels, (row, col)); ``cell``: the tile shape."""

    def __init__(self, cell: tuple[int, int]) -> None:
        self.cell = (max(1.0, float(cell[0])), max(1.0, float(cell[1])))
        self._buckets: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        self._bucket_of: dict[int, tuple[int, int]] = {}

    def _key(self, position: np.ndarray | tuple[float, float]) -> tuple[int, int]:
        return (
            math.floor(float(position[0]) / self.cell[0]),
            math.floor(float(position[1]) / self.cell[1]),
        )

    def put(self, slot: int, position: np.ndarray | tuple[float, float]) -> None:
        self.discard(slot)
        key = self._key(position)
        self._buckets[key].add(slot)
        self._bucket_of[slot] = key

    def discard(self, slot: int) -> None:
        key = self._bucket_of.pop(slot, None)
        if key is not None:
            self._buckets[key].discard(slot)

    def near(self, position: np.ndarray | tuple[float, float], reach: int = 1) -> list[int]:
        """The slots in the buckets within ``reach`` of ``position``'s, in slot order (a
        superset of the tiles within ``reach`` tile sizes of it)."""
        row, col = self._key(position)
        found: list[int] = []
        for r in range(row - reach, row + reach + 1):
            for c in range(col - reach, col + reach + 1):
                bucket = self._buckets.get((r, c))
                if bucket:
                    found.extend(bucket)
        found.sort()
        return found
