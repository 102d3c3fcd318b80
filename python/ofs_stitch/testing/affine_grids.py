"""Tile grids whose tiles are each slightly rotated, scaled and sheared: known per-tile affines.

Truth: every tile's map ``A`` (2x3) from its pixels to the scene, ``scene (x, y) = A @ (x, y,
1)``, points in (x, y) pixels as the align API takes them. A tile's pixel (x, y) holds the
scene at ``A @ (x, y, 1)``. The scene is the canvas of real photographs (``testing.scene``)
smoothed by a Gaussian of ``blur_sigma`` px (the optics: at 1.5 px it has no content a cubic
spline cannot follow, so sampling it anywhere is exact to about 1e-3 of full scale), sampled
with scipy's cubic spline.

Each tile is rotated about its centre by up to ``max_angle_deg``, scaled by up to
``max_scale``, sheared by up to ``max_shear`` and moved by up to ``jitter`` px from its
nominal raster place (the stage's guess), so neighbours overlap by about ``overlap`` of a
tile. ``nominal_origins`` is what a user knows before matching; ``overlap_points`` lays a grid
of rough matching points over each overlap from it. ``aligned_errors`` scores solved maps
against the truth after removing the one common affine no match can decide.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .scene import texture_canvas

Key = tuple[int, int]  # (grid row, grid col)
# Canvas pixels kept beyond the tiles' footprint: the spline's and the blur's reach.
_MARGIN = 24


@dataclass(frozen=True)
class AffineGrid:
    """Tiles keyed (grid row, grid col), their true maps into the scene and nominal places."""

    tiles: dict[Key, np.ndarray]
    maps: dict[Key, np.ndarray]
    nominal_origins: dict[Key, tuple[float, float]]
    tile_size: tuple[int, int]  # (w, h)

    @property
    def keys(self) -> list[Key]:
        return list(self.tiles)

    def neighbours(self) -> list[tuple[Key, Key]]:
        """Pairs of tiles side by side or one above the other."""
        pairs = []
        for r, c in self.tiles:
            for other in ((r, c + 1), (r + 1, c)):
                if other in self.tiles:
                    pairs.append(((r, c), other))
        return pairs

    def overlap_points(
        self, a: Key, b: Key, *, per_side: int = 3, window: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """A ``per_side`` x ``per_side`` grid of rough matching points (x, y) over the nominal
        overlap of tiles ``a`` and ``b``, in a's pixels and (by the nominal places) in b's,
        kept ``window / 2`` px from every tile edge so windows of that size fit (one line of
        points across an overlap just the window's width)."""
        w, h = self.tile_size
        offset = np.subtract(self.nominal_origins[b], self.nominal_origins[a])  # b's origin in a
        half = window / 2
        x0, x1 = max(0.0, offset[0]) + half, min(w, offset[0] + w) - half
        y0, y1 = max(0.0, offset[1]) + half, min(h, offset[1] + h) - half
        if x1 < x0 - 1e-9 or y1 < y0 - 1e-9:
            raise InputError(
                f"tiles {a} and {b} share no overlap wide enough for {window} px windows"
            )
        xs, ys = np.meshgrid(_spread(x0, x1, per_side), _spread(y0, y1, per_side))
        points_a = np.column_stack([xs.ravel(), ys.ravel()])
        return points_a, points_a - offset


def affine_grid(
    rows: int = 2,
    cols: int = 3,
    *,
    tile_size: tuple[int, int] = (320, 240),
    overlap: float = 0.2,
    max_angle_deg: float = 1.0,
    max_scale: float = 0.01,
    max_shear: float = 0.005,
    jitter: float = 3.0,
    blur_sigma: float = 1.5,
    noise_sigma: float = 0.0,
    blank: tuple[Key, ...] = (),
    seed: int = 0,
) -> AffineGrid:
    """A ``rows`` x ``cols`` grid of float32 grey tiles of ``tile_size`` = (w, h) (module
    docstring). ``noise_sigma``: Gaussian noise per tile, fraction of full scale. ``blank``:
    tiles that show nothing (mid grey, plus 1 % noise so a correlation finds some peak): what
    a scan of an empty area of the slide gives."""
    from scipy import ndimage

    w, h = int(tile_size[0]), int(tile_size[1])
    if rows < 1 or cols < 1 or w < 32 or h < 32:
        raise InputError("affine_grid needs rows, cols >= 1 and tiles of at least 32x32 px")
    if not 0.0 < overlap < 1.0:
        raise InputError(f"overlap={overlap} must lie in (0, 1)")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xAFF1]))
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    maps: dict[Key, np.ndarray] = {}
    nominal: dict[Key, tuple[float, float]] = {}
    for r in range(rows):
        for c in range(cols):
            origin = np.array([c * w * (1 - overlap), r * h * (1 - overlap)])
            angle = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg))
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            shear = np.array([[1.0, rng.uniform(-max_shear, max_shear)], [0.0, 1.0]])
            linear = (1 + rng.uniform(-max_scale, max_scale)) * rotation @ shear
            moved = origin + rng.uniform(-jitter, jitter, 2)
            # The tile turns about its centre, which lands at its (jittered) nominal place.
            maps[(r, c)] = np.column_stack([linear, moved + centre - linear @ centre])
            nominal[(r, c)] = (float(origin[0]), float(origin[1]))

    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=float).T
    reach = np.hstack([m @ corners for m in maps.values()])
    low = np.floor(reach.min(axis=1)).astype(int) - _MARGIN
    high = np.ceil(reach.max(axis=1)).astype(int) + _MARGIN
    canvas = texture_canvas((int(high[1] - low[1]), int(high[0] - low[0])), int(seed))
    scene = canvas.render(0, 0, canvas.shape[0], canvas.shape[1])
    smooth = ndimage.gaussian_filter(scene, blur_sigma, mode="reflect")
    coefficients = ndimage.spline_filter(smooth.astype(np.float64), order=3, mode="mirror")

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    tiles: dict[Key, np.ndarray] = {}
    for index, (key, affine) in enumerate(maps.items()):
        x, y = affine @ pixels
        sampled = ndimage.map_coordinates(
            coefficients, [y - low[1], x - low[0]], order=3, mode="mirror", prefilter=False
        ).reshape(h, w)
        noise_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xAFF2, index]))
        if key in blank:
            sampled = 0.5 + noise_rng.normal(0.0, 0.01, sampled.shape)
        if noise_sigma > 0:
            sampled = sampled + noise_rng.normal(0.0, noise_sigma, sampled.shape)
        tiles[key] = sampled.astype(np.float32)
    return AffineGrid(tiles=tiles, maps=maps, nominal_origins=nominal, tile_size=(w, h))


def aligned_errors(
    found: Mapping[Hashable, np.ndarray],
    truth: Mapping[Hashable, np.ndarray],
    tile_size: tuple[int, int],
    *,
    per_side: int = 5,
) -> dict[Hashable, float]:
    """Per tile, the largest distance (px) between where ``found`` and ``truth`` send a
    ``per_side`` x ``per_side`` grid of points over the tile (its corners included), after the
    one common affine that best lines ``found`` up with ``truth`` (least squares over every
    tile's points): the model space's own position, rotation, scale and shear, which no match
    can decide. ``found`` maps may be 2x3 arrays or (x, y) origins (a translation)."""
    w, h = tile_size
    xs, ys = np.meshgrid(np.linspace(0, w, per_side), np.linspace(0, h, per_side))
    grid = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    keys = list(truth)
    missing = [k for k in keys if k not in found]
    if missing:
        raise InputError(f"found has no map for tiles {missing}")
    source = np.hstack([_as_affine(found[k]) @ grid for k in keys]).T
    target = np.hstack([np.asarray(truth[k]) @ grid for k in keys]).T
    design = np.column_stack([source, np.ones(len(source))])
    common, *_ = np.linalg.lstsq(design, target, rcond=None)
    distance = np.hypot(*(design @ common - target).T).reshape(len(keys), -1)
    return {k: float(d.max()) for k, d in zip(keys, distance, strict=True)}


def _spread(low: float, high: float, count: int) -> np.ndarray:
    return np.linspace(low, high, count) if high - low >= 1.0 else np.array([(low + high) / 2])


def _as_affine(value: np.ndarray | tuple[float, float]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape == (2,):
        return np.column_stack([np.eye(2), array])
    return array
