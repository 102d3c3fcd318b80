"""Render: paint tiles through their maps into one growing canvas.

``Renderer(rigid={t: (x, y)})`` or ``Renderer(affine={t: A})`` (the results of
`Placement.rigid` / `Placement.affine`) with the tiles' ``tile_size`` = (w, h); ``render(t,
image)`` warps the tile into model space with the core's warping kernels (`core.warp`,
nearest or linear) and paints it into ``.image``, a numpy canvas that grows to hold every tile
rendered so far. Canvas pixel (row, col) is model point ``(x, y) = origin + (col, row)``.

Without feathering a tile covers what earlier tiles painted (the last one wins, as
spectralign's renderer does). With ``feather=F`` px each tile's weight rises linearly from 0 at
its edge to 1 at F px inside, and ``.image`` is the weighted mean: seams fade out.

``write(paths, tiles)`` hands the same maps to the mosaic writers (`align.mosaic`): JPEG,
OME-TIFF or DZI files, rendered band by band, for mosaics too large for a numpy canvas.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..core.warp import Interpolation, warp_affine
from ..errors import InputError

if TYPE_CHECKING:
    from .mosaic import MosaicWritten

INTERPOLATIONS: tuple[str, ...] = ("nearest", "linear")


class Renderer:
    """A canvas that tiles are painted into through their model-space maps (module docstring)."""

    def __init__(
        self,
        *,
        rigid: Mapping[Hashable, ArrayLike] | None = None,
        affine: Mapping[Hashable, ArrayLike] | None = None,
        tile_size: tuple[int, int] | None = None,
        interpolation: Interpolation = "linear",
        feather: float = 0.0,
    ) -> None:
        if (rigid is None) == (affine is None):
            raise InputError("pass rigid={tile: (x, y)} or affine={tile: 2x3 A}, one of them")
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"interpolation={interpolation!r}; use 'nearest' or 'linear'")
        if not (math.isfinite(feather) and feather >= 0):
            raise InputError(f"feather={feather} must be >= 0 pixels (0: no feathering)")
        self.maps: dict[Hashable, np.ndarray] = (
            {t: _rigid_map(t, v) for t, v in rigid.items()}
            if rigid is not None
            else {t: _affine_map(t, v) for t, v in affine.items()}  # type: ignore[union-attr]
        )
        self.tile_size = None if tile_size is None else _size(tile_size)
        self.interpolation = interpolation
        self.feather = float(feather)
        self.origin = (0.0, 0.0)
        """Model (x, y) of canvas pixel (0, 0)."""
        self._sum: np.ndarray | None = None  # feathered: weighted sums; else the pixels
        self._weight: np.ndarray | None = None  # feathered: summed weights; else coverage
        self._dtype: np.dtype | None = None
        self._bands: tuple[int, ...] = ()

    @property
    def image(self) -> np.ndarray:
        """The canvas: (rows, cols) or (rows, cols, bands) in the tiles' dtype; 0 where no tile
        reaches. Empty (0, 0) before the first tile."""
        if self._sum is None or self._weight is None or self._dtype is None:
            return np.zeros((0, 0))
        if not self.feather:
            return self._sum
        weight = self._weight.reshape(self._weight.shape + (1,) * len(self._bands))
        mean = np.divide(self._sum, weight, out=np.zeros_like(self._sum), where=weight > 0)
        return _to_dtype(mean, self._dtype)

    @property
    def coverage(self) -> np.ndarray:
        """(rows, cols) bool: the canvas pixels some tile painted."""
        if self._weight is None:
            return np.zeros((0, 0), bool)
        return self._weight > 0

    def render(self, t: Hashable, image: ArrayLike) -> None:
        """Paint tile ``t``'s pixels ``image`` ((h, w) or (h, w, bands); uint8, uint16 or
        float) through its map, growing the canvas as needed."""
        if t not in self.maps:
            raise InputError(
                f"tile {t!r} has no map; render one of the tiles given to the Renderer"
            )
        pixels = np.asarray(image)
        if pixels.ndim not in (2, 3) or pixels.size == 0:
            raise InputError(
                f"image of tile {t!r} has shape {pixels.shape}; pass (h, w) or (h, w, bands)"
            )
        h, w = pixels.shape[:2]
        if self.tile_size is not None and (w, h) != self.tile_size:
            raise InputError(
                f"image of tile {t!r} is {w}x{h} but tile_size is "
                f"{self.tile_size[0]}x{self.tile_size[1]}; pass tiles of the size given"
            )
        if pixels.dtype.kind == "f" and pixels.dtype != np.float32:
            pixels = pixels.astype(np.float32)
        if self._dtype is None:
            self._dtype, self._bands = pixels.dtype, pixels.shape[2:]
        elif pixels.shape[2:] != self._bands or pixels.dtype != self._dtype:
            raise InputError(
                f"image of tile {t!r} is {pixels.dtype} with bands {pixels.shape[2:]}, but earlier "
                f"tiles were {self._dtype} with {self._bands}; render tiles of one kind"
            )
        model = self.maps[t]
        top, left, rows, cols = self._grow(model, w, h)
        # Canvas (row, col) -> model (x, y) = origin + (col, row) -> tile (x, y) -> tile (row, col).
        canvas_to_model = np.array(
            [[0.0, 1.0, self.origin[0]], [1.0, 0.0, self.origin[1]], [0, 0, 1]]
        )
        tile_xy = np.linalg.inv(model) @ canvas_to_model
        to_rc = tile_xy[[1, 0, 2]]
        warped, valid = warp_affine(
            pixels,
            to_rc,
            window=(top, left, rows, cols),
            interpolation=self.interpolation,
            mask=True,
        )
        assert self._sum is not None and self._weight is not None
        target = (slice(top, top + rows), slice(left, left + cols))
        if not self.feather:
            self._sum[target][valid] = warped[valid]
            self._weight[target] |= valid
            return
        ys, xs = np.mgrid[top : top + rows, left : left + cols]
        tx = tile_xy[0, 0] * ys + tile_xy[0, 1] * xs + tile_xy[0, 2]
        ty = tile_xy[1, 0] * ys + tile_xy[1, 1] * xs + tile_xy[1, 2]
        # Distance (tile px) to the nearest edge of the tile's footprint [-0.5, w - 0.5).
        edge = np.minimum(np.minimum(tx + 0.5, w - 0.5 - tx), np.minimum(ty + 0.5, h - 0.5 - ty))
        weight = np.clip(edge / self.feather, 0.0, 1.0).astype(np.float32) * valid
        self._sum[target] += warped.astype(np.float32) * weight.reshape(
            weight.shape + (1,) * len(self._bands)
        )
        self._weight[target] += weight

    def write(
        self,
        paths: str | Path | Sequence[str | Path],
        tiles: Mapping[Hashable, str | Path | np.ndarray],
        *,
        blend: str = "feather",
        pixel_size_um: float | None = None,
    ) -> MosaicWritten:
        """Write the mosaic of ``tiles`` ({tile: path or uint8/uint16 array}) through this
        Renderer's maps to JPEG / OME-TIFF / DZI files, streaming band by band: the canvas
        need not fit in memory. See `align.mosaic.write_mosaic`."""
        from .mosaic import write_mosaic

        return write_mosaic(paths, self, tiles, blend=blend, pixel_size_um=pixel_size_um)

    def _grow(self, model: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
        """Enlarge the canvas to hold the tile's footprint; its window (top, left, rows, cols)."""
        corners = np.array(
            [[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]]
        )
        reach = (model @ corners.T)[:2]
        low = np.floor(reach.min(axis=1) + 0.5).astype(int)  # first pixel centre inside
        high = np.ceil(reach.max(axis=1) - 0.5).astype(int) + 1  # one past the last
        assert self._dtype is not None
        if self._sum is None:
            self.origin = (float(low[0]), float(low[1]))
            self._allocate(int(high[1] - low[1]), int(high[0] - low[0]))
        else:
            old = np.array(self.origin, dtype=int)
            rows, cols = self._weight.shape  # type: ignore[union-attr]
            new_low = np.minimum(low, old)
            new_high = np.maximum(high, old + [cols, rows])
            if (new_low != old).any() or (new_high != old + [cols, rows]).any():
                previous_sum, previous_weight = self._sum, self._weight
                self.origin = (float(new_low[0]), float(new_low[1]))
                self._allocate(int(new_high[1] - new_low[1]), int(new_high[0] - new_low[0]))
                dx, dy = old - new_low
                self._sum[dy : dy + rows, dx : dx + cols] = previous_sum
                self._weight[dy : dy + rows, dx : dx + cols] = previous_weight  # type: ignore[index]
        x0, y0 = int(low[0] - self.origin[0]), int(low[1] - self.origin[1])
        return y0, x0, int(high[1] - low[1]), int(high[0] - low[0])

    def _allocate(self, rows: int, cols: int) -> None:
        shape = (rows, cols) + self._bands
        if self.feather:
            self._sum = np.zeros(shape, np.float32)
            self._weight = np.zeros((rows, cols), np.float32)
        else:
            self._sum = np.zeros(shape, self._dtype)
            self._weight = np.zeros((rows, cols), bool)


def _rigid_map(t: Hashable, value: ArrayLike) -> np.ndarray:
    origin = np.asarray(value, dtype=np.float64)
    if origin.shape != (2,) or not np.isfinite(origin).all():
        raise InputError(f"rigid[{t!r}] is {value!r}; give each tile's origin as finite (x, y)")
    return np.array([[1.0, 0.0, origin[0]], [0.0, 1.0, origin[1]], [0.0, 0.0, 1.0]])


def _affine_map(t: Hashable, value: ArrayLike) -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.shape == (3, 3):
        matrix = matrix[:2]
    if matrix.shape != (2, 3) or not np.isfinite(matrix).all():
        raise InputError(
            f"affine[{t!r}] has shape {np.shape(value)}; give each tile a finite 2x3 A with "
            "model (x, y) = A @ (x, y, 1)"
        )
    if abs(np.linalg.det(matrix[:, :2])) < 1e-9:
        raise InputError(f"affine[{t!r}] is singular (it flattens the tile); check the placement")
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _size(tile_size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in tile_size)
    except (TypeError, ValueError):
        raise InputError(f"tile_size={tile_size!r}; pass (w, h) in pixels") from None
    if w < 1 or h < 1:
        raise InputError(f"tile_size={tile_size!r}; w and h must be at least 1")
    return w, h


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(values), info.min, info.max).astype(dtype)
