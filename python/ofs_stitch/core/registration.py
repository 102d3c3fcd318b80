"""Registering two images: where does ``b`` sit in ``a``'s frame, and how sure are we?

The numerics run in the compiled core (``ofs_stitch._core``): FFTW correlation with every
filter folded into each image's spectrum, a 2-D Gaussian peak fit, and the overlap's Pearson r.
This module chooses the settings, checks the images (grey conversion: `grey`) and shapes the
result.

Quality measures (their scales are in ``ofs_stitch.core.matches``):

- ``pearson_r``: Pearson correlation of the overlapping pixels at the found shift, -1..1.
- ``peak_ratio``: the correlation peak over the highest competing local maximum, both
  divided by their overlap area; only maxima whose pixels agree about as well as the chosen
  one's (Pearson r within 0.05) compete. >= 1 for a clear match; 1e6 when nothing competes.
- ``quality`` (0..1) = ``max(pearson_r, 0) * (1 - 1 / peak_ratio)``. Measured: correct matches
  on generated scans score 0.4-1 (median 0.99), on the real confocal tiles of
  lscm_tensile_ref_4x4 0.45-0.85; blank overlaps score below 0.02.

Without a hint (``expected_shift=None``) every shift whose overlap covers at least
``min_overlap`` of the image is a candidate, and candidates are ranked by the evidence their
overlap holds: Fisher's z of their Pearson r times sqrt(overlap pixels - 3), so a match shared
by 40,000 pixels outranks a sliver of 300 that agrees as well by chance. ``peak_ratio`` is then
the chosen candidate's evidence over the runner-up's. The search runs coarse-to-fine: block
means first, then full resolution within a few pixels of the coarse match.

A result whose ``quality`` is below ``ACCEPT_QUALITY`` is not to be trusted. Measured without a
hint on ``testing.pairs.noisy_crop_pairs`` (200x240 crops, shifts up to 40 px): at 5 % noise
every match is within 0.5 px; at 15-50 % noise every match off by more than 1 px scored below
0.05. On 100x120 crops (10 seeds of 36 pairs each at 5, 10, 15 and 30 % noise) no match off
by more than 1 px scored above 0.14, once a pixel fit checks the correlation peak (`_polish`;
before it, misses scored up to 0.49). The flag is cautious: half of the correct retina
matches at 5 % noise (the retina is dark and smooth, so neighbouring shifts agree almost as
well) score below it too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from .. import _core
from ..errors import InputError
from .grey import grey_float32
from .matches import Registration
from .overlap import overlap_regions
from .transform import KINDS, Kind

# Defaults measured on noisy real texture (see benchmarks/bench_registration.py and
# tests/test_registration.py): partial whitening with a gentle band-pass gives a sharp,
# Gaussian-shaped peak that the sub-pixel fit locates without bias.
DEFAULT_HIGH_PASS_SIGMA = 2.0
DEFAULT_SMOOTHING_SIGMA = 1.0
DEFAULT_WHITEN = 0.5
DEFAULT_TAPER = 16
# Without a hint, shifts whose overlap is smaller than this fraction of the image are never
# candidates: a tile scan's neighbours overlap by 10-30 %, and below a few percent an overlap
# holds too few pixels to tell a match from a coincidence.
DEFAULT_MIN_OVERLAP = 0.05
# Matches with a quality below this are not to be trusted (see the module docstring); the
# stitching pipeline's automatic threshold is the same figure.
ACCEPT_QUALITY = 0.15
# What register_pair measures: the kinds of core.transform.
MODELS = KINDS


@dataclass(frozen=True)
class CorrelationSettings:
    """How regions are filtered before correlation (all lengths in pixels)."""

    high_pass_sigma: float = DEFAULT_HIGH_PASS_SIGMA
    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA
    whiten: float = DEFAULT_WHITEN
    taper: int = DEFAULT_TAPER

    def __post_init__(self) -> None:
        if not 0.0 <= self.whiten <= 1.0:
            raise InputError(f"whiten={self.whiten} is outside 0..1; choose a value in 0..1")
        if self.high_pass_sigma < 0 or self.smoothing_sigma < 0:
            raise InputError("high_pass_sigma and smoothing_sigma must be >= 0")
        if self.taper < 0:
            raise InputError(f"taper={self.taper} must be >= 0")


def _checked_grey(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as float32 grey (see `grey.grey_float32`), after checking it is one.

    Raises InputError for empty, non-image or non-finite input.
    """
    array = np.asarray(image)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InputError(
            f"{name} has shape {array.shape}; pass a 2-D greyscale or (rows, cols, 3) RGB image"
        )
    if array.size == 0:
        raise InputError(f"{name} is empty; pass an image with at least one pixel")
    if array.dtype.kind not in "uif":
        raise InputError(f"{name} has dtype {array.dtype}; pass uint8, uint16 or float pixels")
    grey = grey_float32(array)
    if array.dtype.kind == "f" and not np.isfinite(grey).all():
        raise InputError(f"{name} contains NaN or infinite values; replace them before registering")
    return grey


def padded_shape(
    region_shape: tuple[int, int], max_shift: tuple[int, int] | None = None
) -> tuple[int, int]:
    """FFT size for correlating regions of ``region_shape``.

    Without ``max_shift`` every shift up to the region size is unambiguous (2x padding); with it,
    only shifts up to ``max_shift`` are, which needs far smaller transforms.
    """
    rows, cols = region_shape
    if max_shift is None:
        need_rows, need_cols = 2 * rows - 1, 2 * cols - 1
    else:
        need_rows = rows + min(max(int(max_shift[0]), 1), rows - 1)
        need_cols = cols + min(max(int(max_shift[1]), 1), cols - 1)
    # Even column counts keep the half spectrum simple for FFTW's fastest real transforms.
    padded_cols = _core.fft.fast_fft_size(need_cols)
    while padded_cols % 2:
        padded_cols = _core.fft.fast_fft_size(padded_cols + 1)
    return (_core.fft.fast_fft_size(need_rows), padded_cols)


def compute_spectrum(
    region: np.ndarray, padded: tuple[int, int], settings: CorrelationSettings
) -> _core.register.Spectrum:
    """The filtered spectrum of one float32 region, reusable for every pair it takes part in."""
    return _core.register.compute_spectrum(
        region,
        padded,
        settings.high_pass_sigma,
        settings.smoothing_sigma,
        settings.whiten,
        settings.taper,
    )


def register_spectra(
    spectrum_a: _core.register.Spectrum,
    spectrum_b: _core.register.Spectrum,
    a: np.ndarray,
    b: np.ndarray,
    *,
    expected_shift: tuple[float, float] | None = None,
    search_radius: float | None = None,
    min_overlap: float = 0.05,
    rank_by_evidence: bool = False,
) -> Registration:
    """Register two regions whose spectra are already computed (the fast path for many pairs).

    ``min_overlap`` (fraction of the region) and ``rank_by_evidence`` (see the module
    docstring) default to the core's settings for a search near a hint.
    """
    result = _core.register.register_spectra(
        spectrum_a,
        spectrum_b,
        a,
        b,
        expected=None
        if expected_shift is None
        else (float(expected_shift[0]), float(expected_shift[1])),
        radius=0.0 if search_radius is None else float(search_radius),
        min_overlap_fraction=float(min_overlap),
        rank_by_evidence=rank_by_evidence,
    )
    peak = result.peak
    return Registration(
        shift=(float(peak.row), float(peak.col)),
        pearson_r=float(result.pearson_r),
        peak_ratio=float(peak.peak_ratio),
        gaussian_fit=bool(peak.gaussian_fit),
        found=bool(peak.found),
    )


def register_pair(
    a: np.ndarray,
    b: np.ndarray,
    *,
    expected_shift: tuple[float, float] | None = None,
    search_radius: float | None = None,
    model: str = "translation",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    high_pass_sigma: float = DEFAULT_HIGH_PASS_SIGMA,
    whiten: float = DEFAULT_WHITEN,
    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
    taper: int = DEFAULT_TAPER,
    pad: bool = True,
) -> Registration:
    """Measure where ``b`` sits in ``a``'s frame.

    ``a`` and ``b``: equal-size 2-D uint8/uint16/float32/float64 arrays or RGB images, any strides.
    ``expected_shift`` with ``search_radius``: only look for the peak within that many pixels of
    the expected shift (e.g. the stage's prediction). Without ``expected_shift``, every shift
    whose overlap covers at least ``min_overlap`` (0..1) of the image is searched, coarse to
    fine, and the match with the most evidence wins (module docstring); trust results whose
    ``quality`` is at least ``ACCEPT_QUALITY``. ``pad=False`` correlates circularly, as
    ``openflexure-stitch --no-pad`` does: faster, but shifts beyond half the size alias.

    ``model``: "translation" (the default), or "rigid", "similarity" or "affine", measured
    without a hint (``core.affine_registration``); the result's ``matrix`` (3x3, (row, col))
    then holds the whole transform ``b[p] ~ a[matrix @ p]``, ``shift`` its last column.
    """
    grey_a = _checked_grey(a, "a")
    grey_b = _checked_grey(b, "b")
    if grey_a.shape != grey_b.shape:
        raise InputError(
            f"a has shape {grey_a.shape} but b has {grey_b.shape}; crop both to the same size"
        )
    if search_radius is not None and search_radius <= 0:
        raise InputError(f"search_radius={search_radius} must be > 0 (or None for no limit)")
    if model not in MODELS:
        raise InputError(
            f"model={model!r} is unknown; use one of {', '.join(repr(m) for m in MODELS)}"
        )
    if model != "translation" and expected_shift is not None:
        raise InputError(
            f"model={model!r} searches without a hint; pass expected_shift=None or use "
            "model='translation'"
        )
    if not 0.0 < min_overlap < 1.0:
        raise InputError(
            f"min_overlap={min_overlap} is outside (0, 1); give the smallest fraction of the "
            "image the two may share, e.g. 0.05"
        )
    settings = CorrelationSettings(
        high_pass_sigma=high_pass_sigma, smoothing_sigma=smoothing_sigma, whiten=whiten, taper=taper
    )
    if model != "translation":
        # Imported here: that module builds on this one's translation search.
        from .affine_registration import register_transform

        return register_transform(grey_a, grey_b, cast(Kind, model), settings, min_overlap, pad=pad)
    if expected_shift is None:
        return register_unhinted(grey_a, grey_b, settings, min_overlap, pad=pad)

    return register_overlap(grey_a, grey_b, expected_shift, search_radius, settings, pad=pad)


def register_unhinted(
    a: np.ndarray,
    b: np.ndarray,
    settings: CorrelationSettings,
    min_overlap: float,
    *,
    pad: bool = True,
) -> Registration:
    """Register float32 grey images of equal shape with no idea of the shift.

    The whole images are correlated as block means (4x or 2x smaller each way, so transforms
    16x or 4x smaller, and the noise of each block averaged down), candidates ranked by
    evidence; the full-resolution refinement of `register_overlap` then searches only a few
    pixels around the coarse match, and a fit of the overlap's pixels checks it (`_polish`).
    """
    search, uncertainty = search_unhinted(a, b, settings, min_overlap, pad=pad)
    return _polish(a, b, _refine(a, b, search, uncertainty, settings, pad))


def _polish(a: np.ndarray, b: np.ndarray, match: Registration) -> Registration:
    """``match`` checked against a second estimate of the same shift, and moved halfway to it.

    The filtered correlation's peak is one estimate; a Gauss-Newton fit of the overlap's pixels
    themselves (``_core.register.refine_affine``, translation only, started at the peak) is
    another, with different errors: the peak sees a 3x3 neighbourhood of a band-passed
    surface, the fit every pixel's gradient. Where the match is real and the overlap has
    detail, the two land within a few tenths of a pixel of each other, and their mean is
    closer to the truth than either (measured on ``testing.pairs.noisy_crop_pairs``). Where
    they disagree by a pixel or more, the peak is not where the pixels say the match is, which
    neither the overlap's r nor the peak ratio can see: on 100x120 crops at 10 % noise, matches
    1.2-2.9 px off scored quality up to 0.43 (r 0.3-0.5, distinct peaks). So the quality is
    scaled by ``1 - (d / POLISH_AGREEMENT) ** 3`` for a disagreement of d pixels: a tenth of
    a pixel costs nothing, half a pixel an eighth, a pixel everything (and the peak is kept).
    A fit that does not settle within POLISH_MAX_ITERATIONS counts as a full disagreement.
    """
    if not match.found:
        return match
    regions = overlap_regions(a.shape, b.shape, match.shift, 0)
    if regions is None or min(regions.shape) < POLISH_MIN_SIDE:
        return match
    region_a, region_b = a[regions.region_a], b[regions.region_b]
    # Large overlaps are fitted as block means: a second opinion needs no more pixels, and the
    # whole 450x192 overlap of a 640x480 pair would double the pair's time. (A window cut from
    # the overlap's middle would not do: its borders, where the smoothing sees mirrored
    # content, bias the fit by a tenth of a pixel once they are a large part of it.)
    factor = 1
    while region_a.size / factor**2 > POLISH_MAX_PIXELS:
        factor *= 2
    if factor > 1:
        region_a = _core.image.block_mean(np.ascontiguousarray(region_a), factor)
        region_b = _core.image.block_mean(np.ascontiguousarray(region_b), factor)
    # Block (i, j) covers pixels factor * (i, j) onwards in both regions: a shift of d blocks
    # is factor * d pixels.
    start = np.eye(3)
    start[:2, 2] = (
        regions.expected_region_shift[0] / factor,
        regions.expected_region_shift[1] / factor,
    )
    fitted = _core.register.refine_affine(
        region_a,
        region_b,
        start,
        "translation",
        smoothing_sigma=POLISH_SMOOTHING,
        tolerance=POLISH_TOLERANCE / factor,
        max_iterations=POLISH_MAX_ITERATIONS,
        huber_threshold=0.0,
    )
    fit = (
        float(fitted.matrix[0][2]) * factor + regions.region_to_tile[0],
        float(fitted.matrix[1][2]) * factor + regions.region_to_tile[1],
    )
    disagreement = float(np.hypot(fit[0] - match.shift[0], fit[1] - match.shift[1]))
    if not (fitted.converged and np.isfinite(disagreement)):
        disagreement = np.inf
    agreement = max(0.0, 1.0 - (disagreement / POLISH_AGREEMENT) ** 3)
    shift = match.shift
    if agreement > 0.0:
        shift = (0.5 * (fit[0] + shift[0]), 0.5 * (fit[1] + shift[1]))
    # quality = r (1 - 1 / peak_ratio): scaling the second factor by the agreement scales the
    # quality by it, and keeps the ratio's meaning (how clearly one shift stands out).
    distinct = (1.0 - 1.0 / match.peak_ratio) * agreement if match.peak_ratio > 1.0 else 0.0
    peak_ratio = min(match.peak_ratio, 1.0 / (1.0 - distinct))
    return replace(match, shift=shift, peak_ratio=peak_ratio)


# The pixel fit of `_polish`: the smoothing of the rigid refinement's full-resolution level,
# unweighted (Huber weights cost accuracy on sparse texture such as the hubble image, where the
# few bright objects that hold the signal have the largest residuals), and a step size far below
# its precision. Overlaps thinner than POLISH_MIN_SIDE are left as the correlation found them.
POLISH_SMOOTHING = 1.0
POLISH_TOLERANCE = 1e-3
# A fit still moving after this many steps has found no clear minimum near the peak (measured:
# on a retina crop where the peak sat 12 px from the truth, the fit crept on for 40 steps);
# it counts as a disagreement. 20 instead of 40 flags no more correct matches on the 100x120
# crops and cuts a noisy pair's time by a quarter.
POLISH_MAX_ITERATIONS = 20
POLISH_MIN_SIDE = 8
# Overlaps of more pixels than this are fitted as 2x2 (4x4, ...) block means.
POLISH_MAX_PIXELS = 128 * 128
# Disagreement (pixels) between the correlation peak and the pixel fit at which a match has no
# quality left: a match off by more than a pixel is a miss.
POLISH_AGREEMENT = 1.0


def search_unhinted(
    a: np.ndarray,
    b: np.ndarray,
    settings: CorrelationSettings,
    min_overlap: float,
    *,
    pad: bool = True,
) -> tuple[Registration, float]:
    """The coarse stage of `register_unhinted`: the match in full-resolution pixels (its
    ``pearson_r`` that of the block means), and how far (pixels) it may be from the truth."""
    factor = _unhinted_coarse_factor(a.shape)
    if factor == 1:
        return _register_whole(a, b, settings, min_overlap, pad), REFINE_RADIUS
    small_a = _core.image.block_mean(a, factor)
    small_b = _core.image.block_mean(b, factor)
    coarse = _register_whole(small_a, small_b, _coarse_settings(settings, factor), min_overlap, pad)
    # Block (i, j) covers full-resolution pixels factor * (i, j) onwards: a shift of whole
    # blocks is factor times as many pixels, the same for every block centre.
    shift = (coarse.shift[0] * factor, coarse.shift[1] * factor)
    return replace(coarse, shift=shift), 2.0 * factor + 1.0


# The coarse level of a search without a hint keeps at least this many pixels along the short
# side: enough texture to find the match, and a thin overlap still a few blocks wide.
UNHINTED_COARSE_MIN_SIDE = 48


def _unhinted_coarse_factor(shape: tuple[int, int]) -> int:
    for factor in (4, 2):
        if min(shape) // factor >= UNHINTED_COARSE_MIN_SIDE:
            return factor
    return 1


def _register_whole(
    a: np.ndarray, b: np.ndarray, settings: CorrelationSettings, min_overlap: float, pad: bool
) -> Registration:
    padded = padded_shape(a.shape) if pad else a.shape
    local = effective(settings, a.shape)
    return register_spectra(
        compute_spectrum(a, padded, local),
        compute_spectrum(b, padded, local),
        a,
        b,
        min_overlap=min_overlap,
        rank_by_evidence=True,
    )


def register_overlap(
    a: np.ndarray,
    b: np.ndarray,
    expected_shift: tuple[float, float],
    search_radius: float | None,
    settings: CorrelationSettings,
    *,
    pad: bool = True,
) -> Registration:
    """Register float32 grey images expected at ``expected_shift``, correlating only their overlap.

    Two steps. The search correlates the expected overlap widened by the search radius; a wide
    search runs coarse-to-fine, first on 4x (or 2x) block-averaged images whose transforms are
    16x smaller (falling back to a full-resolution search when the coarse match is ambiguous;
    not when nothing at all agrees, as on blank overlaps). The refinement then correlates
    regions cut so that they face each other at the found shift: their overlap is then
    symmetric about the peak, so it no longer pulls the
    sub-pixel fit towards smaller shifts (that pull grows as overlaps shrink, and a bias of
    0.01 px per pair adds up along every row of a scan).
    """
    search, uncertainty = _search(a, b, expected_shift, search_radius, settings, pad)
    return _refine(a, b, search, uncertainty, settings, pad)


def _refine(
    a: np.ndarray,
    b: np.ndarray,
    search: Registration,
    uncertainty: float,
    settings: CorrelationSettings,
    pad: bool,
) -> Registration:
    """Correlate again on regions that face each other at the search's match (see
    register_overlap), within ``uncertainty`` pixels of it, then recentre until the peak sits
    within a pixel of the facing position."""
    if not search.found:
        return search
    refined = _facing(a, b, search.shift, uncertainty, settings, pad)
    # The search saw the whole radius, so its runner-up peak is the meaningful one.
    return replace(refined, peak_ratio=search.peak_ratio) if refined.found else search


def _facing(
    a: np.ndarray,
    b: np.ndarray,
    guess: tuple[float, float],
    radius: float,
    settings: CorrelationSettings,
    pad: bool,
) -> Registration:
    """The correlation of regions that face each other at ``guess`` (rounded), within
    ``radius`` pixels of it, recentred until the peak sits within a pixel of the facing
    position: the last match found, or the first failure when none was."""
    refined: Registration | None = None
    for _ in range(4):
        centre = (float(round(guess[0])), float(round(guess[1])))
        attempt = _register_cropped(a, b, centre, radius, settings, pad, margin=0)
        if not attempt.found:
            return refined if refined is not None else attempt
        refined = attempt
        if max(abs(attempt.shift[0] - centre[0]), abs(attempt.shift[1] - centre[1])) <= 1.0:
            break
        guess, radius = attempt.shift, REFINE_RADIUS
    assert refined is not None
    return refined


def register_near(
    a: np.ndarray,
    b: np.ndarray,
    predicted_shift: tuple[float, float],
    *,
    radius: float | None = None,
    pad: bool = True,
) -> Registration:
    """Where ``b`` sits in ``a``'s frame (float32 grey images of equal shape), given a
    prediction of the shift good to about a pixel (a time series' chain of links): the
    refinement step of `register_overlap` alone, on regions that face each other at the
    prediction, within ``radius`` pixels of it (default REFINE_RADIUS). `register_overlap`'s
    search over the widened overlap would first confirm the prediction at the cost of a
    second correlation (as much again: 18 against 9 ms a pair of 512^2 frames); where the
    peak lands more than a pixel from the prediction the regions are recut about it, as after
    that search."""
    radius = REFINE_RADIUS if radius is None else radius
    if radius <= 0:
        raise InputError(f"radius={radius} must be > 0")
    return _facing(a, b, predicted_shift, radius, CorrelationSettings(), pad)


# Half-width (pixels) of the refinement window around a full-resolution match.
REFINE_RADIUS = 3.0


def _search(
    a: np.ndarray,
    b: np.ndarray,
    expected_shift: tuple[float, float],
    search_radius: float | None,
    settings: CorrelationSettings,
    pad: bool,
) -> tuple[Registration, float]:
    """The match within the search radius, and how far (pixels) it may be from the truth."""
    overlap = overlap_regions(a.shape, b.shape, expected_shift, 0)
    factor = _coarse_factor(search_radius, overlap.shape if overlap is not None else (0, 0))
    if factor > 1 and search_radius is not None:
        coarse = _register_cropped(
            _core.image.block_mean(a, factor),
            _core.image.block_mean(b, factor),
            (expected_shift[0] / factor, expected_shift[1] / factor),
            search_radius / factor + 1.0,
            _coarse_settings(settings, factor),
            pad,
        )
        shift = (coarse.shift[0] * factor, coarse.shift[1] * factor)
        if coarse.found and coarse.quality >= COARSE_MIN_QUALITY:
            return replace(coarse, shift=shift), 2.0 * factor + 1.0
        if coarse.found and coarse.pearson_r < COARSE_NOTHING_IN_COMMON_R:
            # Even the best-agreeing candidate shares no structure with the other tile: a
            # blank or unrelated overlap, where the full-resolution search (about 20 times
            # the coarse one's cost) finds nothing either.
            return replace(coarse, shift=shift, found=False), REFINE_RADIUS
    return _register_cropped(a, b, expected_shift, search_radius, settings, pad), REFINE_RADIUS


# A coarse match below this quality is not trusted to narrow the full-resolution search.
COARSE_MIN_QUALITY = 0.1
# Below this Pearson r at its best candidate, a coarse search is taken to have found nothing,
# and no full-resolution search follows. Measured on generated scans: blank overlaps reach
# 0.04 (median) to 0.11 (99th percentile); the coarse searches whose full-resolution retry
# found the match (periodic texture, ambiguous at the coarse scale) had r 0.98 and 0.999.
COARSE_NOTHING_IN_COMMON_R = 0.3


def _coarse_factor(search_radius: float | None, overlap_shape: tuple[int, int]) -> int:
    """Block size of the coarse level, or 1 when a direct search is as cheap, or when the
    expected overlap is too thin to survive shrinking (a 10-pixel overlap is 2 coarse pixels)."""
    if search_radius is None or search_radius < 12:
        return 1
    factor = 4 if search_radius >= 24 else 2
    while factor > 1 and min(overlap_shape) // factor < 16:
        factor //= 2
    return factor


def _coarse_settings(settings: CorrelationSettings, factor: int) -> CorrelationSettings:
    return replace(
        settings,
        high_pass_sigma=settings.high_pass_sigma / factor,
        taper=max(2, settings.taper // factor),
    )


def _register_cropped(
    a: np.ndarray,
    b: np.ndarray,
    expected_shift: tuple[float, float],
    search_radius: float | None,
    settings: CorrelationSettings,
    pad: bool,
    margin: int | None = None,
) -> Registration:
    """Correlate the overlap of a and b (widened by ``margin``, default the search radius)."""
    if margin is None:
        margin = 0 if search_radius is None else int(np.ceil(search_radius))
    regions = overlap_regions(a.shape, b.shape, expected_shift, margin)
    if regions is None:
        raise InputError(
            f"a and b do not overlap at expected_shift={tuple(expected_shift)}; "
            "check the expected shift or pass expected_shift=None"
        )
    region_a, region_b = a[regions.region_a], b[regions.region_b]
    expected = regions.expected_region_shift
    max_shift = None
    if search_radius is not None:
        max_shift = (
            int(np.ceil(abs(expected[0]) + search_radius)) + 1,
            int(np.ceil(abs(expected[1]) + search_radius)) + 1,
        )
    padded = padded_shape(region_a.shape, max_shift) if pad else region_a.shape
    overlap_extent = (region_a.shape[0] - margin, region_a.shape[1] - margin)
    local = effective(settings, region_a.shape, overlap_extent)
    measured = register_spectra(
        compute_spectrum(region_a, padded, local),
        compute_spectrum(region_b, padded, local),
        region_a,
        region_b,
        expected_shift=expected,
        search_radius=search_radius,
    )
    return replace(
        measured,
        shift=(
            measured.shift[0] + regions.region_to_tile[0],
            measured.shift[1] + regions.region_to_tile[1],
        ),
    )


def effective(
    settings: CorrelationSettings,
    region_shape: tuple[int, int],
    overlap_extent: tuple[int, int] | None = None,
) -> CorrelationSettings:
    """Settings adapted to a region: the taper never eats more than a sixth of a short side, nor
    more than a quarter of the expected overlap (which lies at the region's edge, where the
    taper is strongest: on thin overlaps a full taper would erase the very pixels that match).
    """
    taper = min(settings.taper, min(region_shape) // 6)
    if overlap_extent is not None:
        taper = min(taper, max(1, min(overlap_extent) // 4))
    return settings if taper == settings.taper else replace(settings, taper=taper)
