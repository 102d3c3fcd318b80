"""Decoded tiles kept for the pairs their later neighbours will form.

A new tile's pairs are with tiles captured shortly before (the previous tile, the row before):
keeping the most recent decoded tiles, up to the memory budget a batch run would use for its
decoded tiles, spares decoding them again. The oldest go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ...io.memory import TileStore, default_budget


class RecentTiles(TileStore):
    """A `TileStore` (what `measure_pairs` reads decoded tiles from and leaves them in) that
    keeps the most recently used tiles within ``budget_bytes``."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        super().__init__(0, 0, 0)
        self.enabled = True
        self._budget = default_budget() if budget_bytes is None else budget_bytes
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def keep(self, index: int, pixels: np.ndarray) -> None:
        with self._lock:
            old = self._recent.pop(index, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._recent[index] = pixels
            self._bytes += pixels.nbytes
            while self._bytes > self._budget and len(self._recent) > 1:
                _, dropped = self._recent.popitem(last=False)
                self._bytes -= dropped.nbytes

    def get(self, index: int) -> np.ndarray | None:
        with self._lock:
            pixels = self._recent.get(index)
            if pixels is not None:
                self._recent.move_to_end(index)
            return pixels

    def forget(self, index: int) -> None:
        with self._lock:
            old = self._recent.pop(index, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._bytes = 0

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return self._bytes
