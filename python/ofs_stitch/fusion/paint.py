"""Painting one chunk of the fused mosaic from the parts of the tiles it needs.

``nearest`` is the renderer's own painter (`render.nearest.NearestPainter`, the nearest-centre
rule in C++), fed with the tile regions it asks for: a chunk holds exactly the pixels of the
libvips renderer's mosaic there. The blends (``feather``, ``cosine``, ``mean``, ``max``) add
each tile's part into float sums in C++ (`_core.compose.add_patch`, the GIL released) and
divide at the end. A tile on whole pixels is added straight from its decoded region; any other
tile is first resampled onto the chunk's grid by the warp kernels (`core.warp`, Keys cubic by
default), over just the box it covers. Tiles are added in index order, so a chunk's pixels
never depend on how the canvas was cut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from .. import _core
from ..core.warp import warp_affine
from ..errors import InputError
from ..io.strips import StripRequest
from ..render.nearest import NearestPainter
from ..render.painting import Window
from .chunks import ChunkPlan, TilePart
from .layout import FusionLayout
from .tile_reads import read_region

Blend = Literal["nearest", "feather", "cosine", "mean", "max"]
BLENDS: tuple[str, ...] = ("nearest", "feather", "cosine", "mean", "max")
Interpolation = Literal["linear", "cubic"]

# Reads tile rows [row0, row1) x cols [col0, col1) in the mosaic's format.
RegionReader = Callable[[int, int, int, int, int], np.ndarray]


def check_blend(blend: str, layout: FusionLayout) -> None:
    if blend not in BLENDS:
        raise InputError(f"unknown blend {blend!r}; use one of: {', '.join(BLENDS)}")
    if blend == "nearest" and layout.geometry is None:
        raise InputError(
            "the nearest blend places tiles by translation only; these tiles have affine "
            "placements: use --blend feather (or cosine, mean, max)"
        )


def file_reader(layout: FusionLayout) -> RegionReader:
    """Regions read from the tiles' files (see `tile_reads`)."""

    def read(tile: int, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        return read_region(layout.headers[tile], layout.fmt, row0, row1, col0, col1)

    return read


def _corrected_float(
    layout: FusionLayout, tile: int, pixels: np.ndarray, row0: int, col0: int
) -> np.ndarray:
    """The region divided by the flat field (float32)."""
    assert layout.flat_field is not None
    rows, cols = pixels.shape[:2]
    flat = layout.flat_field[row0 : row0 + rows, col0 : col0 + cols]
    return pixels.astype(np.float32) / flat[:, :, None]


def _corrected_in_format(
    layout: FusionLayout, tile: int, pixels: np.ndarray, row0: int, col0: int
) -> np.ndarray:
    """The region with its gain and flat field applied, back in the mosaic's format."""
    if layout.gains is None and layout.flat_field is None:
        return pixels
    values = (
        _corrected_float(layout, tile, pixels, row0, col0)
        if layout.flat_field is not None
        else pixels.astype(np.float32)
    )
    if layout.gains is not None:
        values *= layout.gains[tile]
    np.rint(values, out=values)
    np.clip(values, 0, layout.fmt.max_value, out=values)
    return values.astype(layout.fmt.dtype)


def paint_nearest(layout: FusionLayout, window: Window, read: RegionReader) -> np.ndarray:
    """The window under the nearest-centre rule, exactly as the renderer paints it."""
    assert layout.geometry is not None
    painter = NearestPainter(layout.geometry)
    strips: dict[int, tuple[StripRequest, np.ndarray]] = {}
    for need in painter.needs(window):
        pixels = read(need.tile, need.row0, need.row1, need.col0, need.col1)
        pixels = _corrected_in_format(layout, need.tile, pixels, need.row0, need.col0)
        strips[need.tile] = (need, pixels)
    colour, _ = painter.paint(window, strips, layout.fmt)
    return colour


def _patch(
    layout: FusionLayout, part: TilePart, pixels: np.ndarray, interpolation: Interpolation
) -> tuple[np.ndarray, tuple[float, float, float, float, float, float]]:
    """The part's pixels on the canvas grid over ``part.box``, and the tile coordinates of its
    first pixel and their steps (u0, du_di, du_dj, v0, dv_di, dv_dj)."""
    box = part.box
    m = layout.to_tile[part.tile]
    u = m[0] @ (box.y0, box.x0, 1.0)
    v = m[1] @ (box.y0, box.x0, 1.0)
    tile_map = (float(u), float(m[0, 0]), float(m[0, 1]), float(v), float(m[1, 0]), float(m[1, 1]))
    if layout.is_whole_pixel(part.tile):
        # A copy: the region read is exactly the box, tile pixel (u0, v0) first.
        return pixels, (float(round(u)), 1.0, 0.0, float(round(v)), 0.0, 1.0)
    # Canvas -> region coordinates: the tile map less the region's offset in the tile.
    to_region = m.copy()
    to_region[0, 2] -= part.row0
    to_region[1, 2] -= part.col0
    patch = warp_affine(
        pixels,
        to_region,
        window=(box.y0, box.x0, box.rows, box.cols),
        interpolation=interpolation,
        threads=1,
    )
    return (patch if patch.ndim == 3 else patch[:, :, None]), tile_map


def paint_blend(
    layout: FusionLayout,
    plan: ChunkPlan,
    read: RegionReader,
    blend: Blend | str,
    interpolation: Interpolation = "cubic",
) -> np.ndarray:
    """The chunk's window under a weighted blend (feather, cosine, mean) or max."""
    window = plan.window
    bands = layout.fmt.bands
    total = np.zeros((window.rows, window.cols, bands), np.float32)
    weight = np.zeros((window.rows, window.cols), np.float32)
    for part in plan.parts:
        pixels = read(part.tile, part.row0, part.row1, part.col0, part.col1)
        if layout.flat_field is not None:
            pixels = _corrected_float(layout, part.tile, pixels, part.row0, part.col0)
        patch, tile_map = _patch(layout, part, pixels, interpolation)
        gain = 1.0 if layout.gains is None else float(layout.gains[part.tile])
        rows, cols = (int(v) for v in layout.shapes[part.tile])
        _core.compose.add_patch(
            total,
            weight,
            patch,
            part.box.y0 - window.y0,
            part.box.x0 - window.x0,
            tile_map,
            rows,
            cols,
            gain,
            str(blend),
        )
    out = np.empty((window.rows, window.cols, bands), layout.fmt.dtype)
    covered = np.empty((window.rows, window.cols), bool)
    _core.compose.finish_blend(total, weight, out, covered, float(layout.fmt.max_value))
    return out


def paint_chunk(
    layout: FusionLayout,
    plan: ChunkPlan,
    read: RegionReader,
    blend: Blend | str = "nearest",
    interpolation: Interpolation = "cubic",
) -> np.ndarray:
    """The chunk's pixels, (rows, cols, bands) of the mosaic's dtype; uncovered pixels 0."""
    if blend == "nearest":
        return paint_nearest(layout, plan.window, read)
    return paint_blend(layout, plan, read, blend, interpolation)
