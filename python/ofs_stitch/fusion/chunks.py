"""The chunk plan: the canvas cut into chunks, and for each chunk the part of every tile it
needs.

A chunk is a `render.painting.Window`; its parts are the tiles whose footprint reaches into
it, each with the canvas box it covers there and the tile pixels painting that box reads (the
cubic stencil's margin included when the tile is resampled). Only those pixels are decoded: a
chunk never reads a whole tile unless it covers it. The plan is made once, tile by tile (each
tile is added to the chunks its footprint spans), so it costs the number of tile-chunk
intersections, not chunks times tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render.painting import Window
from .layout import FusionLayout

# Tile pixels a resampled tile needs beyond the ones its covered canvas pixels map to: the
# Keys cubic stencil reaches one sample back and two ahead.
STENCIL_MARGIN = 2
# Output chunk side: 1024 x 1024 pixels (2 MB of 16-bit grey; 6 MB RGB) balances per-task
# overheads against memory per worker (measured in benchmarks/compare_fusion.py).
DEFAULT_CHUNK = 1024


@dataclass(frozen=True)
class TilePart:
    """The part of one tile a chunk needs."""

    tile: int
    box: Window  # canvas pixels of the chunk the tile's footprint covers
    # Tile rows [row0, row1) and columns [col0, col1) that painting `box` reads.
    row0: int
    row1: int
    col0: int
    col1: int


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk: its grid index, its window of the canvas and the tile parts it needs (in
    tile order)."""

    index: tuple[int, int]
    window: Window
    parts: tuple[TilePart, ...]


@dataclass(frozen=True)
class ChunkGrid:
    """The canvas cut into ``chunk`` x ``chunk`` windows (the last row and column shorter)."""

    height: int
    width: int
    chunk: int

    @property
    def shape(self) -> tuple[int, int]:
        """Chunks per column and per row."""
        return -(-self.height // self.chunk), -(-self.width // self.chunk)

    def window(self, i: int, j: int) -> Window:
        y0, x0 = i * self.chunk, j * self.chunk
        return Window(y0, x0, min(self.chunk, self.height - y0), min(self.chunk, self.width - x0))


def read_box(layout: FusionLayout, tile: int, box: Window) -> tuple[int, int, int, int]:
    """Tile rows [row0, row1) and columns [col0, col1) that painting canvas ``box`` from
    ``tile`` reads."""
    rows, cols = (int(v) for v in layout.shapes[tile])
    if layout.is_whole_pixel(tile):
        shift = np.rint(layout.to_tile[tile][:2, 2]).astype(np.int64)
        row0, col0 = box.y0 + int(shift[0]), box.x0 + int(shift[1])
        return (
            max(0, row0),
            min(rows, row0 + box.rows),
            max(0, col0),
            min(cols, col0 + box.cols),
        )
    corners = np.array(
        [
            [box.y0, box.x0, 1],
            [box.y1 - 1, box.x0, 1],
            [box.y0, box.x1 - 1, 1],
            [box.y1 - 1, box.x1 - 1, 1],
        ],
        float,
    )
    in_tile = corners @ layout.to_tile[tile].T
    low = np.floor(in_tile[:, :2].min(0)).astype(np.int64) - STENCIL_MARGIN + 1
    high = np.floor(in_tile[:, :2].max(0)).astype(np.int64) + STENCIL_MARGIN + 1
    return (
        int(max(0, low[0])),
        int(min(rows, high[0])),
        int(max(0, low[1])),
        int(min(cols, high[1])),
    )


def _rounded_read_box(layout: FusionLayout, tile: int, box: Window) -> tuple[int, int, int, int]:
    assert layout.geometry is not None
    top, left = (int(v) for v in layout.geometry.placements[tile])
    return box.y0 - top, box.y1 - top, box.x0 - left, box.x1 - left


def plan_chunks(
    layout: FusionLayout, chunk: int = DEFAULT_CHUNK, *, rounded: bool = False, parts: bool = True
) -> dict[tuple[int, int], ChunkPlan]:
    """Every chunk of the canvas with the tile parts it needs; chunks no tile reaches are left
    out (they stay empty: the fill value). ``rounded``: tiles placed on whole pixels, as the
    ``nearest`` rule places them. ``parts=False``: the chunks without their parts, for the
    ``nearest`` rule, whose painter finds the tile regions it reads itself (the parts took
    most of an 8x8 mosaic's 6-8 ms of planning, in the caller's process before any task
    could start, and were a third of the graph every process of a cluster unpickles)."""
    if chunk < 16:
        raise ValueError(f"chunk size {chunk} is too small: use at least 16 pixels")
    grid = ChunkGrid(layout.height, layout.width, chunk)
    boxes = layout.footprints(rounded=rounded)
    found: dict[tuple[int, int], list[TilePart]] = {}
    for t, (r0, r1, c0, c1) in enumerate(boxes.tolist()):
        if r1 <= r0 or c1 <= c0:
            continue
        for i in range(r0 // chunk, (r1 - 1) // chunk + 1):
            for j in range(c0 // chunk, (c1 - 1) // chunk + 1):
                if not parts:
                    found.setdefault((i, j), [])
                    continue
                window = grid.window(i, j)
                y0, y1 = max(r0, window.y0), min(r1, window.y1)
                x0, x1 = max(c0, window.x0), min(c1, window.x1)
                box = Window(y0, x0, y1 - y0, x1 - x0)
                row0, row1, col0, col1 = (
                    _rounded_read_box(layout, t, box) if rounded else read_box(layout, t, box)
                )
                if row1 <= row0 or col1 <= col0:
                    continue
                found.setdefault((i, j), []).append(TilePart(t, box, row0, row1, col0, col1))
    return {
        index: ChunkPlan(index, grid.window(*index), tuple(tile_parts))
        for index, tile_parts in sorted(found.items())
    }
