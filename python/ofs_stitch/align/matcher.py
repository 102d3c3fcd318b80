"""Match: move a rough pair of matching points onto the exact match.

``Matcher(a, b)`` holds two images (arrays, or paths decoded once by `io.decode`).
``refine(p_a, p_b, size)`` cuts a window of ``size`` around each point, correlates the two
windows with the core's registration (filtered, partially whitened FFT correlation and a
Gaussian peak fit: `core.registration.register_spectra`), and moves both points by half the
measured mismatch in opposite directions, so that their midpoint stays and ``p_a`` in ``a`` and
``p_b`` in ``b`` show the same thing. Windows are recentred on the moved points and the
correlation repeated, ``iters`` times at most: under a rotation or scale between the images
the match found belongs to the windows' centres, so the result is exact only once the windows
are centred on the points.

Windows sit on whole pixels; a window's filtered spectrum is kept (up to ``cache_size`` of
them) and reused when a later iteration or call cuts the same window, e.g. the same point of
``a`` matched against several points of ``b``, or an iteration that moved a point by less than
half a pixel.

Points are (x, y) pixels. The quality of each match is the core's (0..1; see
`core.registration`; below ``ACCEPT_QUALITY`` = 0.15 a match is not to be trusted).

Precision. How well a match pins its point depends on the texture of its window, and on its
direction: a window of vertical edges fixes x, not y. ``Refined.information`` is each
match's 2x2 inverse covariance (px^-2, x and y), from the Gauss-Newton normal matrix of the
window's gradients with the fit's other parameters (the local affine's linear part, gain and
offset) eliminated, divided by the residual variance the match leaves (the window's variance
times 1 - r^2, r the windows' Pearson correlation once matched: near 1 for a true match, near
0 for blank or unrelated windows). ``Refined.precision``, its smaller eigenvalue, is the
weight to give `Placement.add_match`: on 20 distorted 2x3 grids it brings the worst tile from
0.049 px (weights quality squared) to 0.022 px, and with a blank tile from 0.139 to 0.054 px
(benchmarks/compare_align.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from ..core.registration import (
    ACCEPT_QUALITY,
    CorrelationSettings,
    _checked_grey,
    compute_spectrum,
    effective,
    padded_shape,
    register_spectra,
)
from ..errors import InputError
from ..io.decode import read_pixels

MatchModel = Literal["affine", "translation"]
MATCH_MODELS: tuple[str, ...] = ("affine", "translation")
# Smallest window side that holds enough texture for a correlation peak.
MIN_WINDOW = 16
# The refinement stops once both points move by less than this (px).
SETTLED = 0.005

__all__ = ["ACCEPT_QUALITY", "Matcher", "Refined"]


@dataclass(frozen=True)
class Refined:
    """Refined matching points and how well each pair matched; unpacks as ``p_a, p_b``.

    ``p_a``, ``p_b``: (x, y) for one point, (k, 2) for k. ``quality``: 0..1 per pair (a float
    for one point); ``found``: False where no correlation peak was found (the points are then
    returned unchanged, with quality 0). ``iterations``: correlations run per pair.
    """

    p_a: np.ndarray
    p_b: np.ndarray
    quality: np.ndarray | float
    found: np.ndarray | bool
    iterations: np.ndarray | int
    information: np.ndarray
    """(k, 2, 2), or (2, 2) for one point: the inverse covariance (px^-2, x and y) of where
    the match puts b's point (module docstring, "Precision"); zeros where nothing was found."""

    @property
    def precision(self) -> np.ndarray | float:
        """Inverse variance (px^-2) of each match along its least certain direction: the
        smaller eigenvalue of `information`. A weight for `Placement.add_match` that trusts
        each match as far as its window's texture and fit allow."""
        values = np.linalg.eigvalsh(np.asarray(self.information))[..., 0]
        values = np.maximum(values, 0.0)
        return float(values) if np.ndim(values) == 0 else values

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.p_a
        yield self.p_b


class Matcher:
    """Two images whose matching points `refine` sharpens (module docstring).

    ``a``, ``b``: 2-D grey or (rows, cols, 3) RGB arrays (uint8, uint16 or float), or paths to
    image files. The correlation settings are the core's defaults (`core.registration`).
    """

    def __init__(
        self,
        a: ArrayLike | str | Path,
        b: ArrayLike | str | Path,
        *,
        settings: CorrelationSettings | None = None,
        cache_size: int = 256,
    ) -> None:
        self.a = _grey(a, "a")
        self.b = _grey(b, "b")
        self.settings = settings or CorrelationSettings()
        if cache_size < 0:
            raise InputError(f"cache_size={cache_size} must be >= 0")
        self._cache_size = cache_size
        self._spectra: OrderedDict[tuple[object, ...], _core.register.Spectrum] = OrderedDict()
        self.spectra_computed = 0
        """How many window spectra have been computed (the rest came from the cache)."""

    def refine(
        self,
        p_a: ArrayLike,
        p_b: ArrayLike,
        size: ArrayLike = 128,
        iters: int = 3,
        *,
        model: MatchModel = "affine",
        search_radius: float | None = None,
    ) -> Refined:
        """Points ``p_a`` of ``a`` and ``p_b`` of ``b`` moved onto the exact match.

        ``p_a``, ``p_b``: (x, y) or (k, 2) arrays; ``size``: the window, (w, h) or one number
        for a square (fractions are rounded to whole pixels); ``iters``: correlations per pair
        at most (fewer once the points settle); ``search_radius``: how far (px) the match may
        lie from where the points say (default a quarter of the window's shorter side).
        ``model``: "translation" takes the correlation's shift (as spectralign does); "affine"
        (the default) then fits a local affine between the two windows (the core's Gauss-Newton
        refinement, `core.affine_registration`) and matches the windows' centres through it:
        under rotation or scale the shift is that of wherever the windows' texture is
        strongest, off the centre by up to a few tenths of a pixel (measured: 0.3 px for 64 px
        windows at 1 degree), the affine's is the centre's.
        """
        if model not in MATCH_MODELS:
            raise InputError(f"model={model!r}; use 'affine' or 'translation'")
        points_a, single = _points(p_a, "p_a")
        points_b, _ = _points(p_b, "p_b")
        if points_a.shape != points_b.shape:
            raise InputError(
                f"p_a has {len(points_a)} point(s) but p_b has {len(points_b)}; "
                "pass one point of b per point of a"
            )
        rows, cols = _window_shape(size, self.a.shape, self.b.shape)
        if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 1:
            raise InputError(f"iters={iters!r} must be a whole number >= 1")
        radius = min(rows, cols) / 4 if search_radius is None else float(search_radius)
        if not 0 < radius < min(rows, cols) / 2:
            raise InputError(
                f"search_radius={search_radius} must be > 0 and under half the window's "
                f"shorter side ({min(rows, cols) / 2:g} px)"
            )
        out_a, out_b = points_a.copy(), points_b.copy()
        quality = np.zeros(len(points_a))
        found = np.zeros(len(points_a), dtype=bool)
        iterations = np.zeros(len(points_a), dtype=np.int64)
        information = np.zeros((len(points_a), 2, 2))
        for i in range(len(points_a)):
            (
                out_a[i],
                out_b[i],
                quality[i],
                found[i],
                iterations[i],
                information[i],
            ) = self._refine_one(out_a[i], out_b[i], (rows, cols), int(iters), radius, model)
        if single:
            return Refined(
                out_a[0],
                out_b[0],
                float(quality[0]),
                bool(found[0]),
                int(iterations[0]),
                information[0],
            )
        return Refined(out_a, out_b, quality, found, iterations, information)

    def match_overlap(
        self,
        offset: ArrayLike,
        *,
        size: int = 64,
        per_side: int = 4,
        iters: int = 3,
    ) -> Refined:
        """Matching points spread over the part of ``a`` and ``b`` they share, with ``b``'s
        pixel (0, 0) roughly at ``offset`` = (x, y) in ``a``'s pixels (e.g. from stage
        positions).

        First the overlap's centre is matched with the largest square window it holds (up to
        ``2 * size``), which corrects the offset; then a ``per_side`` x ``per_side`` grid of
        points, kept ``size / 2`` from the overlap's edges (one line across an overlap barely a
        window wide), is refined with windows of ``size``. Points in ``a`` and ``b`` as
        `refine` returns them (k, 2); where the centre finds no match every quality is 0.
        """
        dx, dy = (float(v) for v in np.asarray(offset, dtype=np.float64).reshape(2))
        if (
            isinstance(per_side, bool)
            or not isinstance(per_side, (int, np.integer))
            or per_side < 1
        ):
            raise InputError(f"per_side={per_side!r} must be a whole number >= 1")
        (h_a, w_a), (h_b, w_b) = self.a.shape, self.b.shape
        x0, x1 = max(0.0, dx), min(float(w_a), dx + w_b)
        y0, y1 = max(0.0, dy), min(float(h_a), dy + h_b)
        if min(x1 - x0, y1 - y0) < MIN_WINDOW:
            raise InputError(
                f"a and b share no overlap of {MIN_WINDOW}x{MIN_WINDOW} px at offset "
                f"({dx:g}, {dy:g}); check the offset (b's origin in a's pixels, (x, y))"
            )
        window = int(min(size, x1 - x0, y1 - y0))
        coarse = int(min(x1 - x0, y1 - y0, 2 * window))
        centre = np.array([(x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2])
        start = self.refine(centre, centre - (dx, dy), coarse, iters, model="translation")
        corrected = np.asarray(start.p_a) - np.asarray(start.p_b)
        half = window / 2
        xs = _spread(x0 + half - 0.5, x1 - half - 0.5, per_side)
        ys = _spread(y0 + half - 0.5, y1 - half - 0.5, per_side)
        grid_x, grid_y = np.meshgrid(xs, ys)
        points_a = np.column_stack([grid_x.ravel(), grid_y.ravel()])
        if not start.found:
            zeros = np.zeros(len(points_a))
            return Refined(
                points_a,
                points_a - (dx, dy),
                zeros,
                zeros.astype(bool),
                zeros.astype(int),
                np.zeros((len(points_a), 2, 2)),
            )
        return self.refine(points_a, points_a - corrected, window, iters)

    def _refine_one(
        self,
        point_a: np.ndarray,
        point_b: np.ndarray,
        shape: tuple[int, int],
        iters: int,
        radius: float,
        model: MatchModel,
    ) -> tuple[np.ndarray, np.ndarray, float, bool, int, np.ndarray]:
        # Inside: (row, col) = (y, x).
        a_rc = np.array([point_a[1], point_a[0]])
        b_rc = np.array([point_b[1], point_b[0]])
        quality, found = 0.0, False
        max_shift = (int(np.ceil(radius)) + 1, int(np.ceil(radius)) + 1)
        padded = padded_shape(shape, max_shift)
        settings = effective(self.settings, shape)
        done = 0
        for done in range(1, iters + 1):
            origin_a, origin_b = _facing_windows(a_rc, b_rc, shape, self.a.shape, self.b.shape)
            # Where the points say the windows' contents line up: b's window pixel q shows
            # what a's shows at q + expected.
            expected = (a_rc - origin_a) - (b_rc - origin_b)
            window_a = self._window(self.a, origin_a, shape)
            window_b = self._window(self.b, origin_b, shape)
            measured = register_spectra(
                self._spectrum("a", window_a, origin_a, padded, settings),
                self._spectrum("b", window_b, origin_b, padded, settings),
                window_a,
                window_b,
                expected_shift=(float(expected[0]), float(expected[1])),
                search_radius=radius,
            )
            if not measured.found:
                return point_a, point_b, 0.0, False, done, np.zeros((2, 2))
            quality, found = measured.quality, True
            mismatch = np.array(measured.shift) - expected
            # Pearson r of the windows once matched: how much of b's window the match explains.
            agreement = measured.pearson_r
            if model == "affine":
                mismatch, fitted_r = _affine_mismatch(
                    window_a, window_b, measured.shift, b_rc - origin_b, expected
                )
                agreement = fitted_r if fitted_r is not None else agreement
            a_rc = a_rc + mismatch / 2
            b_rc = b_rc - mismatch / 2
            if np.abs(mismatch).max() / 2 < SETTLED:
                break
        information = match_information(window_b, b_rc - origin_b, agreement, model)
        return (
            np.array([a_rc[1], a_rc[0]]),
            np.array([b_rc[1], b_rc[0]]),
            quality,
            found,
            done,
            information,
        )

    @staticmethod
    def _window(image: np.ndarray, origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
        return image[origin[0] : origin[0] + shape[0], origin[1] : origin[1] + shape[1]]

    def _spectrum(
        self,
        which: str,
        window: np.ndarray,
        origin: tuple[int, int],
        padded: tuple[int, int],
        settings: CorrelationSettings,
    ) -> _core.register.Spectrum:
        key = (which, origin, window.shape, padded, settings)
        spectrum = self._spectra.get(key)
        if spectrum is not None:
            self._spectra.move_to_end(key)
            return spectrum
        spectrum = compute_spectrum(np.ascontiguousarray(window), padded, settings)
        self.spectra_computed += 1
        if self._cache_size:
            self._spectra[key] = spectrum
            while len(self._spectra) > self._cache_size:
                self._spectra.popitem(last=False)
        return spectrum


def _spread(low: float, high: float, count: int) -> np.ndarray:
    """``count`` positions from low to high, or the middle one when there is no room."""
    return np.linspace(low, high, count) if high - low >= 1.0 else np.array([(low + high) / 2])


def _affine_mismatch(
    window_a: np.ndarray,
    window_b: np.ndarray,
    shift: tuple[float, float],
    point_b: np.ndarray,
    expected: np.ndarray,
) -> tuple[np.ndarray, float | None]:
    """How far (row, col) the windows' match at b's point lies from where the points say:
    a local affine ``b[p] ~ a[M p]`` fitted from the correlation's shift, evaluated at b's
    point (window coordinates). Falls back to the shift when the fit leaves its reach.

    a is sampled with Keys' cubic convolution, not bilinearly: bilinear sampling smooths by an
    amount that depends on where between pixels each sample falls, and under a rotation that
    phase drifts across the window, so in windows of little or one-directional texture the
    fit leans towards the phase's pattern. Measured on 8 distorted 2x3 grids of 640x480 tiles
    (894 matches of 64 px windows against the true maps): bilinear 0.006 px median, 0.118 px
    at the 99th percentile; cubic 0.002 and 0.014 px, for about the same CPU time."""
    start = np.eye(3)
    start[:2, 2] = shift
    refined = _core.register.refine_affine(
        np.ascontiguousarray(window_a),
        np.ascontiguousarray(window_b),
        start,
        "affine",
        smoothing_sigma=1.0,
        tolerance=2e-3,
        huber_threshold=2.0,
        cubic=True,
    )
    matrix = np.asarray(refined.matrix)
    if not (np.isfinite(matrix).all() and np.abs(matrix[:2, :2] - np.eye(2)).max() < 0.2):
        return np.array(shift) - expected, None
    # b's point sits at point_b in its window and matches a's window at M (point_b, 1); the
    # points say it matches a's window at point_b + expected.
    mismatch = (matrix @ [point_b[0], point_b[1], 1.0])[:2] - (point_b + expected)
    return mismatch, float(refined.pearson_r)


def match_information(
    window: np.ndarray, point: np.ndarray, pearson_r: float, model: MatchModel = "affine"
) -> np.ndarray:
    """The information (inverse covariance, px^-2, (x, y)) of a match at ``point`` (row, col
    in ``window``, b's window) whose windows agree with Pearson ``pearson_r`` once matched.

    Gauss-Newton's view of the fit (module docstring, "Precision"): every pixel constrains
    the displacement along its gradient, so the normal matrix of the window's gradients
    (smoothed as the fit smooths them) is the information of the fitted parameters in units
    of the residual's variance. The point's own 2x2 information is that matrix with the other
    parameters (the local affine's linear part, the brightness gain and offset) eliminated by
    a Schur complement: what they could absorb does not pin the point. The residual variance
    is the window's variance times 1 - r^2, the part the match leaves unexplained."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(np.asarray(window, dtype=np.float64), 1.0, mode="mirror")
    g_row, g_col = np.gradient(smooth)
    # The fit ignores a margin of twice the smoothing, whose pixels see the mirrored border.
    inner = (slice(2, -2), slice(2, -2))
    g_row, g_col, values = g_row[inner], g_col[inner], smooth[inner]
    rows, cols = np.mgrid[2 : window.shape[0] - 2, 2 : window.shape[1] - 2].astype(np.float64)
    half = max(window.shape) / 2
    q_row, q_col = (rows - point[0]) / half, (cols - point[1]) / half
    columns = [g_col, g_row]  # x, y first: the point's displacement
    if model == "affine":
        columns += [g_col * q_col, g_col * q_row, g_row * q_col, g_row * q_row]
    columns += [values, np.ones_like(values)]
    jacobian = np.stack([c.ravel() for c in columns], axis=1)
    normal = jacobian.T @ jacobian
    point_block, coupling, rest = normal[:2, :2], normal[:2, 2:], normal[2:, 2:]
    schur = point_block - coupling @ np.linalg.pinv(rest) @ coupling.T
    unexplained = max(1.0 - min(max(pearson_r, 0.0), 1.0) ** 2, 1e-6)
    variance = float(values.var()) * unexplained
    if not variance > 0:
        return np.zeros((2, 2))
    return 0.5 * (schur + schur.T) / variance


def _grey(image: ArrayLike | str | Path, name: str) -> np.ndarray:
    if isinstance(image, (str, Path)):
        return _checked_grey(read_pixels(image), f"{name} ({image})")
    return _checked_grey(np.asarray(image), name)


def _points(values: ArrayLike, name: str) -> tuple[np.ndarray, bool]:
    array = np.asarray(values, dtype=np.float64)
    single = array.shape == (2,)
    if single:
        array = array.reshape(1, 2)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise InputError(
            f"{name} has shape {np.shape(values)}; pass one (x, y) point or a (k, 2) array of them"
        )
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or infinite coordinates")
    return array, single


def _window_shape(
    size: ArrayLike, shape_a: tuple[int, ...], shape_b: tuple[int, ...]
) -> tuple[int, int]:
    """(rows, cols) of the window from ``size`` = (w, h) or one number."""
    values = np.asarray(size, dtype=np.float64)
    if values.shape == ():
        values = np.array([values, values])
    if values.shape != (2,) or not np.isfinite(values).all():
        raise InputError(f"size={size!r}; pass (w, h) or one number for a square window")
    cols, rows = (int(round(v)) for v in values)
    limit = (min(shape_a[0], shape_b[0]), min(shape_a[1], shape_b[1]))
    if min(rows, cols) < MIN_WINDOW or rows > limit[0] or cols > limit[1]:
        raise InputError(
            f"size={size!r} gives a {cols}x{rows} window; choose w and h of at least "
            f"{MIN_WINDOW} px and at most the images' size ({limit[1]}x{limit[0]})"
        )
    return rows, cols


def _facing_windows(
    a_rc: np.ndarray,
    b_rc: np.ndarray,
    shape: tuple[int, int],
    shape_a: tuple[int, ...],
    shape_b: tuple[int, ...],
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Whole-pixel top-left corners of the windows around the points (row, col), cut so that
    they face each other: the points sit at the same place in both windows to within half a
    pixel. Windows that face each other overlap symmetrically about the correlation peak;
    otherwise the part only one window holds pulls the sub-pixel fit towards zero shift
    (measured: 0.1 px for windows a pixel apart). A window that would stick out of its image
    is moved inside, and the other follows where it can."""
    origin_a, origin_b = [], []
    for axis in range(2):
        half = (shape[axis] - 1) / 2
        start_a = int(np.floor(a_rc[axis] - half + 0.5))
        start_a = min(max(start_a, 0), shape_a[axis] - shape[axis])
        start_b = int(np.floor(start_a + b_rc[axis] - a_rc[axis] + 0.5))
        if not 0 <= start_b <= shape_b[axis] - shape[axis]:
            start_b = min(max(start_b, 0), shape_b[axis] - shape[axis])
            start_a = int(np.floor(start_b + a_rc[axis] - b_rc[axis] + 0.5))
            start_a = min(max(start_a, 0), shape_a[axis] - shape[axis])
        origin_a.append(start_a)
        origin_b.append(start_b)
    return (origin_a[0], origin_a[1]), (origin_b[0], origin_b[1])
