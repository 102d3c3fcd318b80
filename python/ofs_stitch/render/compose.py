"""Composing the mosaic from its tiles: any window of the canvas, or all of it in bands.

The painters (`nearest`, `feather`) paint any window of the canvas from the tile pixels they
ask for. Here they are fed: `render_window` reads what one window needs; `render_bands`
streams the canvas top to bottom as full-width bands, the form the writers consume. Only the
tiles that reach into the current band are being decoded (see `io.strips`), each row of a
tile once, so memory follows the band height and the tiles in use, never the size of the scan.

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

from ..errors import ImageReadError, InputError
from ..io.pixel_format import PixelFormat, pixels_in_format
from ..io.strips import (
    HeapTrimmer,
    StripReader,
    StripRequest,
    open_in_format,
    operation_cache_disabled,
    shrink_pixels,
)
from .affine_paint import AffinePainter
from .feather import FeatherPainter
from .geometry import MosaicGeometry, with_headers
from .nearest import NearestPainter
from .painting import Painter, Strips, Window, band_windows

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
    headers = with_headers(layout).headers
    assert headers is not None

    def held(tile: int) -> np.ndarray | None:
        pixels = in_memory(tile) if in_memory is not None else None
        # CMYK is converted with the file's colour profile, which held pixels lack.
        if pixels is None or headers[tile].interpretation == "cmyk":
            return None
        return pixels_in_format(pixels, headers[tile].interpretation, fmt)

    def opener(tile: int) -> pyvips.Image:
        expected = (int(layout.shapes[tile, 0]), int(layout.shapes[tile, 1]))
        pixels = held(tile) if layout.scale != 1 else None
        if pixels is not None:
            return shrink_pixels(pixels, expected)
        image = open_in_format(headers[tile], fmt, None if layout.scale == 1 else expected)
        if (image.height, image.width) != expected:
            raise ImageReadError(
                f"{layout.paths[tile]} is {image.width} x {image.height} px but was "
                f"{expected[1]} x {expected[0]} px when the scan was read; it changed on disk, "
                "run again"
            )
        return image

    memory = held if in_memory is not None and layout.scale == 1 else None
    return RenderSource(fmt, opener, memory, workers)


def painter_for(layout: MosaicGeometry, blend: Blend | str) -> Painter:
    """The painter of ``blend`` for this layout."""
    if blend not in BLENDS:
        raise InputError(f"unknown blend {blend!r}; use one of: {', '.join(BLENDS)}")
    if layout.affines is not None:
        return AffinePainter(layout, blend)
    return NearestPainter(layout) if blend == "nearest" else FeatherPainter(layout)


def _with_alpha(colour: np.ndarray, covered: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    full = np.where(covered, fmt.max_value, 0).astype(fmt.dtype)
    return np.concatenate([colour, full[:, :, None]], axis=2)


def _reader(layout: MosaicGeometry, source: RenderSource) -> StripReader:
    return StripReader(
        source.opener,
        layout.paths,
        source.fmt,
        workers=source.workers,
        in_memory=source.in_memory,
    )


def render_window(
    layout: MosaicGeometry,
    source: RenderSource,
    window: Window,
    *,
    blend: Blend | str = "nearest",
    alpha: bool = False,
) -> np.ndarray:
    """One window of the canvas, (rows, cols, bands[+1]) of the source's dtype: the same
    pixels as that part of the whole canvas. Decodes only the parts of the tiles the window
    needs (each call opens its tiles anew)."""
    if not window.inside(layout.height, layout.width):
        raise ValueError(f"{window} reaches outside the {layout.height} x {layout.width} canvas")
    painter = painter_for(layout, blend)
    with operation_cache_disabled(), _reader(layout, source) as reader:
        strips = reader.collect(reader.submit(painter.needs(window)))
    colour, covered = painter.paint(window, strips, source.fmt)
    return _with_alpha(colour, covered, source.fmt) if alpha else colour


class _RowsOnce:
    """Serves the strips of consecutive bands, decoding each row of a tile once.

    Bands move down the canvas, so what a band needs of a tile starts at or below where the
    previous band's need started. Rows decoded for one band that the next one needs again (the
    feather stencil's few rows of overlap) are kept; the rest is dropped with the band. Whole
    rows of tiles are decoded: a band spans the canvas.
    """

    def __init__(self, reader: StripReader, layout: MosaicGeometry) -> None:
        self.reader = reader
        self.widths = layout.shapes[:, 1]
        self.decoded_to = np.zeros(len(layout), np.int64)  # next tile row to decode
        self.kept: dict[int, tuple[int, np.ndarray]] = {}  # tile -> (its first row, rows)

    def submit(self, needs: list[StripRequest]) -> list[tuple[StripRequest, object]]:
        """Start decoding the rows of ``needs`` not decoded yet; pass the result to `strips`."""
        requests = []
        for need in needs:
            start = int(self.decoded_to[need.tile])
            if need.row1 > start:
                requests.append(
                    StripRequest(need.tile, start, need.row1, 0, int(self.widths[need.tile]))
                )
                self.decoded_to[need.tile] = need.row1
        return self.reader.submit(requests)

    def strips(
        self, needs: list[StripRequest], pending: list[tuple[StripRequest, object]]
    ) -> Strips:
        """The rows of ``needs`` (submitted with `submit`), from kept rows and new strips."""
        decoded = self.reader.collect(pending)
        strips: dict[int, tuple[StripRequest, np.ndarray]] = {}
        for need in needs:
            t = need.tile
            parts = []
            first = need.row0
            if t in self.kept:
                kept_first, kept = self.kept[t]
                parts.append(kept[need.row0 - kept_first :])
            if t in decoded:
                request, pixels = decoded[t]
                if not parts:
                    first = request.row0
                parts.append(pixels)
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            strips[t] = (StripRequest(t, first, first + len(rows), 0, int(self.widths[t])), rows)
        return strips

    def keep_for(self, strips: Strips, following: list[StripRequest]) -> list[int]:
        """Keep the rows the ``following`` band needs again; returns the tiles it does not
        need at all (they are done: the bands have passed them)."""
        wanted = {need.tile: need.row0 for need in following}
        self.kept.clear()
        done = []
        for t, (held, rows) in strips.items():
            if t not in wanted:
                done.append(t)
            elif wanted[t] < held.row1:
                # A copy: the band's strip (and its decoder buffer) can go.
                self.kept[t] = (wanted[t], rows[wanted[t] - held.row0 :].copy())
        return done


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
    painter = painter_for(layout, blend)
    rows_per_band = rows_per_band or band_rows(layout.width, source.fmt)
    bands = band_windows(layout.height, layout.width, rows_per_band)
    trimmer = HeapTrimmer(TRIM_INTERVAL_BYTES)
    trimmer.trim()  # what earlier stages freed on their threads (see HeapTrimmer)
    with operation_cache_disabled(), _reader(layout, source) as reader:
        feed = _RowsOnce(reader, layout)
        # The next band's strips are decoded while this band is painted and written.
        following = painter.needs(bands[0]) if bands else []
        pending = feed.submit(following)
        for k, band in enumerate(bands):
            needs, current = following, pending
            following = painter.needs(bands[k + 1]) if k + 1 < len(bands) else []
            pending = feed.submit(following)
            decoded_before = reader.decoded_bytes
            strips = feed.strips(needs, current)
            for tile in feed.keep_for(strips, following):
                reader.release(tile)
            colour, covered = painter.paint(band, strips, source.fmt)
            trimmer.add(reader.decoded_bytes - decoded_before)
            yield _with_alpha(colour, covered, source.fmt) if alpha else colour


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
