"""The live preview: a small mosaic in memory, repainted only where tiles arrived or moved.

Each tile is kept as a thumbnail at one to 2.5 times the preview's scale (a few tens of kB),
so a repaint decodes nothing. Each preview pixel takes the tile whose centre is nearest, as the
batch mosaic does (`render.nearest`). The canvas is drawn in the solve's frame (the stage's),
which does not jump when a tile extends the mosaic up or left: a growing mosaic extends the
canvas, and only the footprints of new and moved tiles are painted. A full placement moves the
whole layout in that frame too (by 4-9 px at a time in the 6 x 6 scan of 8 MP tiles, the
tiles' moves relative to one another under 0.01 px): tiles are drawn less the median move
since, so such a move repaints nothing (it repainted the whole preview, 46 ms of CPU per 8 MP
tile, after half of the tiles). The scale changes only
while the mosaic grows wider than the preview (the first row of a scan): then everything is
painted again, from the thumbnails.
"""

from __future__ import annotations

import math

import numpy as np

from ...render.preview import PREVIEW_MAX_HEIGHT, PREVIEW_WIDTH
from .common_move import common_move

# A tile moved by less than this (preview pixels) is not repainted.
MOVE_WORTH_REPAINT_PX = 0.25
# Painted in blocks of at most this many pixels a side (bounds the per-block work arrays).
BLOCK = 256
# When more than this fraction of the tiles changed, one full repaint is cheaper.
FULL_REPAINT_FRACTION = 0.3


def to_8bit_rgb_or_grey(pixels: np.ndarray, white: int | None) -> np.ndarray:
    """(rows, cols, 1 or 3) uint8 for display: colour keeps three bands (alpha dropped);
    16-bit samples are scaled so that ``white`` shows as white."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    pixels = pixels[:, :, :3] if pixels.shape[2] >= 3 else pixels[:, :, :1]
    if pixels.dtype == np.uint8:
        return pixels
    scale = 255.0 / max(float(white or 1), 1.0)
    return np.clip(pixels.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)


def shrink(pixels: np.ndarray, scale: float) -> np.ndarray:
    """``pixels`` (uint8, rows x cols x bands) resized by ``scale`` <= 1 (libvips: area
    averaging, then Lanczos for the rest)."""
    if scale >= 1.0:
        return pixels
    import pyvips

    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels))
    small = image.resize(scale).numpy()
    return small if small.ndim == 3 else small[:, :, None]


class LiveCanvas:
    """The preview of the tiles in play; call `set_tile` for each new tile, then `update`
    with the layout."""

    def __init__(self, width: int = PREVIEW_WIDTH) -> None:
        self.width = width
        self.thumb_scale: float | None = None
        self.white: int | None = None
        self._thumbs: dict[int, np.ndarray] = {}
        self._tile_shape: tuple[int, int] | None = None
        self.scale = 1.0
        self._origin = (0, 0)  # the canvas's top-left, in preview pixels of the solve's frame
        self._pixels = np.zeros((0, 0, 3), np.uint8)
        self._extent = (np.zeros(2, int), np.zeros(2, int))  # the tiles' box, preview pixels
        self._slots = np.zeros(0, np.int64)
        self._positions = np.zeros((0, 2))  # as drawn: as given, less ``_offset``
        self._offset = np.zeros(2)  # the layout's common move so far (input pixels)
        self.painted_pixels = 0  # repainted by the last update (for tests and the benchmark)

    # ----------------------------------------------------------------------------------------
    def set_tile(self, slot: int, pixels: np.ndarray) -> None:
        """Keep a thumbnail of the tile in ``slot`` (a new tile, or a file replaced), shrunk
        from its decoded pixels. (Not from its file, though libvips shrinks a JPEG as it
        decodes it: that decodes the file a second time, and for an 8 MP tile at these scales
        took 47-82 ms of CPU against 18-28 ms for shrinking the pixels already decoded.)"""
        if self._tile_shape is None:
            self._tile_shape = (int(pixels.shape[0]), int(pixels.shape[1]))
            if pixels.dtype != np.uint8:
                self.white = max(1, int(np.percentile(pixels, 99.9)))
            # The scale of a preview of this one tile, the largest the preview will need;
            # halved as the mosaic grows.
            self.thumb_scale = min(1.0, self.width / self._tile_shape[1])
        assert self.thumb_scale is not None
        self._thumbs[slot] = shrink(to_8bit_rgb_or_grey(pixels, self.white), self.thumb_scale)

    def drop(self, slot: int) -> None:
        self._thumbs.pop(slot, None)

    def has_thumbnail(self, slot: int) -> bool:
        return slot in self._thumbs

    @property
    def thumbnail_bytes(self) -> int:
        return sum(t.nbytes for t in self._thumbs.values())

    def pixels(self) -> np.ndarray:
        """The preview of the tiles in play (the canvas may extend beyond them: tiles moved
        or were taken out since it was made)."""
        if self._pixels.size == 0:
            return self._pixels.copy()
        low, high = self._extent
        top, left = low - np.array(self._origin)
        bottom, right = high - np.array(self._origin)
        return self._pixels[max(0, top) : bottom, max(0, left) : right].copy()

    # ----------------------------------------------------------------------------------------
    def update(
        self, slots: np.ndarray, positions: np.ndarray, changed: np.ndarray | None = None
    ) -> None:
        """Repaint for the tiles ``slots`` (ascending) at ``positions`` (the solve's frame):
        the footprints of tiles new, moved or gone; everything when the scale changed.
        ``changed``: the only slots that can have moved, come or gone (a large live scan
        places a neighbourhood per tile: looking at every tile would grow with the scan)."""
        self.painted_pixels = 0
        slots = np.asarray(slots, dtype=np.int64)
        positions = np.asarray(positions, dtype=float).reshape(-1, 2)
        if len(slots) == 0 or self._tile_shape is None:
            self._pixels = np.zeros((0, 0, 3), np.uint8)
            self._slots, self._positions = slots, positions
            return
        positions = positions - self._offset
        if changed is None:  # (a placement of a neighbourhood holds the tiles around it)
            common = common_move(self._slots, self._positions, slots, positions)
            self._offset = self._offset + common
            positions = positions - common
        scale = self._scale_for(positions)
        self._keep_thumbnails_small(scale)
        low = np.floor(positions.min(axis=0) * scale).astype(int)
        high = np.ceil((positions.max(axis=0) + self._tile_shape) * scale).astype(int)
        bands = next(iter(self._thumbs.values())).shape[2] if self._thumbs else 3
        self._extent = (low, high)
        full = (
            not math.isclose(scale, self.scale, rel_tol=1e-9)
            or self._pixels.size == 0
            or self._pixels.shape[2] != bands
        )
        if full:
            self.scale, self._origin = scale, (int(low[0]), int(low[1]))
            self._pixels = np.zeros((high[0] - low[0], high[1] - low[1], bands), np.uint8)
            self._commit(slots, positions)
            self._paint((0, 0, *self._pixels.shape[:2]))
            return
        self._grow(low, high)
        dirty = self._dirty_rects(slots, positions, changed)
        self._commit(slots, positions)
        if changed is None and len(dirty) > FULL_REPAINT_FRACTION * len(slots) + 4:
            dirty = [(0, 0, *self._pixels.shape[:2])]
        for rect in dirty:
            self._paint(rect)

    def render(self, slots: np.ndarray, positions: np.ndarray, width: int) -> np.ndarray:
        """A preview of any width, painted afresh from the thumbnails (`LiveStitcher.preview`
        at another size than the live one)."""
        other = LiveCanvas(width)
        other._tile_shape, other.thumb_scale, other.white = (
            self._tile_shape,
            self.thumb_scale,
            self.white,
        )
        other._thumbs = self._thumbs
        other.update(slots, positions)
        return other.pixels()

    # ----------------------------------------------------------------------------------------
    def _scale_for(self, positions: np.ndarray) -> float:
        """The largest scale on a ladder of steps of 2^(1/8) (9 %) that fits the mosaic in
        the width: the scale changes, and everything is painted again, only a few times while
        the mosaic grows, not after every tile of the first row."""
        assert self._tile_shape is not None
        extent = positions.max(axis=0) - positions.min(axis=0) + self._tile_shape
        fit = min(1.0, self.width / extent[1], PREVIEW_MAX_HEIGHT / extent[0])
        step = math.ceil(-8.0 * math.log2(fit) - 1e-9) if fit < 1.0 else 0
        return float(2.0 ** (-step / 8.0))

    def _keep_thumbnails_small(self, scale: float) -> None:
        """Halve the thumbnails while they are more than 2.5 times the preview's scale."""
        assert self.thumb_scale is not None
        while self.thumb_scale > 2.5 * scale and self.thumb_scale > 1e-3:
            self.thumb_scale /= 2.0
            self._thumbs = {k: shrink(t, 0.5) for k, t in self._thumbs.items()}

    def _grow(self, low: np.ndarray, high: np.ndarray) -> None:
        """Extend the canvas to cover [low, high) (preview pixels), keeping what is painted."""
        top = min(int(low[0]), self._origin[0])
        left = min(int(low[1]), self._origin[1])
        bottom = max(int(high[0]), self._origin[0] + self._pixels.shape[0])
        right = max(int(high[1]), self._origin[1] + self._pixels.shape[1])
        if (top, left) == self._origin and (bottom - top, right - left) == self._pixels.shape[:2]:
            return
        grown = np.zeros((bottom - top, right - left, self._pixels.shape[2]), np.uint8)
        dy, dx = self._origin[0] - top, self._origin[1] - left
        grown[dy : dy + self._pixels.shape[0], dx : dx + self._pixels.shape[1]] = self._pixels
        self._pixels, self._origin = grown, (top, left)

    def _footprint(self, position: np.ndarray) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) on the canvas, clipped to it."""
        assert self._tile_shape is not None
        top, left = np.floor(position * self.scale).astype(int) - self._origin
        bottom, right = (
            np.ceil((position + self._tile_shape) * self.scale).astype(int) - self._origin
        )
        rows, cols = self._pixels.shape[:2]
        return max(0, top), max(0, left), min(rows, bottom), min(cols, right)

    def _dirty_rects(
        self, slots: np.ndarray, positions: np.ndarray, changed: np.ndarray | None = None
    ) -> list[tuple[int, int, int, int]]:
        if changed is not None:
            return self._dirty_rects_of(slots, positions, np.asarray(changed, np.int64))
        before = dict(zip(self._slots.tolist(), self._positions, strict=True))
        now = set(slots.tolist())
        rects = []
        for slot, position in zip(slots.tolist(), positions, strict=True):
            old = before.get(slot)
            if old is None:
                rects.append(self._footprint(position))
            elif np.abs(position - old).max() * self.scale > MOVE_WORTH_REPAINT_PX:
                rects.append(_union(self._footprint(position), self._footprint(old)))
        for slot, old in before.items():
            if slot not in now:
                rects.append(self._footprint(old))
        return rects

    def _dirty_rects_of(
        self, slots: np.ndarray, positions: np.ndarray, changed: np.ndarray
    ) -> list[tuple[int, int, int, int]]:
        """`_dirty_rects` over the ``changed`` slots only (found by bisection: both slot
        lists are sorted)."""
        rects = []
        for slot in changed.tolist():
            k_now = int(np.searchsorted(slots, slot))
            k_old = int(np.searchsorted(self._slots, slot))
            new = positions[k_now] if k_now < len(slots) and slots[k_now] == slot else None
            old = (
                self._positions[k_old]
                if k_old < len(self._slots) and self._slots[k_old] == slot
                else None
            )
            if new is not None and old is None:
                rects.append(self._footprint(new))
            elif new is None and old is not None:
                rects.append(self._footprint(old))
            elif new is not None and old is not None:
                if np.abs(new - old).max() * self.scale > MOVE_WORTH_REPAINT_PX:
                    rects.append(_union(self._footprint(new), self._footprint(old)))
        return rects

    def _commit(self, slots: np.ndarray, positions: np.ndarray) -> None:
        self._slots, self._positions = slots.copy(), positions.copy()

    def _paint(self, rect: tuple[int, int, int, int]) -> None:
        top, left, bottom, right = rect
        for y0 in range(top, bottom, BLOCK):
            for x0 in range(left, right, BLOCK):
                self._paint_block(y0, x0, min(bottom, y0 + BLOCK), min(right, x0 + BLOCK))

    def _paint_block(self, y0: int, x0: int, y1: int, x1: int) -> None:
        """Each pixel from the tile whose centre is nearest among those covering it; each tile
        is only looked at over the part of the block it covers."""
        assert self._tile_shape is not None and self.thumb_scale is not None
        if y1 <= y0 or x1 <= x0:
            return
        self.painted_pixels += (y1 - y0) * (x1 - x0)
        height, width = self._tile_shape
        # Pixel centres in the solve's frame (input pixels).
        rows = ((np.arange(y0, y1) + self._origin[0] + 0.5) / self.scale).astype(np.float32)
        cols = ((np.arange(x0, x1) + self._origin[1] + 0.5) / self.scale).astype(np.float32)
        positions = self._positions
        hit = (
            (positions[:, 0] <= rows[-1])
            & (positions[:, 0] + height > rows[0])
            & (positions[:, 1] <= cols[-1])
            & (positions[:, 1] + width > cols[0])
        )
        block = self._pixels[y0:y1, x0:x1]
        block[:] = 0
        best = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
        for k in np.flatnonzero(hit):
            thumb = self._thumbs.get(int(self._slots[k]))
            if thumb is None:
                continue
            # The rows and columns of the block inside the tile (sorted: a range).
            r0, r1 = np.searchsorted(rows, [positions[k, 0], positions[k, 0] + height])
            c0, c1 = np.searchsorted(cols, [positions[k, 1], positions[k, 1] + width])
            if r1 <= r0 or c1 <= c0:
                continue
            local_r = rows[r0:r1] - np.float32(positions[k, 0])
            local_c = cols[c0:c1] - np.float32(positions[k, 1])
            distance = np.add.outer(
                (local_r - np.float32(height / 2)) ** 2, (local_c - np.float32(width / 2)) ** 2
            )
            nearest = best[r0:r1, c0:c1]
            wins = distance < nearest
            if not wins.any():
                continue
            nearest[wins] = distance[wins]
            index_r = np.minimum((local_r * self.thumb_scale).astype(int), thumb.shape[0] - 1)
            index_c = np.minimum((local_c * self.thumb_scale).astype(int), thumb.shape[1] - 1)
            sampled = thumb.take(index_r, axis=0).take(index_c, axis=1)
            np.copyto(block[r0:r1, c0:c1], sampled, where=wins[:, :, None])


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
