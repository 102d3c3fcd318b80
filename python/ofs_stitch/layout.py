"""Final tile positions from the accepted pairs, anchored weakly to the stage.

Three steps: (1) place the tiles from the accepted pairs alone; (2) fit an affine map from the
stage positions to that placement (it absorbs a miscalibrated camera-stage matrix, and gives
the improved matrix); (3) solve again with the mapped stage positions as weak priors and a
robust loss, then drop pairs that disagree with the loops around them and solve once more.
The priors stop drift along long chains and put tiles without any accepted pair at their
(corrected) stage position instead of letting them float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .measurements import PairMeasurement
from .placement import solve_positions

# Typical precision of an accepted pair (pixels): weights priors against pairs.
PAIR_SIGMA_PX = 0.1
# Residual (pixels) where the robust loss starts to discount a pair.
ROBUST_SCALE_PX = 1.0
# A pair whose residual after the robust solve exceeds this many pixels, or this many robust
# standard deviations of all residuals, contradicts the loops around it and is rejected.
LOOP_RESIDUAL_FLOOR_PX = 2.0
LOOP_RESIDUAL_SIGMAS = 8.0


@dataclass(frozen=True)
class Layout:
    positions: np.ndarray  # (n, 2) (row, col), top-left corners; minimum at (0, 0)
    accepted: np.ndarray  # (m,) bool: pairs used in the final solve
    residuals: np.ndarray  # (m, 2): (p_j - p_i) - measured shift, for every pair
    stage_to_layout: np.ndarray  # (3, 2) affine map [row, col, 1] @ it: stage px -> layout px
    stage_sigma_px: float  # spread of the stage positions around the affine map


def place_tiles(
    stage_positions: np.ndarray,
    measurements: list[PairMeasurement],
    accepted: np.ndarray,
) -> Layout:
    n = len(stage_positions)
    stage = np.asarray(stage_positions, dtype=float).reshape(n, 2)
    accepted = np.asarray(accepted, dtype=bool).copy()

    def pair_table(mask: np.ndarray) -> np.ndarray:
        rows = [(p.i, p.j, p.shift[0], p.shift[1], 1.0) for p, keep in zip(measurements, mask) if keep]
        return np.array(rows, dtype=float).reshape(-1, 5)

    # (1) Pairs alone; a vanishing prior only fixes the translation of each connected group.
    first = solve_positions(
        n, pair_table(accepted), priors=stage, prior_weights=1e-9, robust="cauchy",
        robust_scale=ROBUST_SCALE_PX,
    )
    linked = np.zeros(n, dtype=bool)
    for p, keep in zip(measurements, accepted):
        if keep:
            linked[p.i] = linked[p.j] = True

    # (2) Stage -> placement affine map, fitted on tiles that pairs placed.
    affine = _fit_affine(stage, first.positions, linked)
    mapped_stage = np.column_stack([stage, np.ones(n)]) @ affine
    spread = mapped_stage[linked] - first.positions[linked] if linked.any() else np.zeros((0, 2))
    stage_sigma = float(np.sqrt(np.mean(spread**2))) if len(spread) > 2 else 10.0
    stage_sigma = max(stage_sigma, 1.0)
    prior_weight = (PAIR_SIGMA_PX / stage_sigma) ** 2

    # (3) Robust solve with stage priors, loop-consistency rejection, final solve.
    result = None
    for _ in range(3):
        result = solve_positions(
            n, pair_table(accepted), priors=mapped_stage, prior_weights=prior_weight,
            robust="cauchy", robust_scale=ROBUST_SCALE_PX,
        )
        residual = _all_residuals(result.positions, measurements)
        size = np.hypot(residual[:, 0], residual[:, 1])
        used = size[accepted]
        if len(used) == 0:
            break
        sigma = 1.4826 * float(np.median(used))
        limit = max(LOOP_RESIDUAL_FLOOR_PX, LOOP_RESIDUAL_SIGMAS * sigma)
        contradicting = accepted & (size > limit)
        if not contradicting.any():
            break
        accepted &= ~contradicting
    assert result is not None
    positions = result.positions - result.positions.min(axis=0)
    return Layout(
        positions=positions,
        accepted=accepted,
        residuals=_all_residuals(positions, measurements),
        stage_to_layout=affine,
        stage_sigma_px=stage_sigma,
    )


def _all_residuals(positions: np.ndarray, measurements: list[PairMeasurement]) -> np.ndarray:
    if not measurements:
        return np.zeros((0, 2))
    i = np.array([p.i for p in measurements])
    j = np.array([p.j for p in measurements])
    shift = np.array([p.shift for p in measurements], dtype=float)
    return positions[j] - positions[i] - shift


def _fit_affine(stage: np.ndarray, placed: np.ndarray, use: np.ndarray) -> np.ndarray:
    """(3, 2) matrix with [stage_row, stage_col, 1] @ it ~ placed; identity-like if too few."""
    identity = np.vstack([np.eye(2), np.zeros((1, 2))])
    if use.sum() < 3:
        if use.any():
            identity[2] = (placed[use] - stage[use]).mean(axis=0)
        return identity
    design = np.column_stack([stage[use], np.ones(int(use.sum()))])
    affine, _, rank, _ = np.linalg.lstsq(design, placed[use], rcond=None)
    if rank < 3:  # tiles in a line: the map is not determined across it; keep translation only
        identity[2] = (placed[use] - stage[use]).mean(axis=0)
        return identity
    return affine
