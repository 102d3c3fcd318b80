"""The tiles fusion works in, and reading one tile's region of a frame.

Fusion covers the output with tiles (``Tile.inside``, disjoint) and reads each frame only over
the tile grown by a margin (``Tile.region``), wide enough that every filter of the method sees
in the region what it would see in the whole frame: the tile's result is then the whole-frame
result (to float rounding). Memory follows the tile, not the frame or the number of frames.

Tile corners and margins are multiples of ``align`` (2 ** pyramid levels), so that a region's
pyramid samples the same grid as the whole frame's; a region stops at the frame's edge, where
it mirrors exactly as the whole frame does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import Frame, Frames, as_float


@dataclass(frozen=True)
class Box:
    """Rows ``top:bottom``, columns ``left:right`` of a frame."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.bottom - self.top, self.right - self.left)

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.top, self.bottom), slice(self.left, self.right))

    def within(self, outer: Box) -> tuple[slice, slice]:
        """This box's slices in an array that holds ``outer``."""
        return (
            slice(self.top - outer.top, self.bottom - outer.top),
            slice(self.left - outer.left, self.right - outer.left),
        )

    def scaled(self, factor: int) -> Box:
        """This box on a level ``factor`` times coarser (corners divided, ends rounded up)."""
        return Box(
            self.top // factor,
            -(-self.bottom // factor),
            self.left // factor,
            -(-self.right // factor),
        )


@dataclass(frozen=True)
class Tile:
    """``inside``: the output pixels this tile gives; ``region``: what it reads of each frame."""

    inside: Box
    region: Box


def plan(shape: tuple[int, int], size: int | None, margin: int, align: int = 1) -> list[Tile]:
    """Tiles of about ``size`` px (rounded up to a multiple of ``align``) covering ``shape``,
    each read with ``margin`` px (rounded up likewise) around it. ``size`` None, or a frame no
    larger than one tile: one tile, the whole frame."""
    rows, cols = shape
    whole = Box(0, rows, 0, cols)
    if size is None or (rows <= size and cols <= size):
        return [Tile(whole, whole)]
    step = -(-max(size, 1) // align) * align
    grow = -(-margin // align) * align
    tiles = []
    for top in range(0, rows, step):
        for left in range(0, cols, step):
            inside = Box(top, min(rows, top + step), left, min(cols, left + step))
            region = Box(
                max(0, top - grow),
                min(rows, inside.bottom + grow),
                max(0, left - grow),
                min(cols, inside.right + grow),
            )
            tiles.append(Tile(inside, region))
    return tiles


def read_area(shape: tuple[int, int], tiles: list[Tile]) -> float:
    """The pixels read per frame over all tiles, in frames (1.0: no margins)."""
    read = sum(t.region.shape[0] * t.region.shape[1] for t in tiles)
    return read / max(1, shape[0] * shape[1])


def read_region(frames: Frames, index: int, box: Box) -> Frame:
    """Frame ``index`` over ``box``, as a fresh array the caller may change.

    Stacks that can read part of a frame (a ``region(index, box)`` method: arrays, frames
    cached on disk) read only the box; any other decodes the frame and crops it.
    """
    reader = getattr(frames, "region", None)
    if reader is not None:
        return reader(index, box)  # type: ignore[no-any-return]
    frame = frames.frame(index)
    rows, cols = box.slices
    pixels = np.ascontiguousarray(frame.pixels[rows, cols])
    valid = None if frame.valid is None else np.ascontiguousarray(frame.valid[rows, cols])
    return Frame(as_float(pixels) if pixels.dtype != np.float32 else pixels, valid)
