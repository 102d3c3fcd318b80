"""The Deep Zoom image kept up to date while the scan runs (``--stitch_dzi``): after each tile
only the Deep Zoom tiles over the changed region are written again, at every level, so a
viewer that reloads sees the mosaic grow. The final run writes the batch DZI over it.

The layout of the files is libvips' ``dzsave`` (what the batch run writes): ``<name>.dzi``
beside ``<name>_files/<level>/<col>_<row>.jpeg``, 254-pixel tiles overlapping by one pixel,
level 0 one pixel, each level half the next (a pixel the mean of the four below it, or of
the two or one at an odd edge).

Each pixel shows the tile whose centre is nearest, at the tile's position rounded to a whole
pixel (the batch mosaic's rule). Positions are counted from an origin that follows the
tiles' common move (the median move of the tiles drawn before) and otherwise stays put while
the mosaic's top-left corner does. Counted from the mosaic's minimum instead (as the batch run
counts them), a placement that moved the top-left tile by a fraction of a pixel moved every
tile by that fraction, and a quarter of them to another whole pixel (at tile 211 of a 15 x 15
scan: 50 tiles, 588 files and 1.4-1.9 CPU-s instead of 25-80 files and 0.1 s); and a full
placement shifts the whole layout by a fraction of a pixel in the solve's frame. The changed
region (the footprints of tiles new,
moved to another whole pixel, or gone) is rendered at full size one block at a time: a block is one
tile of the level ``SMALL_LEVEL_SIDE`` pixels across (the "small level"), so its render gives
every finer level's tiles inside it, and memory stays that of one block. The small level is
kept in memory whole; the coarser levels are shrunk from it. Each file is written under a
temporary name and renamed: a viewer never reads half a tile. When the pyramid gains a level
(the mosaic grows past a power of two), every level is renumbered and all is written again:
a few times in a scan.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...io.atomic import write_text_atomic
from ...render.nearest import paint_nearest_window
from ...render.output_plan import dzi_tiles_folder
from ...render.writers import DZI_JPEG_QUALITY
from .common_move import common_move

# libvips dzsave's defaults, which the batch DZI uses.
TILE_SIZE = 254
OVERLAP = 1
# The level kept in memory: the first whose sides are at most this (a few MB).
SMALL_LEVEL_SIDE = 2048
# The origin stays while the mosaic's top-left corner is at most this far (whole pixels)
# inside it: a tile there wavering across half a pixel would otherwise shift, and so repaint,
# everything. (A strip this wide may show blank at the top or left until the final run.)
ORIGIN_SLACK_PX = 1


def levels_of(height: int, width: int) -> int:
    """The index of the full-size level (level 0 is one pixel)."""
    return max(0, math.ceil(math.log2(max(height, width, 1))))


def mean_shrink(pixels: np.ndarray, factor: int) -> np.ndarray:
    """(rows, cols, bands) uint8 shrunk by ``factor`` (1 or 2): each pixel the rounded mean of
    a 2 x 2 block (of 2 or 1 pixels at an odd bottom or right edge). Integer sums of strided
    views: no float copy of the picture."""
    if factor == 1:
        return pixels
    if factor != 2:
        raise ValueError(f"mean_shrink halves (factor 2), not {factor}")
    rows, cols = pixels.shape[:2]
    even_r, even_c = rows // 2 * 2, cols // 2 * 2
    out = np.empty((-(-rows // 2), -(-cols // 2), pixels.shape[2]), np.uint8)
    wide = pixels.astype(np.uint16)
    four = (
        wide[0:even_r:2, 0:even_c:2]
        + wide[1:even_r:2, 0:even_c:2]
        + wide[0:even_r:2, 1:even_c:2]
        + wide[1:even_r:2, 1:even_c:2]
    )
    out[: even_r // 2, : even_c // 2] = (four + 2) // 4  # round half up, as + 0.5 and floor
    if cols % 2:
        out[: even_r // 2, -1] = (wide[0:even_r:2, -1] + wide[1:even_r:2, -1] + 1) // 2
    if rows % 2:
        out[-1, : even_c // 2] = (wide[-1, 0:even_c:2] + wide[-1, 1:even_c:2] + 1) // 2
    if rows % 2 and cols % 2:
        out[-1, -1] = pixels[-1, -1]
    return out


class LiveDeepZoom:
    """Writes ``dzi`` and its tiles folder from each layout: `update`."""

    def __init__(self, dzi: Path, quality: int = DZI_JPEG_QUALITY) -> None:
        self.dzi = dzi
        self.folder = dzi_tiles_folder(dzi)
        self.quality = quality
        self.size: tuple[int, int] | None = None  # the mosaic's (rows, cols)
        self._top_level = -1
        self._small_shrink = 1  # the small level is the full size shrunk by this
        self._small = np.zeros((0, 0, 3), np.uint8)
        self._coarse: list[np.ndarray] = []  # the levels below the small one, finest first
        self._slots = np.zeros(0, np.int64)  # (sorted) as last drawn
        self._tops = np.zeros((0, 2), np.int64)
        # Positions are drawn at round(position - offset) - origin: ``offset`` follows the
        # tiles' common move, ``origin`` (whole pixels) the mosaic's top-left corner.
        self._offset = np.zeros(2)
        self._origin: np.ndarray | None = None
        self._positions = np.zeros((0, 2))  # as last given, for the common move
        self.written: list[Path] = []  # the tiles the last update wrote (for tests)

    def update(
        self,
        slots: np.ndarray,
        positions: np.ndarray,
        shapes: np.ndarray,
        pixels_of: Callable[[int], np.ndarray],
    ) -> None:
        """Draw the tiles ``slots`` (ascending) at ``positions`` ((n, 2) top-left corners, in
        any frame that does not move with the tiles: the solve's), of ``shapes`` ((n, 2) rows,
        cols); ``pixels_of(slot)`` gives a tile's pixels as (rows, cols, bands) uint8."""
        self.written = []
        slots = np.asarray(slots, np.int64)
        if len(slots) == 0:
            return
        positions = np.asarray(positions, float).reshape(-1, 2)
        self._offset = self._offset + common_move(self._slots, self._positions, slots, positions)
        rounded = np.round(positions - self._offset).astype(np.int64)
        corner = rounded.min(axis=0)
        moved_origin = (
            self._origin is None
            or (corner < self._origin).any()
            or (corner - self._origin > ORIGIN_SLACK_PX).any()
        )
        if moved_origin:
            self._origin = corner
        assert self._origin is not None
        tops = rounded - self._origin
        shapes = np.asarray(shapes, np.int64).reshape(-1, 2)
        bottoms = tops + shapes
        size = (int(bottoms[:, 0].max()), int(bottoms[:, 1].max()))
        top_level = levels_of(*size)
        small_shrink = 1
        while max(-(-size[0] // small_shrink), -(-size[1] // small_shrink)) > SMALL_LEVEL_SIDE:
            small_shrink *= 2
        everything = (
            moved_origin or top_level != self._top_level or small_shrink != self._small_shrink
        )
        if everything:
            rects = [(0, 0, size[0], size[1])]
        else:
            rects = self._changed_rects(slots, tops, bottoms)
        grown = size != self.size
        if grown and not everything and self.size is not None:
            # The tiles along the old bottom and right edges grow (at every level).
            rects.append((self.size[0], 0, size[0], size[1]))
            rects.append((0, self.size[1], size[0], size[1]))
        self._grow_small(size, small_shrink, fresh=everything)
        self.size, self._top_level, self._small_shrink = size, top_level, small_shrink
        self._slots, self._tops, self._positions = slots.copy(), tops.copy(), positions.copy()
        if not rects and not grown:
            return
        paint = _Painter(slots, tops, shapes, pixels_of)
        for block in self._blocks(rects):
            self._write_block(block, paint, rects)
        self._write_coarse_levels(rects)
        if grown or everything:
            self._write_descriptor()

    # ----------------------------------------------------------------------------------------
    def _changed_rects(
        self, slots: np.ndarray, tops: np.ndarray, bottoms: np.ndarray
    ) -> list[tuple[int, int, int, int]]:
        """(top, left, bottom, right) full-size footprints of tiles new, moved or gone."""
        index = np.searchsorted(self._slots, slots)
        index = np.minimum(index, max(len(self._slots) - 1, 0))
        known = (self._slots[index] == slots) if len(self._slots) else np.zeros(len(slots), bool)
        old_tops = self._tops[index] if len(self._slots) else np.zeros_like(tops)
        moved = ~known | (old_tops != tops).any(axis=1)
        shapes = bottoms - tops
        rects = [
            (int(t[0]), int(t[1]), int(b[0]), int(b[1]))
            for t, b in zip(tops[moved], bottoms[moved], strict=True)
        ]
        was_moved = known & moved
        for old, shape in zip(old_tops[was_moved], shapes[was_moved], strict=True):
            rects.append((int(old[0]), int(old[1]), int(old[0] + shape[0]), int(old[1] + shape[1])))
        gone = ~np.isin(self._slots, slots)
        if gone.any():
            # (A tile taken out: its size is no longer known here; a tile's size is the scan's.)
            shape = shapes[0]
            for old in self._tops[gone]:
                rects.append(
                    (int(old[0]), int(old[1]), int(old[0] + shape[0]), int(old[1] + shape[1]))
                )
        return rects

    def _grow_small(self, size: tuple[int, int], shrink: int, fresh: bool) -> None:
        rows, cols = -(-size[0] // shrink), -(-size[1] // shrink)
        if fresh or self._small.shape[:2] != (rows, cols):
            small = np.zeros(
                (rows, cols, self._small.shape[2] if self._small.size else 3), np.uint8
            )
            if not fresh and self._small.size:
                keep_r, keep_c = min(rows, self._small.shape[0]), min(cols, self._small.shape[1])
                small[:keep_r, :keep_c] = self._small[:keep_r, :keep_c]
            self._small = small

    def _blocks(self, rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
        """The small level's tiles (block row, block col) whose full-size area, or the pixel
        of overlap around it, meets a changed rect."""
        assert self.size is not None
        block = TILE_SIZE * self._small_shrink
        margin = OVERLAP * self._small_shrink
        rows = -(-self.size[0] // block)
        cols = -(-self.size[1] // block)
        found: set[tuple[int, int]] = set()
        for top, left, bottom, right in rects:
            r0 = max(0, (top - margin) // block)
            r1 = min(rows - 1, (bottom - 1 + margin) // block)
            c0 = max(0, (left - margin) // block)
            c1 = min(cols - 1, (right - 1 + margin) // block)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    found.add((r, c))
        return sorted(found)

    def _write_block(
        self, block: tuple[int, int], paint: _Painter, rects: list[tuple[int, int, int, int]]
    ) -> None:
        """Render one block at full size (with the overlap around it) and write the tiles
        over the changed ``rects`` of every level from the full size to the small one inside
        it (the small level's tile needs the whole block)."""
        assert self.size is not None
        shrink0 = self._small_shrink
        side = TILE_SIZE * shrink0
        margin = OVERLAP * shrink0
        y0, x0 = block[0] * side, block[1] * side
        y1, x1 = min(self.size[0], y0 + side), min(self.size[1], x0 + side)
        wy0, wx0 = max(0, y0 - margin), max(0, x0 - margin)
        wy1, wx1 = min(self.size[0], y1 + margin), min(self.size[1], x1 + margin)
        full = paint.window(wy0, wx0, wy1, wx1)
        pixels = full
        if self._small.shape[2] != full.shape[2]:
            self._small = np.zeros((*self._small.shape[:2], full.shape[2]), np.uint8)
        shrink = 1
        while shrink <= shrink0:
            level = self._top_level - int(math.log2(shrink))
            # The window at this level (each level half the next, as the coarser levels are
            # made: its corners are multiples of the shrink, or the mosaic's edge).
            if shrink > 1:
                pixels = mean_shrink(pixels, 2)
            oy, ox = wy0 // shrink, wx0 // shrink
            rows, cols = -(-self.size[0] // shrink), -(-self.size[1] // shrink)
            per_side = shrink0 // shrink
            for tr in range(block[0] * per_side, (block[0] + 1) * per_side):
                for tc in range(block[1] * per_side, (block[1] + 1) * per_side):
                    box = _tile_box(tr, tc, rows, cols)
                    if box is None:
                        continue
                    top, left, bottom, right = box
                    if not _meets(
                        (top * shrink, left * shrink, bottom * shrink, right * shrink), rects
                    ):
                        continue
                    self._write_tile(
                        level, tc, tr, pixels[top - oy : bottom - oy, left - ox : right - ox]
                    )
            if shrink == shrink0:
                sy0, sx0 = y0 // shrink, x0 // shrink
                sy1, sx1 = -(-y1 // shrink), -(-x1 // shrink)
                self._small[sy0:sy1, sx0:sx1] = pixels[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox]
            shrink *= 2

    def _write_coarse_levels(self, rects: list[tuple[int, int, int, int]]) -> None:
        """The levels coarser than the small one, shrunk from it; only their tiles over the
        changed rects are written."""
        shrink0 = self._small_shrink
        level = self._top_level - int(math.log2(shrink0)) - 1
        parent = self._small
        factor = 2 * shrink0
        coarse = []
        for step in range(level + 1):
            child = factor * 2**step  # this level's shrink from the full size
            # Each level kept from the last update; only the changed rects are halved again
            # from the level above (whole when its size changed).
            rows, cols = -(-parent.shape[0] // 2), -(-parent.shape[1] // 2)
            old = self._coarse[step] if step < len(self._coarse) else None
            if old is None or old.shape != (rows, cols, parent.shape[2]):
                pixels = mean_shrink(parent, 2)
            else:
                pixels = old
                for top, left, bottom, right in rects:
                    # The rect in the level above, widened to whole 2 x 2 blocks.
                    r0 = max(0, top * 2 // child // 2 * 2)
                    c0 = max(0, left * 2 // child // 2 * 2)
                    r1 = min(parent.shape[0], (-(-bottom * 2 // child) + 1) // 2 * 2)
                    c1 = min(parent.shape[1], (-(-right * 2 // child) + 1) // 2 * 2)
                    if r1 > r0 and c1 > c0:
                        halved = mean_shrink(parent[r0:r1, c0:c1], 2)
                        pixels[
                            r0 // 2 : r0 // 2 + halved.shape[0], c0 // 2 : c0 // 2 + halved.shape[1]
                        ] = halved
            coarse.append(pixels)
            parent = pixels
        self._coarse = coarse
        for pixels in coarse:
            rows, cols = pixels.shape[:2]
            tiles: set[tuple[int, int]] = set()
            for top, left, bottom, right in rects:
                for tr in range(
                    max(0, (top // factor - OVERLAP) // TILE_SIZE),
                    min(-(-rows // TILE_SIZE), (-(-bottom // factor) + OVERLAP) // TILE_SIZE + 1),
                ):
                    for tc in range(
                        max(0, (left // factor - OVERLAP) // TILE_SIZE),
                        min(
                            -(-cols // TILE_SIZE), (-(-right // factor) + OVERLAP) // TILE_SIZE + 1
                        ),
                    ):
                        tiles.add((tr, tc))
            for tr, tc in sorted(tiles):
                box = _tile_box(tr, tc, rows, cols)
                if box is not None:
                    top, left, bottom, right = box
                    self._write_tile(level, tc, tr, pixels[top:bottom, left:right])
            level -= 1
            factor *= 2

    def _write_tile(self, level: int, col: int, row: int, pixels: np.ndarray) -> None:
        import pyvips

        folder = self.folder / str(level)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{col}_{row}.jpeg"
        image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels))
        image = image.copy(interpretation="srgb" if pixels.shape[2] == 3 else "b-w")
        data = image.jpegsave_buffer(Q=self.quality)
        # Renamed into place: a viewer reads the old tile or the new one. Not synced to disk
        # (a hundred tiles per update): a crash loses live tiles the final run writes again.
        temporary = folder / f".{col}_{row}.{os.getpid()}.partial"
        temporary.write_bytes(data)
        os.replace(temporary, path)
        self.written.append(path)

    def _write_descriptor(self) -> None:
        assert self.size is not None
        rows, cols = self.size
        write_text_atomic(
            self.dzi,
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008"\n'
            f'  Format="jpeg"\n  Overlap="{OVERLAP}"\n  TileSize="{TILE_SIZE}"\n  >\n'
            f'  <Size \n    Height="{rows}"\n    Width="{cols}"\n  />\n</Image>\n',
        )


def _meets(box: tuple[int, int, int, int], rects: list[tuple[int, int, int, int]]) -> bool:
    """Whether the (top, left, bottom, right) ``box`` overlaps one of ``rects``."""
    top, left, bottom, right = box
    return any(
        max(t, top) < min(b, bottom) and max(le, left) < min(r, right) for t, le, b, r in rects
    )


def _tile_box(row: int, col: int, rows: int, cols: int) -> tuple[int, int, int, int] | None:
    """A level's tile (row, col): its (top, left, bottom, right) pixels, overlap included;
    None beyond the level's ``rows`` x ``cols``."""
    top, left = row * TILE_SIZE, col * TILE_SIZE
    if top >= rows or left >= cols:
        return None
    return (
        max(0, top - OVERLAP),
        max(0, left - OVERLAP),
        min(rows, top + TILE_SIZE + OVERLAP),
        min(cols, left + TILE_SIZE + OVERLAP),
    )


class _Painter:
    """Full-size windows of the mosaic: each pixel from the tile whose centre is nearest."""

    def __init__(
        self,
        slots: np.ndarray,
        tops: np.ndarray,
        shapes: np.ndarray,
        pixels_of: Callable[[int], np.ndarray],
    ) -> None:
        self.slots, self.tops, self.shapes = slots, tops, shapes
        self.pixels_of = pixels_of
        self.bands = 3

    def window(self, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        tops, bottoms = self.tops, self.tops + self.shapes
        hit = np.flatnonzero(
            (tops[:, 0] < y1) & (bottoms[:, 0] > y0) & (tops[:, 1] < x1) & (bottoms[:, 1] > x0)
        )
        tiles = [(k, self.pixels_of(int(self.slots[k]))) for k in hit]
        if tiles:
            self.bands = tiles[0][1].shape[2]
        # The batch renderer's kernel (exact integer distances, ties to the earlier tile):
        # numpy's distance maps and masks took a third of a Deep Zoom update's CPU time.
        return paint_nearest_window(
            y0,
            x0,
            (y1 - y0, x1 - x0, self.bands),
            [
                (int(self.tops[k, 0]), int(self.tops[k, 1]), pixels[:, :, : self.bands])
                for k, pixels in tiles
            ],
        )
