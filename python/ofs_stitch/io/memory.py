"""Decoded tiles kept between stages, so each tile is decoded once per run.

Pair measurement decodes every tile; rendering needs every tile again. When the decoded scan
fits in a memory budget, measurement leaves its decoded tiles here and the renderer composes
from memory instead of decoding each file a second time. Bigger scans are not kept (the
renderer then streams tiles from disk), so memory stays bounded whatever the scan size.
"""

from __future__ import annotations

import os
import threading

import numpy as np

# Keep decoded tiles when they need at most this many bytes in total (or a quarter of the
# machine's memory, when that is smaller).
DEFAULT_BUDGET_BYTES = 1 << 30


def default_budget() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_BUDGET_BYTES
    return int(min(DEFAULT_BUDGET_BYTES, physical // 4))


class TileStore:
    """Thread-safe map tile index -> decoded pixels, refusing to grow past its budget."""

    def __init__(
        self, expected_tiles: int, tile_bytes: int, budget_bytes: int | None = None
    ) -> None:
        budget = default_budget() if budget_bytes is None else budget_bytes
        # Decide up front: keeping only some tiles would save little and complicate rendering.
        self.enabled = expected_tiles * tile_bytes <= budget
        self._pixels: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def keep(self, index: int, pixels: np.ndarray) -> None:
        if self.enabled:
            with self._lock:
                self._pixels[index] = pixels

    def get(self, index: int) -> np.ndarray | None:
        with self._lock:
            return self._pixels.get(index)

    def clear(self) -> None:
        with self._lock:
            self._pixels.clear()
