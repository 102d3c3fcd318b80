"""The pyramid: each level's chunk made from the 2 x 2 chunks of the level above it.

A chunk of level k + 1 reads back the up to four chunks of level k it covers (already written:
its task depends on theirs) and halves them by 2 x 2 means in C++
(`_core.compose.halve`, the GIL released). Chunks whose sources are all empty stay empty.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .ome_zarr import ZarrTarget, read_region, write_chunk


def sources(target: ZarrTarget, level: int, i: int, j: int) -> list[tuple[int, int]]:
    """The chunks of ``level - 1`` that chunk (i, j) of ``level`` is made from."""
    h, w = target.levels[level - 1]
    c = target.chunk
    rows = [r for r in (2 * i, 2 * i + 1) if r * c < h]
    cols = [k for k in (2 * j, 2 * j + 1) if k * c < w]
    return [(r, k) for r in rows for k in cols]


def source_region(target: ZarrTarget, level: int, i: int, j: int) -> tuple[int, int, int, int]:
    """Rows [y0, y1) and columns [x0, x1) of ``level - 1`` that chunk (i, j) of ``level``
    halves."""
    h, w = target.levels[level - 1]
    c = target.chunk
    y0, x0 = 2 * i * c, 2 * j * c
    return y0, min(h, y0 + 2 * c), x0, min(w, x0 + 2 * c)


def halve(above: np.ndarray) -> np.ndarray:
    """2 x 2 means of (rows, cols, bands) pixels (at an odd last row or column, the mean of
    the pixels that exist)."""
    out = np.empty(
        ((above.shape[0] + 1) // 2, (above.shape[1] + 1) // 2, above.shape[2]), above.dtype
    )
    _core.compose.halve(above, out)
    return out


def halve_chunk(target: ZarrTarget, level: int, i: int, j: int) -> np.ndarray:
    """Chunk (i, j) of ``level`` computed from ``level - 1`` (rows, cols, bands)."""
    return halve(read_region(target, level - 1, *source_region(target, level, i, j)))


def write_halved(target: ZarrTarget, level: int, i: int, j: int) -> int:
    """Compute and write chunk (i, j) of ``level``; returns the bytes written."""
    pixels = halve_chunk(target, level, i, j)
    write_chunk(target, level, i, j, pixels)
    return int(pixels.nbytes)
