"""Deciding which pair measurements to trust (before the loop-consistency check in layout).

Automatic mode rejects a pair when its quality is low (blank, blurred or unrelated overlaps)
or when its disagreement with the stage, after removing the scan's systematic stage error (an
affine fit over the good pairs), is far outside the spread of the other pairs. Manual mode
applies the user's two thresholds as they are and never asks for keyboard input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..core.matches import PairMeasurement
from ..core.transform import DegenerateFitError, Transform, fit

# Quality (0..1, see registration.py) below which a match is not trusted. Measured on generated
# scans: correct overlaps of real texture score 0.3-0.95; blank, blurred or mismatched overlaps
# score below 0.1.
AUTOMATIC_MIN_QUALITY = 0.15
# Residual (after the affine stage model) beyond which a pair is an outlier: this many robust
# standard deviations of all good pairs, but never less than MIN_DISCREPANCY_PX.
DISCREPANCY_SIGMAS = 6.0
MIN_DISCREPANCY_PX = 4.0
# Quality above which a pair is kept whatever its stage discrepancy (automatic mode).
CONVINCING_QUALITY = 0.5

# Why a pair is left out of the placement: the words positions.json ("rejected"), the
# correlations plot and the report use. The first two are decided here; the last by the
# layout (place.py), which drops accepted pairs that the loops of pairs around them contradict.
REJECTED_FOR_QUALITY = "quality"  # quality below the minimum
REJECTED_FOR_DISCREPANCY = "discrepancy"  # too far from the stage's prediction
REJECTED_AS_LOOP_INCONSISTENT = "loop inconsistency"
REJECTION_REASONS = (REJECTED_FOR_QUALITY, REJECTED_FOR_DISCREPANCY, REJECTED_AS_LOOP_INCONSISTENT)
# Why a pair is not in the placement, as a small code (arrays of pairs hold it): 0, None, for a
# pair that is.
REASONS: tuple[str | None, ...] = (None, *REJECTION_REASONS)
REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}


@dataclass(frozen=True)
class ThresholdSettings:
    method: Literal["automatic", "manual"] = "automatic"
    min_peak_quality: float | None = None
    max_stage_discrepancy: float | None = None  # pixels


@dataclass(frozen=True)
class PairSelection:
    accepted: np.ndarray  # (m,) bool
    min_quality: float
    # The stage-discrepancy limit applied (pixels): a plain distance in manual mode, a limit on
    # the affine-corrected discrepancy in automatic mode.
    max_discrepancy: float
    corrected_discrepancy: np.ndarray  # (m,) |shift - affine stage prediction| in pixels
    # Per pair: None where accepted, else REJECTED_FOR_QUALITY or REJECTED_FOR_DISCREPANCY.
    rejected: tuple[str | None, ...]


def select_pairs(
    measurements: Sequence[PairMeasurement], settings: ThresholdSettings
) -> PairSelection:
    m = len(measurements)
    if m == 0:
        empty = np.zeros(0)
        return PairSelection(np.zeros(0, bool), 0.0, 0.0, empty, ())
    quality = np.array([p.quality for p in measurements])
    shift = np.array([p.shift for p in measurements], dtype=float)
    expected = np.array([p.expected_shift for p in measurements], dtype=float)
    raw_discrepancy = np.hypot(*(shift - expected).T)

    if settings.method == "manual":
        min_quality = (
            settings.min_peak_quality
            if settings.min_peak_quality is not None
            else AUTOMATIC_MIN_QUALITY
        )
        max_discrepancy = (
            settings.max_stage_discrepancy if settings.max_stage_discrepancy is not None else np.inf
        )
        good = quality >= min_quality
        accepted = good & (raw_discrepancy <= max_discrepancy)
        return PairSelection(
            accepted,
            float(min_quality),
            float(max_discrepancy),
            raw_discrepancy,
            _reasons(good, accepted),
        )

    min_quality = (
        settings.min_peak_quality
        if settings.min_peak_quality is not None
        else AUTOMATIC_MIN_QUALITY
    )
    good = quality >= min_quality
    corrected = _affine_corrected_discrepancy(shift, expected, good)
    spread = sigma_from_lengths(corrected[good]) if good.sum() >= 3 else np.inf
    max_discrepancy = max(MIN_DISCREPANCY_PX, DISCREPANCY_SIGMAS * spread)
    if settings.max_stage_discrepancy is not None:
        max_discrepancy = min(max_discrepancy, settings.max_stage_discrepancy)
    # A pair far from the stage's prediction is kept only on strong image evidence: stage
    # errors are not always Gaussian (a grid start, a stage that slipped), and the layout's
    # loop-consistency check still judges every kept pair against its neighbours.
    accepted = good & ((corrected <= max_discrepancy) | (quality >= CONVINCING_QUALITY))
    return PairSelection(
        accepted, float(min_quality), float(max_discrepancy), corrected, _reasons(good, accepted)
    )


def _reasons(good_quality: np.ndarray, accepted: np.ndarray) -> tuple[str | None, ...]:
    """Why each pair was rejected (None where accepted): a pair of too low quality is rejected
    for that first, whatever its discrepancy."""
    return tuple(
        None if keep else REJECTED_FOR_DISCREPANCY if good else REJECTED_FOR_QUALITY
        for good, keep in zip(good_quality.tolist(), accepted.tolist(), strict=True)
    )


def _affine_corrected_discrepancy(
    shift: np.ndarray, expected: np.ndarray, good: np.ndarray
) -> np.ndarray:
    """|shift - M @ expected| with M an affine map fitted robustly to the good pairs.

    A miscalibrated camera-stage matrix makes every pair's discrepancy grow with its length in
    the same way; the fit absorbs that so only each pair's own error remains.
    """
    if good.sum() < 4:
        return np.hypot(*(shift - expected).T)
    use = good.copy()
    for _ in range(3):  # trimmed refits: drop gross outliers from the fit itself
        model = _stage_error_model(expected[use], shift[use])
        residual = np.hypot(*(shift - model.apply(expected)).T)
        limit = max(MIN_DISCREPANCY_PX, 3.0 * sigma_from_lengths(residual[use]))
        trimmed = good & (residual <= limit)
        if trimmed.sum() < 4 or (trimmed == use).all():
            break
        use = trimmed
    return residual


def _stage_error_model(expected: np.ndarray, shift: np.ndarray) -> Transform:
    """The affine map from expected to measured shifts, or the most general map they determine.

    On a grid of equal stage steps the expected shifts take only a few values, all on one line
    when only rows or only columns of pairs are good (or two values: one horizontal, one
    vertical step): an affine map is then undetermined, but a similarity (or a translation, for
    a single value) predicts at each expected value on that line what any least-squares affine
    map would, the mean measured shift there.
    """
    for kind in ("affine", "similarity"):
        try:
            return fit(kind, expected, shift)
        except DegenerateFitError:
            continue
    return fit("translation", expected, shift)


def sigma_from_lengths(lengths: np.ndarray) -> float:
    """Per-axis standard deviation of 2-D errors, robustly from the median of their lengths
    (a 2-D Gaussian error's median length is 1.1774 sigma; outliers barely move a median)."""
    values = np.asarray(lengths, dtype=float).ravel()
    if len(values) == 0:
        return 0.0
    if np.isnan(values).any():
        return float("nan")  # as np.median
    # The median by partition: np.median looks for NaN through numpy.ma, whose first import
    # costs 6 ms on the run's serial path, for a few hundred values.
    middle = len(values) // 2
    if len(values) % 2:
        median = np.partition(values, middle)[middle]
    else:
        lower, upper = np.partition(values, (middle - 1, middle))[middle - 1 : middle + 1]
        median = (lower + upper) / 2.0
    return float(median / 1.1774)
