"""What every painter works on: a window of the output canvas and the tile pixels it reads.

A painter turns the pixels of the tiles that reach into a window into the window's pixels. It
is told nothing about the windows painted before or after, so any driver can use it: the band
streamer that feeds the JPEG, TIFF and Deep Zoom writers paints full-width windows top to
bottom; a chunked writer paints one chunk-sized window at a time. A window's pixels are exactly
the same rows and columns cut from a render of the whole canvas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..io.pixel_format import PixelFormat
from ..io.strips import StripRequest

# Per tile: which of its pixels an array holds (tile rows and columns), and the array
# (rows, cols, bands). A painter may be handed more of a tile than it asked for.
Strips = Mapping[int, tuple[StripRequest, np.ndarray]]


@dataclass(frozen=True)
class Window:
    """Canvas rows [y0, y0 + rows) and columns [x0, x0 + cols)."""

    y0: int
    x0: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if self.y0 < 0 or self.x0 < 0 or self.rows < 1 or self.cols < 1:
            raise ValueError(f"{self} is not a window: it needs y0, x0 >= 0 and rows, cols >= 1")

    @property
    def y1(self) -> int:
        """One past the last row."""
        return self.y0 + self.rows

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x0 + self.cols

    def inside(self, height: int, width: int) -> bool:
        """True when the window lies within a canvas of this size."""
        return self.y1 <= height and self.x1 <= width


def band_windows(height: int, width: int, rows_per_band: int) -> list[Window]:
    """Full-width windows of ``rows_per_band`` rows (the last one shorter) covering the canvas,
    top to bottom."""
    return [
        Window(y0, 0, min(rows_per_band, height - y0), width)
        for y0 in range(0, height, rows_per_band)
    ]


class Painter(Protocol):
    """One rule for choosing pixels where tiles overlap (see `compose`)."""

    def needs(self, window: Window) -> list[StripRequest]:
        """The pixels of each tile that painting ``window`` reads, in tile order; tiles that
        do not reach into the window are left out."""
        ...

    def paint(
        self, window: Window, strips: Strips, fmt: PixelFormat
    ) -> tuple[np.ndarray, np.ndarray]:
        """The window's colour (rows, cols, bands) in ``fmt`` and which of its pixels a tile
        covers (rows, cols) bool; uncovered colour is 0. ``strips`` holds at least the pixels
        `needs` asked for, for every tile it named."""
        ...
