"""Memory: decoded tiles kept between stages, so each tile is decoded once per run.

Pair measurement decodes every tile; rendering needs every tile again. When the decoded scan
fits in a memory budget, measurement leaves its decoded tiles here and the renderer composes
from memory instead of decoding each file a second time. Bigger scans are not kept (the
renderer then streams tiles from disk), so memory stays bounded whatever the scan size.

For small machines (``--priority memory``), `hand_back_large_blocks` makes what the process
holds follow what it uses, which the C library's defaults do not.
"""

from __future__ import annotations

import functools
import os
import sys
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

    def clear_in_background(self) -> None:
        """Empty the store now and free the pixels on a thread. Handing back the pages of
        decoded tiles is the kernel's work and takes time (36 tiles of 8 MP: 0.11-0.16 CPU-s
        of unmapping), which the run need not wait for once the mosaics are written."""
        with self._lock:
            pixels, self._pixels = self._pixels, {}
        if pixels:
            threading.Thread(
                target=_let_go, args=(pixels,), name="ofs-free-tiles", daemon=True
            ).start()


def _let_go(pixels: dict[int, np.ndarray]) -> None:
    """Drop the tiles one at a time (not one ``dict.clear``, a single call that would hold
    the interpreter lock until every tile is freed)."""
    while pixels:
        pixels.popitem()


# Blocks at least this large get memory of their own, returned to the system when freed (see
# hand_back_large_blocks): tiles, strips and transforms; small objects stay on the heap.
LARGE_BLOCK_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def hand_back_large_blocks() -> None:
    """From now on, in this whole process, give every block of `LARGE_BLOCK_BYTES` or more
    memory of its own, returned to the system as soon as it is freed (glibc; elsewhere nothing
    changes). For --priority memory: it costs time, as every such block's pages are new to the
    process (measured on an 8x8 scan of 8-megapixel tiles: about 6 of 20 CPU-seconds while
    measuring pairs, 3 of 10 while writing the mosaic).

    By default glibc serves blocks of up to 32 MB from heaps that it keeps for reuse, one per
    thread: a run that allocates and frees many strip-sized arrays from several threads holds far
    more than it ever uses at once (measured on an 8x8 scan of 8-megapixel tiles: 1.4 GB
    resident for about 0.5 GB in use). Once set, the setting stays: glibc cannot return to its
    adaptive default.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


def peak_resident_bytes() -> int | None:
    """The most memory this process has held at once so far (its peak resident set size), or
    None where the system does not say (Windows)."""
    # Linux: the high-water mark of this process's own memory. ru_maxrss would carry over the
    # peak of the process that started this one (Linux keeps it across fork and exec), so a
    # run started from a large process would report that process's peak.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux and the BSDs count kilobytes, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


@functools.cache
def _libc_function(name: str):  # type: ignore[no-untyped-def]
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)  # the C library this process runs on
    except (OSError, AttributeError):
        return None


def give_back_free_memory() -> None:
    """Return the free memory of glibc's heaps to the system now (malloc_trim; elsewhere
    nothing). For loops that allocate and free frame-sized arrays from several threads without
    end (a time series): glibc keeps what each thread's heap freed for reuse and, fragmented, the
    process grew by about a frame per frame (measured: 544 MB after 400 frames of 512^2, 96 MB
    when trimmed after every block of frames, for about 5 % more CPU; `hand_back_large_blocks`
    held 184 MB for 28 % more)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
