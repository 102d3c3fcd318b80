"""Place: every tile's map into one model space, from matching points.

``Placement`` collects matches (a point in one tile, the point showing the same thing in
another) under any hashable tile keys and solves for one map per tile in the compiled core
(``_core.solve.place_points``: sparse weighted least squares, conjugate gradients, the robust
losses of `core.solve.solve_positions`). Points are (x, y) pixels, as users write them.

- ``rigid()``: each tile moves as a whole, model ``(x, y) = (x, y) + origin``; returns
  ``{tile: (x, y)}``, the tile's origin in model space.
- ``affine()``: each tile gets a 2x3 ``A`` with model ``(x, y) = A @ (x, y, 1)``; returns
  ``{tile: A}``.

Nothing in the matches says where the whole model sits (nor, for affines, how it is rotated,
scaled or sheared), so a gauge fixes it: ``gauge="first"`` makes the first tile added (of each
connected group) the identity, ``gauge="mean"`` makes the mean of the maps the identity, and
``fix=tile`` pins that tile. With inconsistent matches the affine solution shrinks slightly
away from a pinned tile (a smaller model has smaller residuals); the mean gauge spreads that
evenly. Tiles that no match of positive weight joins to the rest form their own groups
(``Solution.groups``), each with its own gauge.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from ..core.solve import RobustLoss
from ..errors import InputError

Model = Literal["rigid", "affine"]
GaugeName = Literal["first", "mean"]
MODELS: tuple[str, ...] = ("rigid", "affine")
GAUGES: tuple[str, ...] = ("first", "mean")


@dataclass(frozen=True)
class Solution:
    """One solve of a `Placement`.

    ``transforms``: ``{tile: A}``, 2x3 arrays with model ``(x, y) = A @ (x, y, 1)`` (for
    ``rigid`` the linear part is the identity). ``residuals``: (m, 2) per match, in the order
    added, model-space ``T_a(p) - T_b(p2)`` in pixels; ``robust_weights``: (m,) the factor the
    robust loss left on each match (1 without one, near 0 for matches judged wrong).
    ``groups``: the tiles of each connected group, the largest first.
    """

    model: Model
    transforms: dict[Hashable, np.ndarray]
    residuals: np.ndarray
    robust_weights: np.ndarray
    groups: tuple[frozenset[Hashable], ...]
    converged: bool
    cg_iterations: int
    reweighting_iterations: int

    @property
    def origins(self) -> dict[Hashable, tuple[float, float]]:
        """``{tile: (x, y)}``: where each tile's pixel (0, 0) lands in model space."""
        return {t: (float(a[0, 2]), float(a[1, 2])) for t, a in self.transforms.items()}

    @property
    def residual_lengths(self) -> np.ndarray:
        """(m,) the length of each match's residual, pixels."""
        return np.hypot(self.residuals[:, 0], self.residuals[:, 1])


class Placement:
    """Matching points between tiles, and the maps that make them agree (module docstring)."""

    def __init__(self) -> None:
        self._keys: dict[Hashable, int] = {}
        self._tile_a: list[np.ndarray] = []
        self._tile_b: list[np.ndarray] = []
        self._points_a: list[np.ndarray] = []
        self._points_b: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self.solution: Solution | None = None
        """The latest solve (`rigid`, `affine` or `solve`), with residuals and robust weights."""

    @property
    def tiles(self) -> list[Hashable]:
        """The tile keys, in the order they were first added."""
        return list(self._keys)

    @property
    def weights(self) -> np.ndarray:
        """(m,) the weight of every match, in the order added."""
        return np.concatenate(self._weights) if self._weights else np.zeros(0)

    def __len__(self) -> int:
        """How many matches have been added."""
        return sum(len(w) for w in self._weights)

    def add_match(
        self,
        t: Hashable,
        t2: Hashable,
        p: ArrayLike,
        p2: ArrayLike,
        weight: ArrayLike = 1.0,
    ) -> None:
        """Point ``p`` of tile ``t`` and point ``p2`` of tile ``t2`` show the same thing.

        ``p``, ``p2``: (x, y), or (k, 2) arrays of k matches at once; ``weight``: one number or
        (k,) (e.g. the match qualities from `Matcher.refine`); 0 leaves a match out of the solve.
        """
        for key in (t, t2):
            try:
                hash(key)
            except TypeError:
                raise InputError(
                    f"tile key {key!r} is not hashable; use a str, int or tuple"
                ) from None
        if t == t2:
            raise InputError(f"a match joins tile {t!r} to itself; matches need two tiles")
        a = _points(p, "p")
        b = _points(p2, "p2")
        if a.shape != b.shape:
            raise InputError(
                f"p has {len(a)} point(s) but p2 has {len(b)}; pass one point of t2 per point of t"
            )
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim > 1 or (w.ndim == 1 and w.shape != (len(a),)):
            raise InputError(
                f"weight has shape {w.shape}; pass one number or one weight per point ({len(a)},)"
            )
        w = np.broadcast_to(w, (len(a),)).copy()
        if not np.isfinite(w).all() or (w < 0).any():
            raise InputError("weight must be finite and >= 0 (0 leaves a match out)")
        index_a = self._keys.setdefault(t, len(self._keys))
        index_b = self._keys.setdefault(t2, len(self._keys))
        self._tile_a.append(np.full(len(a), index_a, np.int64))
        self._tile_b.append(np.full(len(a), index_b, np.int64))
        self._points_a.append(a)
        self._points_b.append(b)
        self._weights.append(w)

    def rigid(
        self,
        *,
        gauge: GaugeName = "first",
        fix: Hashable | None = None,
        robust: RobustLoss | None = None,
        robust_scale: float = 1.0,
    ) -> dict[Hashable, tuple[float, float]]:
        """``{tile: (x, y)}``: each tile's origin in model space (options as in `solve`)."""
        return self.solve(
            "rigid", gauge=gauge, fix=fix, robust=robust, robust_scale=robust_scale
        ).origins

    def affine(
        self,
        *,
        gauge: GaugeName = "first",
        fix: Hashable | None = None,
        robust: RobustLoss | None = None,
        robust_scale: float = 1.0,
    ) -> dict[Hashable, np.ndarray]:
        """``{tile: A}``: 2x3 maps, model ``(x, y) = A @ (x, y, 1)`` (options as in `solve`)."""
        return self.solve(
            "affine", gauge=gauge, fix=fix, robust=robust, robust_scale=robust_scale
        ).transforms

    def solve(
        self,
        model: Model = "affine",
        *,
        gauge: GaugeName = "first",
        fix: Hashable | None = None,
        robust: RobustLoss | None = None,
        robust_scale: float = 1.0,
        tolerance: float = 1e-12,
    ) -> Solution:
        """Solve for every tile's map; the result is also kept as ``self.solution``.

        ``gauge``: "first" (the first tile added of each group is the identity) or "mean" (the
        maps average to the identity); ``fix``: a tile key pinned to the identity instead.
        ``robust``: "huber" or "cauchy" down-weights matches whose residual exceeds
        ``robust_scale`` pixels (iteratively reweighted least squares), so that a few wrong
        matches (blank or repetitive overlaps) cannot drag the good tiles.
        """
        if model not in MODELS:
            raise InputError(f"model={model!r}; use 'rigid' or 'affine'")
        if gauge not in GAUGES:
            raise InputError(f"gauge={gauge!r}; use 'first' or 'mean' (or fix=<tile key>)")
        if robust not in (None, "huber", "cauchy"):
            raise InputError(f"robust={robust!r}; use 'huber', 'cauchy' or None")
        if robust is not None and not robust_scale > 0:
            raise InputError(f"robust_scale={robust_scale} must be > 0 pixels")
        if not self._weights:
            raise InputError(
                "no matches to place tiles with; add some with add_match(t, t2, p, p2)"
            )
        weights = np.concatenate(self._weights)
        if not (weights > 0).any():
            raise InputError("every match has weight 0; give the matches to solve with weight > 0")
        fixed = -1
        if fix is not None:
            if fix not in self._keys:
                raise InputError(
                    f"fix={fix!r} is not a tile of this placement; use one of the keys added "
                    f"with add_match (e.g. {next(iter(self._keys))!r})"
                )
            fixed = self._keys[fix]
        affines, residuals, robust_weights, group, info = _core.solve.place_points(
            len(self._keys),
            np.concatenate(self._tile_a),
            np.concatenate(self._tile_b),
            np.concatenate(self._points_a),
            np.concatenate(self._points_b),
            weights,
            model="translation" if model == "rigid" else "affine",
            gauge=gauge,
            fixed_tile=fixed,
            loss=robust or "none",
            robust_scale=float(robust_scale),
            tolerance=float(tolerance),
        )
        keys = list(self._keys)
        solution = Solution(
            model=model,
            transforms={key: affines[i] for i, key in enumerate(keys)},
            residuals=residuals,
            robust_weights=robust_weights,
            groups=_groups(keys, group),
            converged=bool(info["converged"]),
            cg_iterations=int(info["cg_iterations"]),  # type: ignore[call-overload]
            reweighting_iterations=int(info["reweighting_iterations"]),  # type: ignore[call-overload]
        )
        self.solution = solution
        return solution


def _points(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape == (2,):
        array = array.reshape(1, 2)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise InputError(
            f"{name} has shape {np.shape(values)}; pass one (x, y) point or a (k, 2) array of them"
        )
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or infinite coordinates; drop those matches")
    return np.ascontiguousarray(array)


def _groups(keys: list[Hashable], group: np.ndarray) -> tuple[frozenset[Hashable], ...]:
    members: dict[int, list[Hashable]] = {}
    for key, g in zip(keys, group.tolist(), strict=True):
        members.setdefault(g, []).append(key)
    ordered: Iterable[list[Hashable]] = sorted(members.values(), key=len, reverse=True)
    return tuple(frozenset(m) for m in ordered)
