"""Where each tile lands on the output canvas: the input of every rendering stage.

The solver gives tile top-left positions (row, col) in the mosaic frame, in input pixels. The
canvas starts at the smallest position, so its pixel (0, 0) is the mosaic-frame point `origin`.
A layout can be scaled (for the preview): positions and tile sizes are then in output pixels.

A layout may also carry per-tile affine maps (``affines``: (n, 3, 3), tile (row, col) to canvas
(row, col), ``--transform affine``); ``positions`` then hold where each tile's pixel (0, 0)
lands, and the canvas covers every tile's mapped footprint. The painters warp such tiles
(`render.affine_paint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.header import ImageFacts, read_headers
from ..io.pixel_format import PixelFormat, pixel_format_of
from ..io.tiles import Tile


@dataclass(frozen=True)
class MosaicGeometry:
    """Tiles, their float positions on the canvas and the canvas size, all in output pixels."""

    paths: tuple[Path, ...]
    # (n, 2) float top-left corners (row, col) relative to the canvas; the minimum is 0.
    positions: np.ndarray
    # (n, 2) int tile sizes (height, width) as rendered (scaled tiles are resized to this).
    shapes: np.ndarray
    height: int
    width: int
    # Mosaic-frame (row, col) of canvas pixel (0, 0), in input pixels.
    origin: tuple[float, float]
    # Output pixels per input pixel: 1 for the full-size mosaic, < 1 for previews.
    scale: float = 1.0
    # What the mosaic holds, and each tile's header facts (size in its file, bands, colour,
    # loader), when the input stage already read them; None: `with_headers` reads them
    # (reopening hundreds of files costs a noticeable fraction of a second).
    pixel_format: PixelFormat | None = None
    headers: tuple[ImageFacts, ...] | None = None
    # (n, 3, 3) maps tile (row, col) -> canvas (row, col) in output pixels; None: translations.
    affines: np.ndarray | None = None

    @property
    def placements(self) -> np.ndarray:
        """(n, 2) int top-left corners when tiles are placed on whole pixels (no resampling)."""
        return np.rint(self.positions).astype(np.int64)

    def __len__(self) -> int:
        return len(self.paths)


def _canvas_size(positions: np.ndarray, shapes: np.ndarray) -> tuple[int, int]:
    # Rounded placements never pass ceil(position + size), and a resampled tile covers at most
    # up to position + size - 1, so this extent holds every pixel of both kinds of rendering.
    extent = np.ceil((positions + shapes).max(0) - 1e-9).astype(np.int64)
    return int(extent[0]), int(extent[1])


def layout_from_arrays(
    paths: Sequence[Path | str],
    positions: np.ndarray,
    shapes: np.ndarray,
    headers: Sequence[ImageFacts] | None = None,
) -> MosaicGeometry:
    """Build a layout from tile paths, (n, 2) top-left positions and (n, 2) tile sizes, and
    the tiles' headers when known (the mosaic's pixel format then follows from them)."""
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
    if len(paths) == 0:
        raise InputError("no tiles to render: the scan has no images with positions")
    if not len(paths) == len(positions) == len(shapes):
        raise InputError(
            f"{len(paths)} tiles but {len(positions)} positions and {len(shapes)} sizes: "
            "give one position per tile"
        )
    if not np.isfinite(positions).all():
        bad = int(np.nonzero(~np.isfinite(positions).all(1))[0][0])
        raise InputError(
            f"{Path(paths[bad]).name}: its position is not a finite number; "
            "re-run the registration or give it a position"
        )
    if (shapes < 1).any():
        raise InputError("every tile must be at least one pixel high and wide")
    origin = positions.min(0)
    relative = positions - origin
    height, width = _canvas_size(relative, shapes)
    return MosaicGeometry(
        paths=tuple(Path(p) for p in paths),
        positions=relative,
        shapes=shapes,
        height=height,
        width=width,
        origin=(float(origin[0]), float(origin[1])),
        pixel_format=None if headers is None else pixel_format_of(headers),
        headers=None if headers is None else tuple(headers),
    )


def plan_layout(
    tiles: Sequence[Tile], positions: np.ndarray, affines: np.ndarray | None = None
) -> MosaicGeometry:
    """Layout of the scan's tiles at their solved (n, 2) (row, col) top-left positions, or
    through (n, 3, 3) ``affines`` mapping tile (row, col) to mosaic-frame (row, col)."""
    shapes = np.array([t.shape for t in tiles]).reshape(-1, 2)
    if affines is None:
        return layout_from_arrays([t.path for t in tiles], positions, shapes, tiles)
    return affine_layout([t.path for t in tiles], affines, shapes, tiles)


def affine_layout(
    paths: Sequence[Path | str],
    affines: np.ndarray,
    shapes: np.ndarray,
    headers: Sequence[ImageFacts] | None = None,
) -> MosaicGeometry:
    """Layout of tiles mapped into the mosaic frame by (n, 3, 3) affines (tile (row, col) ->
    mosaic (row, col)); the canvas holds every tile's mapped footprint."""
    maps = np.asarray(affines, dtype=np.float64).reshape(-1, 3, 3)
    shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
    if len(maps) != len(paths) or not np.isfinite(maps).all():
        raise InputError(f"{len(paths)} tiles need {len(paths)} finite affine maps")
    reach = np.concatenate([_footprint(m, shape) for m, shape in zip(maps, shapes, strict=True)])
    origin = np.floor(reach.min(0))
    height, width = (int(v) for v in np.ceil(reach.max(0) - origin - 1e-9))
    to_canvas = np.array([[1.0, 0.0, -origin[0]], [0.0, 1.0, -origin[1]], [0.0, 0.0, 1.0]])
    canvas_maps = to_canvas @ maps
    return MosaicGeometry(
        paths=tuple(Path(p) for p in paths),
        positions=canvas_maps[:, :2, 2].copy(),
        shapes=shapes,
        height=max(height, 1),
        width=max(width, 1),
        origin=(float(origin[0]), float(origin[1])),
        pixel_format=None if headers is None else pixel_format_of(headers),
        headers=None if headers is None else tuple(headers),
        affines=canvas_maps,
    )


def _footprint(matrix: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Where the corners of a tile's pixel area land: (4, 2) (row, col)."""
    h, w = float(shape[0]), float(shape[1])
    corners = np.array(
        [[-0.5, -0.5, 1.0], [-0.5, w - 0.5, 1.0], [h - 0.5, -0.5, 1.0], [h - 0.5, w - 0.5, 1.0]]
    )
    return (matrix @ corners.T)[:2].T + 0.5


def with_headers(layout: MosaicGeometry) -> MosaicGeometry:
    """``layout`` with its tiles' headers and pixel format known: itself when made from the
    scan's tiles, else with the headers read now (once, for every stage that renders it)."""
    if layout.headers is not None and layout.pixel_format is not None:
        return layout
    headers = tuple(read_headers(layout.paths)) if layout.headers is None else layout.headers
    return replace(layout, headers=headers, pixel_format=pixel_format_of(headers))


def scaled_layout(layout: MosaicGeometry, scale: float) -> MosaicGeometry:
    """The same layout with positions and tile sizes multiplied by ``scale`` (0 < scale <= 1).

    Tile sizes are rounded to whole pixels (at least one), as the resized tiles will be.
    """
    if not 0 < scale <= 1:
        raise InputError(f"scale must be in (0, 1], got {scale}")
    positions = layout.positions * scale
    shapes = np.maximum(1, np.rint(layout.shapes * scale)).astype(np.int64)
    height, width = _canvas_size(positions, shapes)
    affines = None
    if layout.affines is not None:
        # A resized tile's pixel p shows the full tile at p / (its scale), and the canvas shrinks
        # by ``scale``; pixel centres stay centres (the half-pixel terms).
        tile_scale = shapes / layout.shapes
        affines = np.empty_like(layout.affines)
        for t, matrix in enumerate(layout.affines):
            up = _centre_scaling(1.0 / tile_scale[t])
            down = _centre_scaling(np.array([scale, scale]))
            affines[t] = down @ matrix @ up
        height = int(np.ceil(layout.height * scale))
        width = int(np.ceil(layout.width * scale))
        positions = affines[:, :2, 2].copy()
    return MosaicGeometry(
        paths=layout.paths,
        positions=positions,
        shapes=shapes,
        height=height,
        width=width,
        origin=layout.origin,
        scale=layout.scale * scale,
        pixel_format=layout.pixel_format,
        headers=layout.headers,
        affines=affines,
    )


def _centre_scaling(factor: np.ndarray) -> np.ndarray:
    """Scaling of (row, col) by ``factor`` that keeps pixel centres on pixel centres."""
    f = np.asarray(factor, dtype=np.float64)
    return np.array([[f[0], 0.0, (f[0] - 1) / 2], [0.0, f[1], (f[1] - 1) / 2], [0.0, 0.0, 1.0]])
