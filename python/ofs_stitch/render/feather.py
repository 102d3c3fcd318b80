"""The ``feather`` rule: every covering tile contributes, weighted by a product of linear ramps
that fall from the tile's centre to its edges, so seams fade out; tiles are resampled
(Catmull-Rom cubic) to their exact sub-pixel positions.

Every pixel is computed from its own inputs alone, with the tiles summed in index order, so a
window holds exactly the pixels a render of the whole canvas has there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.pixel_format import PixelFormat
from ..io.strips import StripRequest
from .geometry import MosaicGeometry
from .painting import Strips, Window

# Positions closer than this to a whole pixel are treated as whole (no resampling).
WHOLE_PIXEL_TOLERANCE = 1e-6


def _cubic_weights(fraction: float) -> np.ndarray:
    """Catmull-Rom weights for samples at offsets -1, 0, 1, 2 around a point ``fraction``
    past sample 0 (they sum to 1 and reproduce straight lines exactly)."""
    t = fraction
    return 0.5 * np.array(
        [-(t**3) + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2],
        np.float32,
    )


@dataclass(frozen=True)
class _Axis:
    """How a tile covers one canvas axis when resampled to its sub-pixel position."""

    first: int  # first canvas index covered
    count: int  # number of canvas indices covered
    fraction: float  # tile coordinate of canvas index `first` is exactly `fraction`
    size: int  # tile size along the axis

    @classmethod
    def of(cls, position: float, size: int) -> _Axis:
        nearest = round(position)
        if abs(position - nearest) < WHOLE_PIXEL_TOLERANCE:
            return cls(int(nearest), size, 0.0, size)
        first = int(np.ceil(position))
        fraction = first - position
        # Tile coordinates fraction, fraction + 1, ... up to size - 1.
        return cls(first, size - 1, float(fraction), size)

    @property
    def stop(self) -> int:
        """One past the last canvas index covered."""
        return self.first + self.count

    def covered(self, start: int, stop: int) -> tuple[int, int]:
        """The canvas indices in [start, stop) that the tile covers (empty: equal ends)."""
        lo = max(start, self.first)
        return lo, max(lo, min(stop, self.stop))

    def reads(self, start: int, stop: int) -> tuple[int, int]:
        """Tile indices [lo, hi) that resampling canvas indices [start, stop) reads (the cubic
        stencil reaches one sample back and two ahead)."""
        back, ahead = (1, 2) if self.fraction else (0, 0)
        return (
            max(0, start - self.first - back),
            min(self.size, stop - 1 - self.first + ahead + 1),
        )

    def ramp(self, start: int, stop: int) -> np.ndarray:
        """Feather weight at canvas indices [start, stop): distance to the nearer tile edge,
        plus one so that edge pixels still count."""
        u = np.arange(start - self.first, stop - self.first, dtype=np.float32) + self.fraction
        return np.minimum(u + 1, self.size - u)

    def resample(
        self, values: np.ndarray, start: int, stop: int, offset: int, axis: int
    ) -> np.ndarray:
        """Values at canvas indices [start, stop) from tile samples ``values`` along ``axis``,
        where ``values`` holds tile indices offset, offset + 1, ..."""
        base = np.arange(start - self.first, stop - self.first)
        if self.fraction == 0.0:
            return np.take(values, base - offset, axis=axis).astype(np.float32)
        taps = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, self.size - 1) - offset
        weights = _cubic_weights(self.fraction)
        result = None
        for k in range(4):
            term = np.take(values, taps[:, k], axis=axis).astype(np.float32) * weights[k]
            result = term if result is None else result + term
        return result  # type: ignore[return-value]


class FeatherPainter:
    """Paints windows of ``layout`` as the weighted average of all covering tiles, each
    resampled to its exact position."""

    def __init__(self, layout: MosaicGeometry) -> None:
        self.rows = [
            _Axis.of(float(p), int(s))
            for p, s in zip(layout.positions[:, 0], layout.shapes[:, 0], strict=True)
        ]
        self.cols = [
            _Axis.of(float(p), int(s))
            for p, s in zip(layout.positions[:, 1], layout.shapes[:, 1], strict=True)
        ]
        # The covered canvas ranges as arrays, to find the tiles of a window at once.
        self._row_first = np.array([ax.first for ax in self.rows], np.int64)
        self._row_stop = np.array([ax.stop for ax in self.rows], np.int64)
        self._col_first = np.array([ax.first for ax in self.cols], np.int64)
        self._col_stop = np.array([ax.stop for ax in self.cols], np.int64)
        # A one-pixel tile at a sub-pixel position covers no canvas pixel at all.
        self._covers = (self._row_stop > self._row_first) & (self._col_stop > self._col_first)

    def _reaching(self, window: Window) -> np.ndarray:
        return np.flatnonzero(
            self._covers
            & (self._row_first < window.y1)
            & (self._row_stop > window.y0)
            & (self._col_first < window.x1)
            & (self._col_stop > window.x0)
        )

    def needs(self, window: Window) -> list[StripRequest]:
        """The tile pixels the cubic stencil reaches from the window's covered pixels."""
        requests = []
        for t in self._reaching(window):
            ax_r, ax_c = self.rows[t], self.cols[t]
            row0, row1 = ax_r.reads(*ax_r.covered(window.y0, window.y1))
            col0, col1 = ax_c.reads(*ax_c.covered(window.x0, window.x1))
            requests.append(StripRequest(int(t), row0, row1, col0, col1))
        return requests

    def paint(
        self, window: Window, strips: Strips, fmt: PixelFormat
    ) -> tuple[np.ndarray, np.ndarray]:
        total = np.zeros((window.rows, window.cols, fmt.bands), np.float32)
        weight = np.zeros((window.rows, window.cols), np.float32)
        # Float sums depend on their order: tiles are always added in index order.
        for t in sorted(strips):
            held, pixels = strips[t]
            ax_r, ax_c = self.rows[t], self.cols[t]
            q0, q1 = ax_r.covered(window.y0, window.y1)
            c0, c1 = ax_c.covered(window.x0, window.x1)
            if q0 == q1 or c0 == c1:
                continue
            by_rows = ax_r.resample(pixels, q0, q1, held.row0, axis=0)
            resampled = ax_c.resample(by_rows, c0, c1, held.col0, axis=1)
            w = ax_r.ramp(q0, q1)[:, None] * ax_c.ramp(c0, c1)[None, :]
            rows = slice(q0 - window.y0, q1 - window.y0)
            cols = slice(c0 - window.x0, c1 - window.x0)
            total[rows, cols] += resampled * w[:, :, None]
            weight[rows, cols] += w
        covered = weight > 0
        np.divide(total, weight[:, :, None], out=total, where=covered[:, :, None])
        np.rint(total, out=total)
        np.clip(total, 0, fmt.max_value, out=total)
        return total.astype(fmt.dtype), covered
