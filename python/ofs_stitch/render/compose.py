"""Composing the mosaic from its tiles, one horizontal band of rows at a time.

Bands are produced top to bottom; each holds every column of the canvas. Only the tiles that
reach into the current band are being decoded (see `io.strips`), so memory follows the band
height and the tiles in use, never the size of the scan.

Two ways to choose pixels where tiles overlap:

* ``nearest`` (as upstream): each pixel comes from the tile whose centre is nearest, among the
  tiles covering it; tiles sit on whole pixels (positions rounded), nothing is averaged.
* ``feather``: every covering tile contributes, weighted by a product of linear ramps that fall
  from the tile's centre to its edges, so seams fade out; tiles are resampled (Catmull-Rom
  cubic) to their exact sub-pixel positions.

Uncovered canvas is 0 in the colour bands; with ``alpha=True`` a last band says which pixels
are covered (full scale) and which are not (0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyvips

from .. import _core
from ..errors import ImageReadError, InputError
from ..io.strips import (
    HeapTrimmer,
    PixelFormat,
    StripReader,
    StripRequest,
    open_tile,
    operation_cache_disabled,
    shrink_pixels,
)
from .geometry import MosaicGeometry

Blend = Literal["nearest", "feather"]
BLENDS: tuple[str, ...] = ("nearest", "feather")
# Bytes of one output band (colour bands only): large enough that per-band overheads vanish,
# small enough that the few bands in flight stay small next to the writers' own buffers
# (a 70,000-pixel-wide RGB mosaic gets 32-row bands).
BAND_BYTES = 8 << 20
MAX_BAND_ROWS = 256
MIN_BAND_ROWS = 16
# Return freed memory to the system after every band that decoded tiles (measured on a
# 150-tile strip: peak RSS 545 MB instead of 596 MB when trimming every 32 MB, and faster).
TRIM_INTERVAL_BYTES = 0
# Positions closer than this to a whole pixel are treated as whole (no resampling).
WHOLE_PIXEL_TOLERANCE = 1e-6


def band_rows(width: int, fmt: PixelFormat) -> int:
    """Rows per band for a canvas ``width`` pixels wide (a multiple of 16)."""
    row_bytes = max(1, width * fmt.bands * fmt.dtype.itemsize)
    rows = min(MAX_BAND_ROWS, max(MIN_BAND_ROWS, BAND_BYTES // row_bytes))
    return int(rows // 16 * 16)


@dataclass(frozen=True)
class RenderSource:
    """Where tile pixels come from: lazily decoded files, or pixels already in memory."""

    fmt: PixelFormat
    # Returns the tile as a lazily decoded image, sized as in the layout.
    opener: Callable[[int], pyvips.Image]
    in_memory: Callable[[int], np.ndarray | None] | None = None
    workers: int = 2


def file_source(
    layout: MosaicGeometry,
    fmt: PixelFormat,
    *,
    in_memory: Callable[[int], np.ndarray | None] | None = None,
    workers: int = 2,
) -> RenderSource:
    """Tiles read from their files (resized when the layout is scaled); ``in_memory(tile)``
    returns a tile's decoded pixels when they are already held (then used instead)."""

    def opener(tile: int) -> pyvips.Image:
        expected = (int(layout.shapes[tile, 0]), int(layout.shapes[tile, 1]))
        held = in_memory(tile) if in_memory is not None and layout.scale != 1 else None
        if held is not None:
            return shrink_pixels(held, fmt, expected)
        image = open_tile(layout.paths[tile], fmt, None if layout.scale == 1 else expected)
        if (image.height, image.width) != expected:
            raise ImageReadError(
                f"{layout.paths[tile]} is {image.width} x {image.height} px but was "
                f"{expected[1]} x {expected[0]} px when the scan was read; it changed on disk, "
                "run again"
            )
        return image

    memory = in_memory if layout.scale == 1 else None
    return RenderSource(fmt, opener, memory, workers)


def render_bands(
    layout: MosaicGeometry,
    source: RenderSource,
    *,
    blend: Blend | str = "nearest",
    rows_per_band: int | None = None,
    alpha: bool = False,
) -> Iterator[np.ndarray]:
    """The canvas, top to bottom, as (rows, width, bands[+1]) arrays of the source's dtype.

    Every band has ``rows_per_band`` rows except the last. Tile decoding errors propagate as
    ImageReadError naming the tile.
    """
    if blend not in BLENDS:
        raise InputError(f"unknown blend {blend!r}; use one of: {', '.join(BLENDS)}")
    rows = rows_per_band or band_rows(layout.width, source.fmt)
    trimmer = HeapTrimmer(TRIM_INTERVAL_BYTES)
    trimmer.trim()  # what earlier stages freed on their threads (see HeapTrimmer)
    painter = _NearestPainter(layout) if blend == "nearest" else _FeatherPainter(layout)
    bands = [(y0, min(layout.height, y0 + rows)) for y0 in range(0, layout.height, rows)]
    with (
        operation_cache_disabled(),
        StripReader(
            source.opener,
            layout.paths,
            source.fmt,
            workers=source.workers,
            in_memory=source.in_memory,
        ) as reader,
    ):
        # The next band's strips are decoded while this band is painted and written.
        pending = reader.submit(painter.plan(*bands[0])) if bands else []
        for k, (y0, y1) in enumerate(bands):
            current = pending
            if k + 1 < len(bands):
                pending = reader.submit(painter.plan(*bands[k + 1]))
            decoded_before = reader.decoded_bytes
            strips = reader.collect(current)
            colour, covered = painter.paint(strips, y0, y1, source.fmt)
            for tile in painter.finished(y0, y1):
                reader.release(tile)
            if alpha:
                full = np.where(covered, source.fmt.max_value, 0).astype(source.fmt.dtype)
                colour = np.concatenate([colour, full[:, :, None]], axis=2)
            trimmer.add(reader.decoded_bytes - decoded_before)
            yield colour


def render_array(
    layout: MosaicGeometry,
    source: RenderSource,
    *,
    blend: Blend | str = "nearest",
    alpha: bool = False,
) -> np.ndarray:
    """The whole canvas in memory (for small canvases: previews, tests)."""
    bands = list(render_bands(layout, source, blend=blend, alpha=alpha))
    if not bands:
        return np.zeros((0, layout.width, source.fmt.bands + alpha), source.fmt.dtype)
    return np.concatenate(bands, axis=0)


class _NearestPainter:
    """Each pixel from the covering tile with the nearest centre (the compiled core resolves the
    rule exactly, run by run along each row)."""

    def __init__(self, layout: MosaicGeometry) -> None:
        self.tops = layout.placements
        self.shapes = layout.shapes
        self.bottoms = self.tops[:, 0] + self.shapes[:, 0]
        self.width = layout.width

    def plan(self, y0: int, y1: int) -> list[StripRequest]:
        """Strips to decode for band [y0, y1): the band's rows of every tile reaching into it
        (the rule must see every covering tile)."""
        live = np.flatnonzero((self.tops[:, 0] < y1) & (self.bottoms > y0))
        return [
            StripRequest(
                int(t),
                int(max(y0, self.tops[t, 0]) - self.tops[t, 0]),
                int(min(y1, self.bottoms[t]) - self.tops[t, 0]),
                0,
                int(self.shapes[t, 1]),
            )
            for t in live
        ]

    def finished(self, y0: int, y1: int) -> list[int]:
        """Tiles whose last row is in band [y0, y1)."""
        return [int(t) for t in np.flatnonzero((self.bottoms > y0) & (self.bottoms <= y1))]

    def paint(
        self,
        strips: dict[int, tuple[StripRequest, np.ndarray]],
        y0: int,
        y1: int,
        fmt: PixelFormat,
    ) -> tuple[np.ndarray, np.ndarray]:
        colour = np.empty((y1 - y0, self.width, fmt.bands), fmt.dtype)
        covered = np.empty((y1 - y0, self.width), bool)
        tiles = []
        for t, (request, pixels) in strips.items():
            top, left = int(self.tops[t, 0]), int(self.tops[t, 1])
            height, width = int(self.shapes[t, 0]), int(self.shapes[t, 1])
            tiles.append(
                (t, top, left, height, width, top + request.row0, left + request.col0, pixels)
            )
        _core.compose.paint_nearest(colour, covered, y0, tiles)
        return colour, covered


def _cubic_weights(fraction: float) -> np.ndarray:
    """Catmull-Rom weights for samples at offsets -1, 0, 1, 2 around a point ``fraction``
    past sample 0 (they sum to 1 and reproduce straight lines exactly)."""
    t = fraction
    return 0.5 * np.array(
        [-(t**3) + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2],
        np.float32,
    )


@dataclass
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


class _FeatherPainter:
    """Weighted average of all covering tiles, each resampled to its exact position."""

    def __init__(self, layout: MosaicGeometry) -> None:
        self.width = layout.width
        self.rows = [
            _Axis.of(float(p), int(s))
            for p, s in zip(layout.positions[:, 0], layout.shapes[:, 0], strict=True)
        ]
        self.cols = [
            _Axis.of(float(p), int(s))
            for p, s in zip(layout.positions[:, 1], layout.shapes[:, 1], strict=True)
        ]
        self.shapes = layout.shapes
        # Per tile: the next tile row to decode and the last decoded rows (the cubic stencil
        # reaches one row back and two ahead, so consecutive bands share a few rows).
        self.next_row = np.zeros(len(self.rows), np.int64)
        self.tail: dict[int, tuple[int, np.ndarray]] = {}
        self._bands: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}

    def plan(self, y0: int, y1: int) -> list[StripRequest]:
        """Strips to decode for band [y0, y1): the tile rows the cubic stencil reaches that
        were not decoded yet (it reaches one row back and two ahead)."""
        self._bands[(y0, y1)] = bands = []
        requests = []
        for t, ax in enumerate(self.rows):
            if not (ax.first < y1 and ax.first + ax.count > y0):
                continue
            q0, q1 = max(y0, ax.first), min(y1, ax.first + ax.count)
            back, ahead = (1, 2) if ax.fraction else (0, 0)
            lo = max(0, q0 - ax.first - back)
            hi = min(ax.size, q1 - 1 - ax.first + ahead + 1)
            if hi > self.next_row[t]:
                requests.append(
                    StripRequest(t, int(self.next_row[t]), hi, 0, int(self.shapes[t, 1]))
                )
                self.next_row[t] = hi
            bands.append((t, q0, q1, lo))
        return requests

    def finished(self, y0: int, y1: int) -> list[int]:
        """Tiles whose last covered row is in band [y0, y1)."""
        done = [t for t, ax in enumerate(self.rows) if y0 < ax.first + ax.count <= y1]
        for t in done:
            self.tail.pop(t, None)
        return done

    def paint(
        self,
        strips: dict[int, tuple[StripRequest, np.ndarray]],
        y0: int,
        y1: int,
        fmt: PixelFormat,
    ) -> tuple[np.ndarray, np.ndarray]:
        total = np.zeros((y1 - y0, self.width, fmt.bands), np.float32)
        weight = np.zeros((y1 - y0, self.width), np.float32)
        for t, q0, q1, lo in self._bands.pop((y0, y1)):
            parts = []
            if t in self.tail:
                tail_start, tail = self.tail[t]
                parts.append(tail[lo - tail_start :])
            if t in strips:
                parts.append(strips[t][1])
            rows_buf = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            kept = max(0, len(rows_buf) - 3)
            self.tail[t] = (lo + kept, rows_buf[kept:])
            ax_r, ax_c = self.rows[t], self.cols[t]
            by_rows = ax_r.resample(rows_buf, q0, q1, lo, axis=0)
            c0, c1 = ax_c.first, ax_c.first + ax_c.count
            pixels = ax_c.resample(by_rows, c0, c1, 0, axis=1)
            w = ax_r.ramp(q0, q1)[:, None] * ax_c.ramp(c0, c1)[None, :]
            total[q0 - y0 : q1 - y0, c0:c1] += pixels * w[:, :, None]
            weight[q0 - y0 : q1 - y0, c0:c1] += w
        covered = weight > 0
        np.divide(total, weight[:, :, None], out=total, where=covered[:, :, None])
        np.rint(total, out=total)
        np.clip(total, 0, fmt.max_value, out=total)
        return total.astype(fmt.dtype), covered
