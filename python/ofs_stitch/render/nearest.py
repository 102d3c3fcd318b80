"""The ``nearest`` rule (as upstream): each pixel from the covering tile with the nearest
centre; tiles sit on whole pixels (positions rounded), nothing is averaged.

The compiled core resolves the rule exactly, run by run along each row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _core
from ..io.pixel_format import PixelFormat
from ..io.strips import StripRequest
from .geometry import MosaicGeometry
from .painting import Strips, Window


class NearestPainter:
    """Paints windows of ``layout`` under the nearest-centre rule."""

    def __init__(self, layout: MosaicGeometry) -> None:
        self.tops = layout.placements
        self.shapes = layout.shapes
        self.bottoms = self.tops + self.shapes  # (row, col) one past the footprint's end

    def needs(self, window: Window) -> list[StripRequest]:
        """The window's part of every tile reaching into it (the rule must see every covering
        tile: a missing one would hand its pixels to a farther one)."""
        live = np.flatnonzero(
            (self.tops[:, 0] < window.y1)
            & (self.bottoms[:, 0] > window.y0)
            & (self.tops[:, 1] < window.x1)
            & (self.bottoms[:, 1] > window.x0)
        )
        return [
            StripRequest(
                int(t),
                int(max(window.y0, self.tops[t, 0]) - self.tops[t, 0]),
                int(min(window.y1, self.bottoms[t, 0]) - self.tops[t, 0]),
                int(max(window.x0, self.tops[t, 1]) - self.tops[t, 1]),
                int(min(window.x1, self.bottoms[t, 1]) - self.tops[t, 1]),
            )
            for t in live
        ]

    def paint(
        self, window: Window, strips: Strips, fmt: PixelFormat
    ) -> tuple[np.ndarray, np.ndarray]:
        colour = np.empty((window.rows, window.cols, fmt.bands), fmt.dtype)
        covered = np.empty((window.rows, window.cols), bool)
        # The kernel paints full-width bands of a canvas: the window is such a band of a canvas
        # whose column 0 is the window's first column. Every tile moves by the same -x0, so
        # every distance between a pixel and a centre, and with it every owner, is unchanged.
        x0 = window.x0
        tiles = []
        for t, (held, pixels) in strips.items():
            top, left = int(self.tops[t, 0]), int(self.tops[t, 1])
            height, width = int(self.shapes[t, 0]), int(self.shapes[t, 1])
            tiles.append(
                (t, top, left - x0, height, width, top + held.row0, left + held.col0 - x0, pixels)
            )
        _core.compose.paint_nearest(colour, covered, window.y0, tiles)
        return colour, covered


def paint_nearest_window(
    y0: int,
    x0: int,
    shape: tuple[int, int, int],
    tiles: Sequence[tuple[int, int, np.ndarray]],
) -> np.ndarray:
    """The canvas window of ``shape`` (rows, cols, bands) from (``y0``, ``x0``) under the rule,
    from whole tiles held in memory: ``tiles`` are (top, left, pixels) in canvas pixels, every
    tile reaching into the window (ties go to the earlier one); uncovered pixels are 0.
    ``pixels``: (rows, cols, bands) of the window's dtype (uint8 or uint16), any strides."""
    colour = np.empty(shape, tiles[0][2].dtype if tiles else np.uint8)
    covered = np.empty(shape[:2], bool)
    # A band of a canvas whose column 0 is the window's first column (see NearestPainter).
    entries = [
        (k, top, left - x0, pixels.shape[0], pixels.shape[1], top, left - x0, pixels)
        for k, (top, left, pixels) in enumerate(tiles)
    ]
    _core.compose.paint_nearest(colour, covered, y0, entries)
    return colour
