"""Laplacian pyramids on the compiled core (``_core.focus``): build one, collapse one.

Level 0 is the finest. A pyramid of ``levels`` Laplacian levels has ``levels + 1`` arrays: the
band-pass levels, then the low-pass residual. Collapsing gives back the image exactly (to float32
rounding), whatever was done to the levels in between, because building and collapsing use the
same interpolation.
"""

from __future__ import annotations

import math

import numpy as np

from .._core import focus

# The residual keeps at least this many pixels along its shorter side.
MIN_RESIDUAL_SIZE = 8
MAX_LEVELS = 7


def level_count(shape: tuple[int, int], requested: int | None = None) -> int:
    """How many Laplacian levels an image of ``shape`` gets (``requested``, or as many as keep the
    residual at least MIN_RESIDUAL_SIZE, up to MAX_LEVELS)."""
    shortest = min(shape)
    possible = max(0, int(math.floor(math.log2(max(shortest, 1) / MIN_RESIDUAL_SIZE))))
    if requested is not None:
        return max(0, min(int(requested), possible))
    return min(possible, MAX_LEVELS)


def level_shapes(shape: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    shapes = [shape]
    for _ in range(levels):
        rows, cols = shapes[-1]
        shapes.append(((rows + 1) // 2, (cols + 1) // 2))
    return shapes


def build(
    image: np.ndarray, levels: int, threads: int, *, in_place: bool = False
) -> list[np.ndarray]:
    """The Laplacian pyramid of a float32 (rows, cols[, channels]) image. ``in_place``: the
    caller gives ``image`` up, and its memory becomes the finest level (saves one copy)."""
    current = np.ascontiguousarray(image, dtype=np.float32)
    pyramid: list[np.ndarray] = []
    for _ in range(levels):
        rows, cols = current.shape[:2]
        smaller = np.empty(((rows + 1) // 2, (cols + 1) // 2, *current.shape[2:]), np.float32)
        focus.reduce(current, smaller, threads)
        # The caller's image is never written: the first level is a copy when it is the input.
        band = current.copy() if current is image and not in_place else current
        focus.expand_add(smaller, band, -1.0, threads)
        pyramid.append(band)
        current = smaller
    pyramid.append(current)
    return pyramid


def collapse(pyramid: list[np.ndarray], threads: int) -> np.ndarray:
    """The image whose Laplacian pyramid is ``pyramid`` (the levels are modified in place)."""
    current = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        focus.expand_add(current, band, 1.0, threads)
        current = band
    return current
