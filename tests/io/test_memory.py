"""Decoded tiles kept between pair measurement and rendering."""

from __future__ import annotations

import numpy as np

from ofs_stitch.io.memory import TileStore


def test_keeps_tiles_that_fit_the_budget() -> None:
    store = TileStore(expected_tiles=4, tile_bytes=100, budget_bytes=400)
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    store.keep(2, pixels)
    assert store.enabled
    assert store.get(2) is pixels
    assert store.get(0) is None
    store.clear()
    assert store.get(2) is None


def test_keeps_nothing_when_the_scan_would_not_fit() -> None:
    store = TileStore(expected_tiles=5, tile_bytes=100, budget_bytes=400)
    store.keep(0, np.zeros((2, 2), np.uint8))
    assert not store.enabled
    assert store.get(0) is None


def test_default_budget_is_at_most_a_quarter_of_memory_and_one_gib() -> None:
    store = TileStore(expected_tiles=1, tile_bytes=(1 << 30) + 1)
    assert not store.enabled
