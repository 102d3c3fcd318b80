"""Rigid, similarity and affine registration: ``register_pair(a, b, model=...)``.

Two stages. The coarse translation search of `registration` (block means, ranked by evidence)
finds the shift to a few pixels; rotation by a few degrees only widens its peak. The C++ refinement
(``_core.register.refine_affine``: Gauss-Newton over every pixel of the valid overlap, Huber
weights, a gain and an offset for the brightness) then fits the model, first on 4x and 2x block
means, where the linearisation holds over a wider range, then on the full images: that is where
sub-pixel accuracy under rotation comes from.

``quality`` = max(r, 0) * (1 - 1 / peak_ratio), with r the Pearson correlation of the overlap
at the refined transform (on lightly smoothed pixels). ``peak_ratio`` is the translation
search's, or, when larger, Fisher's z of the refined r over that of the best translation: a
rotation splits the translation peak into maxima that compete with each other (sparse stars
each line up at their own shift), while a fit that explains the pixels far better than any
translation is evidence of the same kind, that no other shift comes close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..errors import InputError
from .matches import Registration
from .registration import CorrelationSettings, search_unhinted
from .transform import Kind

# Models register_pair accepts besides "translation", with the refinement's name for each.
REFINED_MODELS: tuple[Kind, ...] = ("rigid", "similarity", "affine")
# The smallest images whose coarsest level still has texture to refine on.
MIN_SIDE = 32
# Block sizes of the pyramid, coarsest first; a level is used while its short side keeps at
# least MIN_SIDE pixels.
PYRAMID = (4, 2, 1)
# Smoothing (pixels of the level) before sampling: wider at the coarse levels, where it widens
# the basin, and 0.8 px at full resolution (see refine_affine.hpp), where with cubic sampling it
# was the most accurate on noisy pairs (mean endpoint error over 12 noisy rigid pairs of
# compare_transform.py, with the noise model below: 0.6 px 0.0105, 0.7 px 0.0100, 0.8 px
# 0.00984, 0.9 px 0.0099, 1.0 px 0.0100).
LEVEL_SMOOTHING = {4: 1.5, 2: 1.0, 1: 0.8}
# At full resolution only (the coarse levels only need to bring the fit within reach): a
# per-pixel noise variance modelled from the residuals as floor + slope x brightness, so
# photon noise, which grows with the signal, weighs each pixel by what it can tell; and Keys
# cubic sampling of a rather than bilinear. Together with the smoothing above, on the 12 noisy
# rigid pairs: 0.01036 px -> 0.00984 (OpenCV's ECC 0.00985), at about 1.5x the CPU time
# (still well under ECC's).
FULL_RESOLUTION_NOISE_MODEL = True
FULL_RESOLUTION_CUBIC = True
# Residuals beyond this many robust standard deviations count less (Huber weights): dust,
# occlusions and saturation pull less, while plain noise keeps nearly its full weight.
HUBER_THRESHOLD = 2.0
# Largest update (pixels of the level) at which a level stops: loose where a finer level
# follows, tight at full resolution (far below the 0.01 px the refinement reaches on noisy
# data).
# Gauss-Newton iterations per level at most (the C++ kernel's default).
MAX_ITERATIONS = 40
LEVEL_TOLERANCE = {4: 1e-2, 2: 1e-2, 1: 2e-3}
# A refinement that starts from a translation converges locally: a result whose linear part
# stretches any direction by more than this factor (or shrinks it by its inverse) or turns by
# more than MAX_ANGLE_DEG has diverged, on images that have nothing in common.
MAX_STRETCH = 1.5
MAX_ANGLE_DEG = 30.0
# Of the pixels of b, at least this fraction must land inside a at the end.
MIN_VALID_FRACTION = 0.05


def register_transform(
    a: np.ndarray,
    b: np.ndarray,
    model: Kind,
    settings: CorrelationSettings,
    min_overlap: float,
    *,
    pad: bool = True,
) -> Registration:
    """Register float32 grey images of equal shape with a transform of ``model``."""
    if min(a.shape) < MIN_SIDE:
        raise InputError(
            f"images of shape {a.shape} are too small for model={model!r}; give images of at "
            f"least {MIN_SIDE} x {MIN_SIDE} pixels or use model='translation'"
        )
    start, _ = search_unhinted(a, b, settings, min_overlap, pad=pad)
    if not start.found:
        return Registration(
            shift=start.shift,
            pearson_r=start.pearson_r,
            peak_ratio=start.peak_ratio,
            gaussian_fit=start.gaussian_fit,
            found=False,
            model=model,
        )
    matrix = np.eye(3)
    matrix[:2, 2] = start.shift
    matrix, refined = _refine_over_levels(a, b, matrix, model, PYRAMID, photon_noise=True)
    assert refined is not None  # the full-resolution level always runs
    found = (
        refined.valid_pixels >= MIN_VALID_FRACTION * a.size
        and refined.pearson_r > 0.0
        and _within_reach(matrix)
    )
    if not found:
        # Zero evidence: quality 0, and the translation found first, whose shift is measured.
        return Registration(
            shift=start.shift,
            pearson_r=start.pearson_r,
            peak_ratio=0.0,
            gaussian_fit=start.gaussian_fit,
            found=False,
            model=model,
        )
    improvement = _fisher_z(refined.pearson_r) / max(_fisher_z(start.pearson_r), 1e-6)
    return Registration(
        shift=(float(matrix[0, 2]), float(matrix[1, 2])),
        pearson_r=float(refined.pearson_r),
        peak_ratio=max(start.peak_ratio, improvement),
        gaussian_fit=start.gaussian_fit,
        found=True,
        linear=(
            (float(matrix[0, 0]), float(matrix[0, 1])),
            (float(matrix[1, 0]), float(matrix[1, 1])),
        ),
        model=model,
    )


def _within_reach(matrix: np.ndarray) -> bool:
    """Whether a refined matrix is finite and within what a refinement can reach (see
    MAX_STRETCH)."""
    if not np.isfinite(matrix).all():
        return False
    stretch = np.linalg.svd(matrix[:2, :2], compute_uv=False)
    linear = matrix[:2, :2]
    angle = np.degrees(np.arctan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1]))
    return bool(
        stretch.max() <= MAX_STRETCH
        and stretch.min() >= 1.0 / MAX_STRETCH
        and np.linalg.det(linear) > 0
        and abs(angle) <= MAX_ANGLE_DEG
    )


def _fisher_z(r: float) -> float:
    return float(np.arctanh(np.clip(r, -0.9999, 0.9999)))


def _level_scaling(factor: int) -> np.ndarray:
    """Maps a pixel of a ``factor`` block-mean level to the full-resolution pixel at the centre
    of its block: p = factor P + (factor - 1) / 2."""
    offset = (factor - 1) / 2.0
    return np.array([[factor, 0.0, offset], [0.0, factor, offset], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class RefinedTransform:
    """A transform refined from a prediction: ``b[p] ~ a[matrix @ p]``; ``pearson_r`` of the
    overlap at it; ``found`` False when the refinement diverged or kept too few pixels."""

    matrix: np.ndarray
    pearson_r: float
    found: bool


def _refine_over_levels(
    a: np.ndarray,
    b: np.ndarray,
    matrix: np.ndarray,
    model: Kind,
    factors: tuple[int, ...],
    *,
    last_tolerance: float | None = None,
    last_max_iterations: int | None = None,
    photon_noise: bool,
) -> tuple[np.ndarray, _core.register.AffineRefinement | None]:
    """Gauss-Newton refinement of ``matrix`` on block-mean levels ``factors``, coarsest first;
    the refined full-image matrix and the last level's result (None when every level was too
    small). ``photon_noise``: at full resolution, weight pixels by a fitted photon-noise model
    and sample with Keys cubic (FULL_RESOLUTION_NOISE_MODEL / _CUBIC)."""
    refined = None
    for factor in factors:
        if factor > 1 and min(a.shape) // factor < MIN_SIDE:
            continue
        level_a = a if factor == 1 else _core.image.block_mean(a, factor)
        level_b = b if factor == 1 else _core.image.block_mean(b, factor)
        level_to_full = _level_scaling(factor)
        last = factor == factors[-1]
        refined = _core.register.refine_affine(
            level_a,
            level_b,
            np.linalg.inv(level_to_full) @ matrix @ level_to_full,
            model,
            smoothing_sigma=LEVEL_SMOOTHING.get(factor, 1.5),
            tolerance=last_tolerance
            if last and last_tolerance is not None
            else LEVEL_TOLERANCE.get(factor, 1e-2),
            huber_threshold=HUBER_THRESHOLD,
            max_iterations=last_max_iterations
            if last and last_max_iterations is not None
            else MAX_ITERATIONS,
            noise_model=photon_noise and factor == 1 and FULL_RESOLUTION_NOISE_MODEL,
            cubic=photon_noise and factor == 1 and FULL_RESOLUTION_CUBIC,
        )
        matrix = level_to_full @ refined.matrix @ np.linalg.inv(level_to_full)
        if not _within_reach(matrix):
            break  # diverged: finer levels would only spend time on it
    return matrix, refined


def refine_transform(
    a: np.ndarray,
    b: np.ndarray,
    initial: np.ndarray,
    model: Kind,
    *,
    factors: tuple[int, ...] = (2, 1),
    tolerance: float | None = None,
    max_iterations: int | None = None,
) -> RefinedTransform:
    """Refine ``initial`` (3x3, ``b[p] ~ a[initial @ p]``) on float32 grey images of equal shape,
    without the translation search of `register_transform`: for a caller that already knows
    the transform to a pixel or two (a time series predicting a frame from its neighbours).
    ``tolerance``: the largest update (px of the last level) at which it stops, default
    LEVEL_TOLERANCE's. ``max_iterations``: a cap on the last level's Gauss-Newton iterations
    (default MAX_ITERATIONS): on noisy frames the update can wander around the optimum by more
    than ``tolerance`` for dozens of iterations, each costing a pass over the pixels, while the
    first few already reach the noise floor.

    ``factors``: the block-mean levels refined, coarsest first (see PYRAMID); a coarser first
    level widens the basin (4: about +-8 px, 2: about +-4 px) at a little more cost.
    """
    matrix, refined = _refine_over_levels(
        a,
        b,
        np.asarray(initial, dtype=np.float64),
        model,
        factors,
        last_tolerance=tolerance,
        last_max_iterations=max_iterations,
        # Plain least squares: a series' frames are registered to predicted neighbours and to
        # blended references, where the photon-noise weighting reads ghosts as signal.
        photon_noise=False,
    )
    if refined is None:
        raise InputError(
            f"images of shape {a.shape} are too small to refine; give at least "
            f"{MIN_SIDE} x {MIN_SIDE} pixels"
        )
    found = (
        refined.valid_pixels >= MIN_VALID_FRACTION * a.size
        and refined.pearson_r > 0.0
        and _within_reach(matrix)
    )
    return RefinedTransform(matrix=matrix, pearson_r=float(refined.pearson_r), found=bool(found))
