"""Where each tile lands in the fused mosaic: the input of the chunk planner and painters.

A fused mosaic is a canvas of whole pixels; each tile reaches it through an affine map. Tiles
placed by translation (the usual case: positions from a stitching run, a Fiji
TileConfiguration, a CSV or the stage) keep the renderer's own layout (`render.geometry`), so
the ``nearest`` rule paints exactly the pixels the libvips renderer paints; tiles placed by an
affine map (rotated or scaled cameras) get a canvas that holds all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.header import ImageFacts
from ..io.pixel_format import PixelFormat
from ..render.geometry import MosaicGeometry, layout_from_arrays, with_headers

# Positions closer than this to a whole pixel are placed by copying (no resampling).
WHOLE_PIXEL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class FusionLayout:
    """Tiles, how canvas pixels map into each of them, the canvas and what it holds."""

    paths: tuple[Path, ...]
    shapes: np.ndarray  # (n, 2) int tile sizes (rows, cols)
    # (n, 3, 3) float64: canvas (row, col, 1) -> tile (row, col, 1) (the warp convention of
    # core/warp.py: out[p] = tile[M @ p]).
    to_tile: np.ndarray
    height: int
    width: int
    fmt: PixelFormat
    headers: tuple[ImageFacts, ...]
    # Mosaic-frame (row, col) of canvas pixel (0, 0), input pixels.
    origin: tuple[float, float]
    # Micrometres per canvas pixel, when known (written into the OME metadata).
    pixel_size_um: float | None = None
    # The renderer's layout when every tile is placed by a translation (None otherwise).
    geometry: MosaicGeometry | None = None
    # Per-tile multiplicative gains (n,), and one flat field (rows, cols) of the camera, mean 1:
    # a tile's pixels are divided by it before blending.
    gains: np.ndarray | None = None
    flat_field: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def is_whole_pixel(self, tile: int) -> bool:
        """True when the tile is placed by a whole-pixel translation (painted by copying)."""
        m = self.to_tile[tile]
        linear = np.abs(m[:2, :2] - np.eye(2)).max() < WHOLE_PIXEL_TOLERANCE
        shift = m[:2, 2]
        return bool(linear and np.abs(shift - np.rint(shift)).max() < WHOLE_PIXEL_TOLERANCE)

    def footprints(self, *, rounded: bool = False) -> np.ndarray:
        """(n, 4) int canvas boxes [row0, row1) x [col0, col1) that hold every canvas pixel
        mapping inside each tile (clipped to the canvas). ``rounded``: of the tiles placed on
        whole pixels, as the ``nearest`` rule places them (translations only)."""
        if rounded:
            if self.geometry is None:
                raise InputError("the nearest rule places tiles by translation only")
            tops = self.geometry.placements
            bottoms = tops + self.shapes
            return np.stack(
                [
                    np.maximum(tops[:, 0], 0),
                    np.minimum(bottoms[:, 0], self.height),
                    np.maximum(tops[:, 1], 0),
                    np.minimum(bottoms[:, 1], self.width),
                ],
                axis=1,
            ).astype(np.int64)
        boxes = np.empty((len(self), 4), np.int64)
        for t in range(len(self)):
            rows, cols = (int(v) for v in self.shapes[t])
            corners = np.array(
                [[0, 0, 1], [rows - 1, 0, 1], [0, cols - 1, 1], [rows - 1, cols - 1, 1]], float
            )
            on_canvas = corners @ np.linalg.inv(self.to_tile[t]).T
            low = np.ceil(on_canvas[:, :2].min(0) - WHOLE_PIXEL_TOLERANCE)
            high = np.floor(on_canvas[:, :2].max(0) + WHOLE_PIXEL_TOLERANCE) + 1
            boxes[t] = [
                max(0, low[0]),
                min(self.height, high[0]),
                max(0, low[1]),
                min(self.width, high[1]),
            ]
        return boxes


def _checked_extras(
    count: int, gains: Sequence[float] | np.ndarray | None, flat_field: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    gain_array = None
    if gains is not None:
        gain_array = np.asarray(gains, dtype=np.float32).reshape(-1)
        if len(gain_array) != count or not (np.isfinite(gain_array) & (gain_array > 0)).all():
            raise InputError(f"give {count} positive gains, one per tile")
    flat = None
    if flat_field is not None:
        flat = np.asarray(flat_field, dtype=np.float32)
        if flat.ndim == 3:
            flat = flat.mean(axis=2)
        if flat.ndim != 2 or not (np.isfinite(flat) & (flat > 0)).all():
            raise InputError("the flat field must be a positive (rows, cols) image")
        flat = (flat / flat.mean()).astype(np.float32)
    return gain_array, flat


def layout_from_positions(
    paths: Sequence[Path | str],
    positions: np.ndarray,
    *,
    shapes: np.ndarray | None = None,
    headers: Sequence[ImageFacts] | None = None,
    pixel_size_um: float | None = None,
    gains: Sequence[float] | np.ndarray | None = None,
    flat_field: np.ndarray | None = None,
) -> FusionLayout:
    """Tiles placed by translation: (n, 2) float top-left (row, col) positions in pixels.

    Sizes and headers are read from the files when not given. The canvas is the renderer's
    (`render.geometry.layout_from_arrays`), so ``nearest`` fuses exactly as it renders.
    """
    if headers is None:
        from ..io.header import read_headers

        headers = list(read_headers([Path(p) for p in paths]))
    if shapes is None:
        shapes = np.array([[h.height, h.width] for h in headers], np.int64).reshape(-1, 2)
    geometry = with_headers(layout_from_arrays(paths, positions, shapes, headers))
    return _from_geometry(geometry, pixel_size_um, gains, flat_field)


def layout_from_geometry(
    geometry: MosaicGeometry,
    *,
    pixel_size_um: float | None = None,
    gains: Sequence[float] | np.ndarray | None = None,
    flat_field: np.ndarray | None = None,
) -> FusionLayout:
    """The fusion layout of a renderer's layout (`render.geometry.MosaicGeometry`)."""
    return _from_geometry(with_headers(geometry), pixel_size_um, gains, flat_field)


def _from_geometry(
    geometry: MosaicGeometry,
    pixel_size_um: float | None,
    gains: Sequence[float] | np.ndarray | None,
    flat_field: np.ndarray | None,
) -> FusionLayout:
    assert geometry.headers is not None and geometry.pixel_format is not None
    n = len(geometry)
    to_tile = np.tile(np.eye(3), (n, 1, 1))
    to_tile[:, :2, 2] = -geometry.positions
    gain_array, flat = _checked_extras(n, gains, flat_field)
    _check_flat_shape(flat, geometry.shapes, geometry.paths)
    return FusionLayout(
        paths=geometry.paths,
        shapes=np.asarray(geometry.shapes, np.int64),
        to_tile=to_tile,
        height=geometry.height,
        width=geometry.width,
        fmt=geometry.pixel_format,
        headers=geometry.headers,
        origin=geometry.origin,
        pixel_size_um=_checked_pixel_size(pixel_size_um),
        geometry=geometry,
        gains=gain_array,
        flat_field=flat,
    )


def layout_from_transforms(
    paths: Sequence[Path | str],
    matrices: np.ndarray,
    *,
    headers: Sequence[ImageFacts] | None = None,
    pixel_size_um: float | None = None,
    gains: Sequence[float] | np.ndarray | None = None,
    flat_field: np.ndarray | None = None,
) -> FusionLayout:
    """Tiles placed by affine maps: (n, 3, 3) matrices taking tile (row, col, 1) to mosaic
    (row, col, 1) (`core.transform.Transform.matrix` of each tile). The canvas starts at the
    smallest mosaic coordinate any tile reaches."""
    from ..io.header import read_headers
    from ..io.pixel_format import pixel_format_of

    matrices = np.asarray(matrices, dtype=float).reshape(-1, 3, 3)
    if len(matrices) != len(paths) or len(paths) == 0:
        raise InputError(f"{len(paths)} tiles but {len(matrices)} transforms: give one per tile")
    if not np.isfinite(matrices).all():
        raise InputError("a tile's transform is not finite; re-run the registration")
    if headers is None:
        headers = list(read_headers([Path(p) for p in paths]))
    if np.abs(matrices[:, :2, :2] - np.eye(2)).max() < WHOLE_PIXEL_TOLERANCE:
        # Translations: the renderer's canvas, so every blend agrees with it.
        return layout_from_positions(
            paths,
            matrices[:, :2, 2],
            headers=headers,
            pixel_size_um=pixel_size_um,
            gains=gains,
            flat_field=flat_field,
        )
    shapes = np.array([[h.height, h.width] for h in headers], np.int64).reshape(-1, 2)
    corners = []
    for m, (rows, cols) in zip(matrices, shapes, strict=True):
        box = np.array([[0, 0, 1], [rows - 1, 0, 1], [0, cols - 1, 1], [rows - 1, cols - 1, 1]])
        corners.append(box @ m.T)
    points = np.concatenate(corners)[:, :2]
    origin = np.floor(points.min(0) + WHOLE_PIXEL_TOLERANCE)
    extent = np.floor(points.max(0) - origin + WHOLE_PIXEL_TOLERANCE).astype(np.int64) + 1
    shift = np.eye(3)
    shift[:2, 2] = origin  # canvas -> mosaic
    to_tile = np.array([np.linalg.inv(m) @ shift for m in matrices])
    gain_array, flat = _checked_extras(len(paths), gains, flat_field)
    _check_flat_shape(flat, shapes, tuple(Path(p) for p in paths))
    return FusionLayout(
        paths=tuple(Path(p) for p in paths),
        shapes=shapes,
        to_tile=to_tile,
        height=int(extent[0]),
        width=int(extent[1]),
        fmt=pixel_format_of(headers),
        headers=tuple(headers),
        origin=(float(origin[0]), float(origin[1])),
        pixel_size_um=_checked_pixel_size(pixel_size_um),
        geometry=None,
        gains=gain_array,
        flat_field=flat,
    )


def _check_flat_shape(flat: np.ndarray | None, shapes: np.ndarray, paths: Sequence[Path]) -> None:
    if flat is None:
        return
    mismatched = np.flatnonzero((shapes != flat.shape).any(axis=1))
    if len(mismatched):
        tile = int(mismatched[0])
        raise InputError(
            f"the flat field is {flat.shape[1]} x {flat.shape[0]} px but {paths[tile]} is "
            f"{shapes[tile, 1]} x {shapes[tile, 0]} px; give a flat field of the tiles' size"
        )


def _checked_pixel_size(pixel_size_um: float | None) -> float | None:
    if pixel_size_um is None:
        return None
    value = float(pixel_size_um)
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"pixel size {pixel_size_um} um is not positive; give --pixel_size_um")
    return value
