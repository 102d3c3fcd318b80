"""Decoded tiles kept between pair measurement and rendering; the process's memory: its peak,
and freed memory handed back to the system (--priority memory)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.io.memory import TileStore, peak_resident_bytes


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


def test_peak_resident_bytes_grows_with_what_the_process_holds() -> None:
    before = peak_resident_bytes()
    assert before is not None and before > 10 * 2**20  # Python and numpy alone take more
    held = np.ones(before // 8 + 64 * 2**20, dtype=np.uint8)  # touched: all resident
    after = peak_resident_bytes()
    assert after is not None and after >= held.nbytes
    del held


# Allocates and frees blocks of 8 MB, then reports how much of the last one stays resident.
HELD_AFTER_FREE = """
import sys
import numpy as np
from ofs_stitch.io.memory import hand_back_large_blocks

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

if sys.argv[1] == "hand-back":
    hand_back_large_blocks()
np.ones(8 << 20, np.uint8)  # freed at once: glibc then keeps blocks this large for reuse
before = resident()
block = np.ones(8 << 20, np.uint8)
small = [np.ones(1000) for _ in range(50)]  # lands above the block on the heap
del block
print(resident() - before)
"""


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not Path("/proc/self/statm").exists(),
    reason="glibc's allocator on Linux",
)
def test_freed_large_blocks_go_back_to_the_system() -> None:
    def held(how: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", HELD_AFTER_FREE, how], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    assert held("default") >= 6 << 20  # glibc's default keeps the freed block
    assert held("hand-back") < 2 << 20
