"""Painting tiles that carry per-tile affine maps (``--transform affine``).

Each tile reaching a window is warped into it by the core's kernels (`core.warp`): the window
pixel's canvas position goes back through the tile's inverse map into the strip of the tile
that was read. The two rules of the translation painters, with tile coordinates in place of
offsets:

- ``nearest``: each pixel from the covering tile whose mapped centre is nearest, sampled at the
  nearest tile pixel (nothing is averaged);
- ``feather``: the weighted mean of every covering tile, each sampled bilinearly, weighted by
  the product of its distances to the nearer edge along each tile axis (plus one), as
  `render.feather` does.
"""

from __future__ import annotations

import numpy as np

from ..core.warp import warp_affine
from ..io.pixel_format import PixelFormat
from ..io.strips import StripRequest
from .geometry import MosaicGeometry
from .painting import Strips, Window

# Tile pixels read beyond a window's exact preimage: the bilinear stencil's second sample and
# rounding of the mapped corners.
_READ_MARGIN = 2


class AffinePainter:
    """Paints windows of a layout with per-tile affines under ``blend``'s rule."""

    def __init__(self, layout: MosaicGeometry, blend: str) -> None:
        assert layout.affines is not None
        self.maps = layout.affines
        self.inverse = np.linalg.inv(self.maps)
        self.shapes = layout.shapes
        self.blend = blend
        h, w = self.shapes[:, 0].astype(float), self.shapes[:, 1].astype(float)
        corners = np.stack(
            [
                np.stack([-0.5 * np.ones_like(h), -0.5 * np.ones_like(w)], 1),
                np.stack([-0.5 * np.ones_like(h), w - 0.5], 1),
                np.stack([h - 0.5, -0.5 * np.ones_like(w)], 1),
                np.stack([h - 0.5, w - 0.5], 1),
            ],
            1,
        )  # (n, 4, 2)
        mapped = (
            np.einsum("nij,nkj->nki", self.maps[:, :2, :2], corners) + self.maps[:, None, :2, 2]
        )
        self.first = np.floor(mapped.min(1)).astype(np.int64)  # (n, 2) canvas (row, col)
        self.stop = np.ceil(mapped.max(1)).astype(np.int64) + 1
        centres = np.stack([(h - 1) / 2, (w - 1) / 2, np.ones_like(h)], 1)
        self.centres = np.einsum("nij,nj->ni", self.maps, centres)[:, :2]

    def _reaching(self, window: Window) -> np.ndarray:
        return np.flatnonzero(
            (self.first[:, 0] < window.y1)
            & (self.stop[:, 0] > window.y0)
            & (self.first[:, 1] < window.x1)
            & (self.stop[:, 1] > window.x0)
        )

    def needs(self, window: Window) -> list[StripRequest]:
        """The tile pixels that the window's pixels map back to, with a small margin."""
        corners = np.array(
            [
                [window.y0, window.x0, 1.0],
                [window.y0, window.x1 - 1, 1.0],
                [window.y1 - 1, window.x0, 1.0],
                [window.y1 - 1, window.x1 - 1, 1.0],
            ]
        ).T
        requests = []
        for t in self._reaching(window):
            back = (self.inverse[t] @ corners)[:2]
            low = np.floor(back.min(1)).astype(int) - _READ_MARGIN
            high = np.ceil(back.max(1)).astype(int) + _READ_MARGIN + 1
            row0, col0 = max(0, low[0]), max(0, low[1])
            row1 = min(int(self.shapes[t, 0]), high[0])
            col1 = min(int(self.shapes[t, 1]), high[1])
            if row1 > row0 and col1 > col0:
                requests.append(StripRequest(int(t), int(row0), int(row1), int(col0), int(col1)))
        return requests

    def paint(
        self, window: Window, strips: Strips, fmt: PixelFormat
    ) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = window.rows, window.cols
        ys, xs = np.mgrid[window.y0 : window.y1, window.x0 : window.x1].astype(np.float64)
        if self.blend == "nearest":
            colour = np.zeros((rows, cols, fmt.bands), fmt.dtype)
            best = np.full((rows, cols), np.inf)
        else:
            total = np.zeros((rows, cols, fmt.bands), np.float32)
            weight = np.zeros((rows, cols), np.float32)
        # Float sums depend on their order: tiles are always added in index order.
        for t in sorted(strips):
            held, pixels = strips[t]
            inverse = self.inverse[t]
            u = inverse[0, 0] * ys + inverse[0, 1] * xs + inverse[0, 2]  # tile row
            v = inverse[1, 0] * ys + inverse[1, 1] * xs + inverse[1, 2]  # tile col
            h, w = int(self.shapes[t, 0]), int(self.shapes[t, 1])
            window_to_strip = (
                np.array([[1.0, 0.0, -held.row0], [0.0, 1.0, -held.col0], [0.0, 0.0, 1.0]])
                @ inverse
                @ np.array([[1.0, 0.0, window.y0], [0.0, 1.0, window.x0], [0.0, 0.0, 1.0]])
            )
            source = np.ascontiguousarray(pixels)
            if self.blend == "nearest":
                inside = (u >= -0.5) & (u < h - 0.5) & (v >= -0.5) & (v < w - 0.5)
                warped, valid = warp_affine(
                    source,
                    window_to_strip,
                    output_shape=(rows, cols),
                    interpolation="nearest",
                    mask=True,
                )
                distance = np.hypot(ys - self.centres[t, 0], xs - self.centres[t, 1])
                take = inside & valid & (distance < best)
                best[take] = distance[take]
                colour[take] = warped.reshape(rows, cols, -1)[take]
            else:
                inside = (u >= 0) & (u <= h - 1) & (v >= 0) & (v <= w - 1)
                warped, valid = warp_affine(
                    source.astype(np.float32),
                    window_to_strip,
                    output_shape=(rows, cols),
                    interpolation="linear",
                    mask=True,
                )
                ramp = np.minimum(u + 1, h - u) * np.minimum(v + 1, w - v)
                w_t = np.where(inside & valid, ramp, 0.0).astype(np.float32)
                total += warped.reshape(rows, cols, -1) * w_t[:, :, None]
                weight += w_t
        if self.blend == "nearest":
            return colour, np.isfinite(best)
        covered = weight > 0
        np.divide(total, weight[:, :, None], out=total, where=covered[:, :, None])
        np.rint(total, out=total)
        np.clip(total, 0, fmt.max_value, out=total)
        return total.astype(fmt.dtype), covered
