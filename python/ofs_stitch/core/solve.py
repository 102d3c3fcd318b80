"""Placing tiles from pairwise displacements (and optional stage priors).

The solve runs in the compiled core: sparse weighted least squares over all pairs, optionally
with a robust loss. Each round's system is factored directly (Cholesky in the narrow band a
scan's grid gives after a reverse Cuthill-McKee ordering), or solved by preconditioned conjugate
gradients where that band is too wide. This module validates input and shapes the output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from ..errors import InputError

RobustLoss = Literal["huber", "cauchy"]
# "auto": the direct factorisation where it is cheap enough, else conjugate gradients; "direct"
# and "cg" force one (a direct solve that meets a singular matrix still falls back to CG).
SolveMethod = Literal["auto", "direct", "cg"]


@dataclass(frozen=True)
class SolvedPositions:
    """Solved tile positions.

    ``positions``: (n, 2) (row, col) top-left corners. ``residuals``: (m, 2), per pair
    (p_j - p_i) - d. ``robust_weights``: (m,) the factor the robust loss left on each pair
    (1 without one; near 0 for pairs judged outliers). Unpacks as ``positions, residuals``.
    """

    positions: np.ndarray
    residuals: np.ndarray
    robust_weights: np.ndarray
    converged: bool
    cg_iterations: int  # 0 when every round was solved directly
    reweighting_iterations: int
    factorisations: int = 0  # rounds solved by a direct factorisation

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.positions
        yield self.residuals


def solve_positions(
    n_tiles: int,
    pairs: ArrayLike,
    *,
    priors: ArrayLike | None = None,
    prior_weights: ArrayLike | float | None = None,
    robust: RobustLoss | None = None,
    robust_scale: float = 1.0,
    tolerance: float = 1e-12,
    initial: ArrayLike | None = None,
    method: SolveMethod = "auto",
    position_tolerance: float = 0.0,
) -> SolvedPositions:
    """Positions of ``n_tiles`` tiles that best agree with the pair measurements.

    ``pairs``: (m, 5) rows ``(i, j, d_row, d_col, weight)`` (or (m, 4) with weight 1), each
    saying tile j sits at (d_row, d_col) from tile i. ``priors``: (n, 2) absolute positions
    (rows of NaN for tiles without one) pulling each tile with ``prior_weights`` (scalar or (n,)),
    so weak stage priors stop drift along chains and unmeasured tiles fall back to their stage
    position. Without priors, each connected group of tiles is returned with mean position zero.
    ``robust``: "huber" or "cauchy" down-weights pairs whose residual exceeds ``robust_scale``
    pixels (iteratively reweighted least squares). ``initial``: (n, 2) positions to start the
    iterations from (a warm start: the previous layout when a tile was added); the solution is
    the same, reached in fewer iterations. ``tolerance``: conjugate gradients' relative residual
    (a direct solve is exact). ``method``: see `SolveMethod`. ``position_tolerance``: the
    robust reweighting also ends once a round moves no tile by more than this many pixels
    (0: only once no robust weight changes by more than 1e-6, or after 50 rounds).
    """
    if isinstance(n_tiles, bool) or not isinstance(n_tiles, (int, np.integer)) or n_tiles < 0:
        raise InputError(f"n_tiles={n_tiles!r} must be a non-negative integer")
    table = np.asarray(pairs, dtype=np.float64)
    if table.size == 0:
        table = table.reshape(0, 5)
    if table.ndim != 2 or table.shape[1] not in (4, 5):
        raise InputError(
            f"pairs has shape {table.shape}; pass rows of (i, j, d_row, d_col[, weight])"
        )
    if not np.isfinite(table).all():
        raise InputError("pairs contains NaN or infinite values; drop or fix those measurements")
    indices = table[:, :2]
    if (indices != np.round(indices)).any():
        raise InputError("pair indices i, j must be whole numbers")
    if len(table) and (indices.min() < 0 or indices.max() >= n_tiles):
        raise InputError(
            f"pairs refer to tile {int(indices.max())} but n_tiles={n_tiles}; "
            "n_tiles must exceed every index in pairs"
        )
    if (table[:, 0] == table[:, 1]).any():
        raise InputError("a pair joins a tile to itself; every pair needs two different tiles")
    weights = table[:, 4] if table.shape[1] == 5 else np.ones(len(table))
    if (weights < 0).any():
        raise InputError("pair weights must be >= 0")

    prior_tile, prior_position, prior_weight = _priors(n_tiles, priors, prior_weights)
    if robust not in (None, "huber", "cauchy"):
        raise InputError(f"robust={robust!r}; use 'huber', 'cauchy' or None")
    if method not in ("auto", "direct", "cg"):
        raise InputError(f"method={method!r}; use 'auto', 'direct' or 'cg'")
    if robust is not None and not robust_scale > 0:
        raise InputError(f"robust_scale={robust_scale} must be > 0 pixels")
    if not position_tolerance >= 0:
        raise InputError(f"position_tolerance={position_tolerance} must be >= 0 pixels")

    start = None
    if initial is not None:
        start = np.ascontiguousarray(initial, dtype=np.float64)
        if start.shape != (n_tiles, 2) or not np.isfinite(start).all():
            raise InputError(
                f"initial has shape {start.shape} or non-finite values; pass ({n_tiles}, 2) "
                "finite positions"
            )
    positions, residuals, robust_weights, info = _core.solve.solve_positions(
        int(n_tiles),
        indices[:, 0].astype(np.int64),
        indices[:, 1].astype(np.int64),
        np.ascontiguousarray(table[:, 2:4]),
        np.ascontiguousarray(weights),
        prior_tile,
        prior_position,
        prior_weight,
        loss=robust or "none",
        robust_scale=float(robust_scale),
        tolerance=float(tolerance),
        initial_positions=start,
        method=method,
        position_tolerance=float(position_tolerance),
    )
    return SolvedPositions(
        positions=positions,
        residuals=residuals,
        robust_weights=robust_weights,
        converged=bool(info["converged"]),
        cg_iterations=int(info["cg_iterations"]),  # type: ignore[call-overload]
        reweighting_iterations=int(info["reweighting_iterations"]),  # type: ignore[call-overload]
        factorisations=int(info["factorisations"]),  # type: ignore[call-overload]
    )


def _priors(
    n_tiles: int, priors: ArrayLike | None, prior_weights: ArrayLike | float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if priors is None:
        if prior_weights is not None:
            raise InputError("prior_weights given without priors; pass priors=(n, 2) positions")
        return np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0)
    position = np.asarray(priors, dtype=np.float64)
    if position.shape != (n_tiles, 2):
        raise InputError(
            f"priors has shape {position.shape}; pass one (row, col) per tile: ({n_tiles}, 2)"
        )
    weight = np.broadcast_to(
        np.asarray(1.0 if prior_weights is None else prior_weights, dtype=np.float64), (n_tiles,)
    )
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise InputError("prior_weights must be finite and >= 0")
    has_prior = np.isfinite(position).all(axis=1) & (weight > 0)
    tiles = np.flatnonzero(has_prior).astype(np.int64)
    return tiles, np.ascontiguousarray(position[tiles]), np.ascontiguousarray(weight[tiles])
