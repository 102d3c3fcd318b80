"""Where each tile lands on the output canvas: the input of every rendering stage.

The solver gives tile top-left positions (row, col) in the mosaic frame, in input pixels. The
canvas starts at the smallest position, so its pixel (0, 0) is the mosaic-frame point `origin`.
A layout can be scaled (for the preview): positions and tile sizes are then in output pixels.
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


def plan_layout(tiles: Sequence[Tile], positions: np.ndarray) -> MosaicGeometry:
    """Layout of the scan's tiles at their solved (n, 2) (row, col) top-left positions."""
    return layout_from_arrays(
        [t.path for t in tiles],
        positions,
        np.array([t.shape for t in tiles]).reshape(-1, 2),
        tiles,
    )


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
    )
