"""Final tile positions from the accepted pairs, anchored weakly to the stage.

Three steps: (1) place the tiles from the accepted pairs alone; (2) map the stage positions
onto that placement: a translation, or an affine map when the data show a miscalibrated
camera-stage matrix; (3) solve again with the mapped stage positions as weak priors and a
robust loss, then drop pairs that disagree with the loops around them and solve once more.
The priors stop drift along long chains and put tiles without any accepted pair at their
(corrected) stage position instead of letting them float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.matches import PairMeasurement
from ..core.solve import solve_positions
from ..core.transform import DegenerateFitError, Transform, fit
from .thresholds import REJECTED_AS_LOOP_INCONSISTENT, PairSelection, sigma_from_lengths

# Typical precision of an accepted pair (pixels): weights priors against pairs.
PAIR_SIGMA_PX = 0.1
# Stage error assumed when too few tiles are placed by pairs to measure it.
DEFAULT_STAGE_SIGMA_PX = 10.0
# The robust loss starts to discount a pair at this many robust standard deviations of all
# pair residuals (never below ROBUST_SCALE_FLOOR_PX): good measurements agree to a few
# hundredths of a pixel on clean data but to about a pixel on distorted real optics.
ROBUST_SCALE_SIGMAS = 3.0
ROBUST_SCALE_FLOOR_PX = 0.1
# A pair whose residual after the robust solve exceeds this many robust standard deviations of
# all residuals (and at least LOOP_RESIDUAL_FLOOR_PX) contradicts the loops around it.
LOOP_RESIDUAL_FLOOR_PX = 0.5
LOOP_RESIDUAL_SIGMAS = 6.0
# The robust solves end once a reweighting round moves no tile by more than this (pixels):
# they are then within about 1e-3 px of where further rounds would go (measured on a 40 x 40
# scan's solves: 4e-4 to 7e-4 px), a tenth of what positions are compared to, in about half
# the rounds of waiting for the weights to settle to 1e-6.
POSITION_TOLERANCE_PX = 1e-4
# The first, pairs-only solve gives only the scale of the pairs' residuals and the stage map,
# two statistics over every tile, not positions: it may end once a round moves no tile by more
# than a hundredth of a pixel. Its Huber reweighting settles slowly (on a 40 x 40 scan it
# stopped at the 50-round cap, 42 ms, before this; 21 ms with it) and the final positions
# moved by 1.6e-3 px.
FIRST_SOLVE_POSITION_TOLERANCE_PX = 1e-2


@dataclass(frozen=True)
class PlacedTiles:
    """The place stage's product: final tile positions and which pairs they rest on."""

    positions: np.ndarray  # (n, 2) (row, col), top-left corners; minimum at (0, 0)
    accepted: np.ndarray  # (m,) bool: pairs used in the final solve
    # (m,) bool: pairs given as accepted that the loops of pairs around them contradicted, so
    # the final solve left them out (never with reject_inconsistent=False).
    loop_inconsistent: np.ndarray
    residuals: np.ndarray  # (m, 2): (p_j - p_i) - measured shift, for every pair
    stage_to_layout: Transform  # stage px -> the pairs-only placement's px (translation or affine)
    # Spread of the stage positions around the stage-to-layout map, or None when too few tiles
    # were placed by pairs to measure it (a default then weighs the stage priors).
    stage_sigma_px: float | None
    # The final solve's positions before the shift that puts the minimum at (0, 0): the warm
    # start of the next placement when a tile is added (live stitching).
    solved_positions: np.ndarray | None = None


def place_tiles(
    stage_positions: np.ndarray,
    measurements: list[PairMeasurement],
    accepted: np.ndarray,
    *,
    reject_inconsistent: bool = True,
    initial: np.ndarray | None = None,
    tolerance: float = 1e-12,
) -> PlacedTiles:
    """Place the tiles. ``reject_inconsistent=False`` keeps every accepted pair in the final
    solve (manual thresholds: the user decided); the robust loss still discounts outliers.
    ``initial``: (n, 2) where the solves start (an earlier `PlacedTiles.solved_positions` with
    new tiles appended): the same layout, in fewer iterations. ``tolerance``: the solves'
    conjugate-gradient tolerance (relative residual): the live layout, which needs
    hundredths of a pixel, passes a looser one."""
    n = len(stage_positions)
    stage = np.asarray(stage_positions, dtype=float).reshape(n, 2)
    given = np.asarray(accepted, dtype=bool)
    accepted = given.copy()

    # Every pair's tiles and shift, read once: (m, 5) rows (i, j, d_row, d_col, weight 1).
    table = np.ones((len(measurements), 5))
    if measurements:
        table[:, :2] = [(p.i, p.j) for p in measurements]
        table[:, 2:4] = [p.shift for p in measurements]
    i, j = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)

    def pair_table(mask: np.ndarray) -> np.ndarray:
        return table[np.asarray(mask, dtype=bool)]

    def all_residuals(positions: np.ndarray) -> np.ndarray:
        return positions[j] - positions[i] - table[:, 2:4]

    # (1) Pairs alone; a vanishing prior only fixes the translation of each connected group.
    # A Huber loss with a generous scale: robust to gross errors without trusting any estimate
    # of how good the pairs are yet.
    first = solve_positions(
        n,
        pair_table(accepted),
        priors=stage,
        prior_weights=1e-9,
        robust="huber",
        robust_scale=1.0,
        initial=initial,
        tolerance=tolerance,
        position_tolerance=FIRST_SOLVE_POSITION_TOLERANCE_PX,
    )
    robust_scale = max(
        ROBUST_SCALE_FLOOR_PX,
        ROBUST_SCALE_SIGMAS
        * sigma_from_lengths(np.hypot(*first.residuals[first.robust_weights > 0.5].T)),
    )
    linked = np.zeros(n, dtype=bool)
    linked[i[accepted]] = linked[j[accepted]] = True

    # (2) Stage -> placement affine map, fitted on tiles that pairs placed.
    stage_to_layout = _stage_to_layout(stage, first.positions, linked)
    mapped_stage = stage_to_layout.apply(stage)
    spread = mapped_stage[linked] - first.positions[linked] if linked.any() else np.zeros((0, 2))
    measured_sigma = float(np.sqrt(np.mean(spread**2))) if len(spread) > 2 else None
    stage_sigma = max(measured_sigma if measured_sigma is not None else DEFAULT_STAGE_SIGMA_PX, 1.0)
    prior_weight = (PAIR_SIGMA_PX / stage_sigma) ** 2

    # (3) Robust solve with stage priors, loop-consistency rejection, final solve.
    result = None
    for _ in range(3):
        result = solve_positions(
            n,
            pair_table(accepted),
            priors=mapped_stage,
            prior_weights=prior_weight,
            robust="cauchy",
            robust_scale=robust_scale,
            initial=initial,
            tolerance=tolerance,
            position_tolerance=POSITION_TOLERANCE_PX,
        )
        residual = all_residuals(result.positions)
        size = np.hypot(residual[:, 0], residual[:, 1])
        if not accepted.any():
            break
        limit = max(
            LOOP_RESIDUAL_FLOOR_PX, LOOP_RESIDUAL_SIGMAS * sigma_from_lengths(size[accepted])
        )
        contradicting = accepted & (size > limit)
        if not reject_inconsistent or not contradicting.any():
            break
        accepted &= ~contradicting
    assert result is not None
    positions = result.positions - result.positions.min(axis=0)
    return PlacedTiles(
        positions=positions,
        accepted=accepted,
        loop_inconsistent=given & ~accepted,
        residuals=all_residuals(positions),
        stage_to_layout=stage_to_layout,
        stage_sigma_px=measured_sigma,
        solved_positions=result.positions,
    )


@dataclass(frozen=True)
class StartingPositionError:
    """How far the placed tiles are from their starting positions, over the tiles that pairs
    placed, once the mean offset is removed."""

    rms_px: float
    max_px: float
    # RMS once a common affine map (scale, rotation, shear: a miscalibrated camera-stage
    # matrix) is removed too: PlacedTiles.stage_sigma_px; None when that was not measured.
    affine_rms_px: float | None


def starting_position_error(
    stage_positions: np.ndarray, layout: PlacedTiles, placed: np.ndarray
) -> StartingPositionError | None:
    """The error over the ``placed`` tiles (a bool mask); None for fewer than 3 of them."""
    if placed.sum() < 3:
        return None
    offsets = layout.positions[placed] - np.asarray(stage_positions, dtype=float)[placed]
    distances = np.hypot(*(offsets - offsets.mean(axis=0)).T)
    return StartingPositionError(
        rms_px=float(np.sqrt(np.mean(distances**2))),
        max_px=float(distances.max()),
        affine_rms_px=layout.stage_sigma_px,
    )


def rejection_reasons(selection: PairSelection, layout: PlacedTiles) -> tuple[str | None, ...]:
    """Why each pair is not in the final solve (None where it is): the thresholds' reason, or
    REJECTED_AS_LOOP_INCONSISTENT for a pair they accepted that the layout dropped."""
    return tuple(
        REJECTED_AS_LOOP_INCONSISTENT if dropped else reason
        for reason, dropped in zip(
            selection.rejected, layout.loop_inconsistent.tolist(), strict=True
        )
    )


def _stage_to_layout(stage: np.ndarray, placed: np.ndarray, use: np.ndarray) -> Transform:
    """The map with placed ~ M @ stage over the ``use`` tiles: a translation or an affine map.

    The linear part corrects a miscalibrated camera-stage matrix. It is kept only when the data
    show it: with an accurate matrix, a fitted one only adds noise, and extrapolating that noise
    to tiles far from the placed ones (a blank corner of the scan) would put them further from
    the truth than the stage itself. Otherwise, and when the tiles span no area, the map is a
    translation.
    """
    if not use.any():
        return Transform.identity()
    translation = fit("translation", stage[use], placed[use])
    count = int(use.sum())
    if count < 4:
        return translation
    try:
        affine = fit("affine", stage[use], placed[use])
    except DegenerateFitError:  # tiles on one line
        return translation
    residual = placed[use] - affine.apply(stage[use])
    sigma = np.sqrt((residual**2).sum() / max(2 * (count - 3), 1))
    # Standard errors of the linear coefficients: sigma * sqrt(diag((X^T X)^-1)), X the design
    # [row, col, 1]; entry k belongs to the coefficients of the stage's axis k.
    design = np.column_stack([stage[use], np.ones(count)])
    covariance = np.linalg.inv(design.T @ design)
    standard_error = sigma * np.sqrt(np.diag(covariance)[:2])
    deviation = np.abs(affine.matrix[:2, :2] - np.eye(2))
    significant = (deviation > SIGNIFICANT_SIGMAS * standard_error[None, :] + 1e-12).any()
    return affine if significant else translation


# A fitted stage-to-layout scale or rotation is used only when it differs from the identity by
# more than this many standard errors.
SIGNIFICANT_SIGMAS = 4.0
