"""The pyramid: each level's chunk made from the 2 x 2 chunks of the level above it.

A chunk of level k + 1 reads back the up to four chunks of level k it covers (already written:
its task depends on theirs) and halves them by 2 x 2 means in C++
(`_core.compose.halve`, the GIL released). Chunks whose sources are all empty stay empty.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .ome_zarr import ZarrTarget, read_region


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


def halve_from_parts(
    target: ZarrTarget, level: int, i: int, j: int, parts: dict[tuple[int, int], np.ndarray]
) -> np.ndarray:
    """Chunk (i, j) of ``level`` assembled from its sources' halves: ``parts`` holds those
    the tasks that wrote the sources halved in memory (by source index); any other source is
    read back from ``level - 1`` and halved here. The same pixels as halving the sources'
    region at once: a chunk's size is even, so no 2 x 2 mean straddles two sources."""
    y0, y1, x0, x1 = source_region(target, level, i, j)
    out = np.empty(((y1 - y0 + 1) // 2, (x1 - x0 + 1) // 2, target.bands), np.dtype(target.dtype))
    c = target.chunk
    h, w = target.levels[level - 1]
    for r, k in sources(target, level, i, j):
        part = parts.get((r, k))
        if part is None:
            part = halve(
                read_region(
                    target, level - 1, r * c, min(h, (r + 1) * c), k * c, min(w, (k + 1) * c)
                )
            )
        top, left = r * c // 2 - y0 // 2, k * c // 2 - x0 // 2
        out[top : top + part.shape[0], left : left + part.shape[1]] = part
    return out
