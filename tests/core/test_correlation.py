"""The compiled correlation kernels against independent numpy references.

Covers ``_core.register.compute_spectrum`` + ``_core.register.cross_correlate`` (the filtered correlation surface),
``_core.register.find_peak`` (sub-pixel Gaussian fit and the search window), ``_core.register.overlap_pearson``,
and FFTW's thread rules (plans made concurrently for new shapes give bit-identical results).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ofs_stitch import _core


def reference_taper(length: int, taper: int) -> np.ndarray:
    """The raised-cosine edge weights of cpp/src/register/taper.cpp, written out independently."""
    weights = np.ones(length)
    width = min(taper, length // 2)
    if width > 0:
        k = np.arange(width)
        ramp = 0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / width)
        weights[:width] = ramp
        weights[length - width :] = ramp[::-1]
    return weights


def reference_spectrum(
    region: np.ndarray,
    padded: tuple[int, int],
    high_pass_sigma: float,
    smoothing_sigma: float,
    whiten: float,
    taper: int,
) -> np.ndarray:
    """Mean-subtract, taper, zero-pad, rfft2, filter sqrt(H G), whiten |F|^-p (float64)."""
    values = region.astype(np.float64)
    values = values - values.mean()
    values = values * np.outer(
        reference_taper(values.shape[0], taper), reference_taper(values.shape[1], taper)
    )
    spectrum = np.fft.rfft2(values, s=padded)
    f_row = np.fft.fftfreq(padded[0])[:, None]
    f_col = np.fft.rfftfreq(padded[1])[None, :]
    radius2 = f_row**2 + f_col**2
    high_pass = (
        1.0 - np.exp(-2 * np.pi**2 * high_pass_sigma**2 * radius2) if high_pass_sigma > 0 else 1.0
    )
    smoothing = np.exp(-2 * np.pi**2 * smoothing_sigma**2 * radius2)
    gain = np.sqrt(high_pass * smoothing)
    if whiten > 0:
        # The core adds 1e-30 to |F|^2 so empty bins stay finite; irrelevant elsewhere.
        gain = gain * (np.abs(spectrum) ** 2 + 1e-30) ** (-whiten / 2)
    return spectrum * gain


def reference_surface(
    a: np.ndarray, b: np.ndarray, padded: tuple[int, int], *settings: float
) -> np.ndarray:
    """corr(s) = sum_x a(x + s) b(x), filtered, in FFT order; the core scales the product by 1/N
    and inverts without normalising, which is numpy's normalised irfft2 of the bare product."""
    spectrum_a = reference_spectrum(a, padded, *settings)
    spectrum_b = reference_spectrum(b, padded, *settings)
    return np.fft.irfft2(spectrum_a * np.conj(spectrum_b), s=padded)


def core_surface(
    a: np.ndarray, b: np.ndarray, padded: tuple[int, int], *settings: float
) -> np.ndarray:
    spectrum_a = _core.register.compute_spectrum(a, padded, *settings)
    spectrum_b = _core.register.compute_spectrum(b, padded, *settings)
    return np.array(_core.register.cross_correlate(spectrum_a, spectrum_b).values)


def textured(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth random texture with a non-zero mean (so mean subtraction matters)."""
    from scipy import ndimage

    noise = rng.normal(size=shape)
    return (100.0 + 20.0 * ndimage.gaussian_filter(noise, 1.5)).astype(np.float32)


# (region shape, padded shape, high_pass_sigma, smoothing_sigma, whiten, taper): every filter on
# and off, the whitening exponents with their own code paths (0.5, 0.75, 1) and the pow() path,
# odd and even sizes, with and without padding; from 1024 rows or 2 M samples the transforms run
# rows first, then columns 8 at a time through a buffer (cpp/src/fft/fft_plans.cpp): 26, 23 and
# 2051 columns of half spectrum leave a last block of 2, 7 and 3.
SURFACE_CASES = [
    ((64, 80), (127, 160), 0.0, 0.0, 0.0, 0),
    ((64, 80), (128, 160), 2.0, 0.0, 0.0, 0),
    ((64, 80), (128, 160), 0.0, 1.0, 0.0, 8),
    ((64, 80), (128, 160), 2.0, 1.0, 0.5, 8),
    ((61, 75), (125, 150), 3.0, 1.5, 1.0, 5),
    ((48, 96), (75, 120), 2.0, 1.0, 0.75, 8),
    ((50, 50), (100, 101), 1.0, 0.7, 0.3, 20),
    ((40, 56), (40, 56), 2.0, 1.0, 0.5, 4),
    ((1030, 40), (1040, 50), 2.0, 1.0, 0.5, 8),
    ((1000, 21), (1024, 45), 0.0, 0.0, 0.0, 0),
    ((500, 4000), (512, 4100), 2.0, 1.0, 0.5, 16),
]


@pytest.mark.parametrize(
    ("region", "padded", "high_pass", "smoothing", "whiten", "taper"), SURFACE_CASES
)
def test_surface_matches_numpy_reference(
    region, padded, high_pass, smoothing, whiten, taper
) -> None:
    rng = np.random.default_rng(sum(region) + sum(padded))
    base = textured((region[0] + 20, region[1] + 20), rng)
    a = base[: region[0], : region[1]]
    b = base[7 : 7 + region[0], 5 : 5 + region[1]] + rng.normal(0, 2, region).astype(np.float32)
    settings = (high_pass, smoothing, whiten, taper)

    ours = core_surface(a, b, padded, *settings)
    reference = reference_surface(a, b, padded, *settings)

    assert ours.shape == padded
    scale = np.abs(reference).max()
    worst = np.abs(ours - reference).max() / scale
    assert worst < 1e-4, f"surface differs from the numpy reference by {worst:.2e} of its maximum"


def test_surface_peak_sits_at_the_true_integer_shift() -> None:
    rng = np.random.default_rng(5)
    base = textured((140, 160), rng)
    a = base[10:110, 20:140]
    b = base[13:113, 15:135]  # b[y, x] = a[y + 3, x - 5]
    surface = core_surface(a, b, (200, 240), 2.0, 1.0, 0.5, 8)
    row, col = np.unravel_index(np.argmax(surface), surface.shape)
    shift = (row if row < 100 else row - 200, col if col < 120 else col - 240)
    assert shift == (3, -5)


def test_mismatched_spectra_are_refused() -> None:
    a = np.ones((32, 32), np.float32)
    spectrum_a = _core.register.compute_spectrum(a, (64, 64), 2.0, 1.0, 0.5, 4)
    other_padding = _core.register.compute_spectrum(a, (64, 60), 2.0, 1.0, 0.5, 4)
    other_whiten = _core.register.compute_spectrum(a, (64, 64), 2.0, 1.0, 0.3, 4)
    for other in (other_padding, other_whiten):
        with pytest.raises(ValueError, match="same settings"):
            _core.register.cross_correlate(spectrum_a, other)


def test_core_refuses_non_float32_instead_of_converting() -> None:
    with pytest.raises(ValueError, match="float32"):
        _core.register.compute_spectrum(np.ones((16, 16)), (32, 32), 0.0, 0.0, 0.0, 0)


# --- sub-pixel peak fit --------------------------------------------------------------------------


def overlap_weight(shape: tuple[int, int], shift: np.ndarray) -> np.ndarray:
    """Overlapping pixels of two untapered regions at integer shifts (what find_peak divides by)."""
    return (shape[0] - np.abs(shift[0])) * (shape[1] - np.abs(shift[1]))


def gaussian_peak_regions(
    shape: tuple[int, int],
    peaks: list[tuple[tuple[float, float], float]],
    sigma: tuple[float, float],
    cancel_at: tuple[int, int] = (18, 26),
) -> tuple[np.ndarray, np.ndarray]:
    """Regions whose raw correlation is sum of height * G(s - centre) * overlap(s).

    b is a zero-mean dipole, +1 at the centre c and -1 at ``cancel_at`` (c2), so mean subtraction
    is a no-op and corr(s) = a(c + s) - a(c2 + s); a holds the Gaussians at c + centre (times the
    overlap weight find_peak divides out), minus its own mean. Where c2 + s lies inside the region
    and away from every Gaussian, a(c2 + s) is exactly minus that mean, so with all filters off
    find_peak sees exact Gaussians. The caller picks c2 to make that true near every peak.
    """
    rows, cols = shape
    centre = np.array([rows // 2, cols // 2])
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    shift = np.array([y - centre[0], x - centre[1]])
    a = np.zeros(shape)
    for (d_row, d_col), height in peaks:
        a += height * np.exp(
            -0.5 * (((shift[0] - d_row) / sigma[0]) ** 2 + ((shift[1] - d_col) / sigma[1]) ** 2)
        )
    a *= overlap_weight(shape, shift)
    a -= a.mean()
    b = np.zeros(shape)
    b[centre[0], centre[1]] = 1.0
    b[cancel_at] = -1.0
    return a.astype(np.float32), b.astype(np.float32)


def unfiltered_surface(a: np.ndarray, b: np.ndarray) -> _core.register.CorrelationSurface:
    padded = (2 * a.shape[0], 2 * a.shape[1])
    return _core.register.cross_correlate(
        _core.register.compute_spectrum(a, padded, 0.0, 0.0, 0.0, 0),
        _core.register.compute_spectrum(b, padded, 0.0, 0.0, 0.0, 0),
    )


@pytest.mark.parametrize(
    ("centre", "sigma"),
    [
        ((0.0, 0.0), (1.5, 1.5)),
        ((3.3, -7.8), (1.5, 1.5)),
        ((-12.49, 5.5), (1.2, 2.0)),
        ((20.25, 19.75), (2.5, 1.1)),
        ((-0.51, 0.49), (1.8, 1.8)),
    ],
)
def test_gaussian_peak_is_located_to_a_thousandth_of_a_pixel(centre, sigma) -> None:
    a, b = gaussian_peak_regions((96, 112), [(centre, 1.0)], sigma)
    peak = _core.register.find_peak(unfiltered_surface(a, b))
    assert peak.found and peak.gaussian_fit
    assert abs(peak.integer_row - centre[0]) <= 1 and abs(peak.integer_col - centre[1]) <= 1
    error = np.hypot(peak.row - centre[0], peak.col - centre[1])
    assert error < 1e-3, (
        f"peak at ({peak.row:.5f}, {peak.col:.5f}), true {centre}: {error:.2e} px off"
    )


def test_search_radius_ignores_a_higher_peak_outside_it() -> None:
    true_peak, decoy = (2.4, -3.7), (-20.3, 25.6)
    a, b = gaussian_peak_regions(
        (96, 112), [(true_peak, 1.0), (decoy, 3.0)], (1.5, 1.5), cancel_at=(80, 20)
    )
    surface = unfiltered_surface(a, b)

    anywhere = _core.register.find_peak(surface)
    assert (anywhere.row, anywhere.col) == pytest.approx(decoy, abs=1e-3)

    windowed = _core.register.find_peak(surface, expected=(0.0, 0.0), radius=10.0)
    assert windowed.found
    assert (windowed.row, windowed.col) == pytest.approx(true_peak, abs=1e-3)
    # The runner-up is searched inside the same window: the decoy must not lower the ratio.
    assert windowed.peak_ratio > 3.0

    # A window that holds neither peak may find nothing, but never reaches out to the decoy.
    elsewhere = _core.register.find_peak(surface, expected=(30.0, -30.0), radius=5.0)
    assert (
        not elsewhere.found
        or np.hypot(elsewhere.integer_row - 30.0, elsewhere.integer_col + 30.0) <= 5.0
    )


# --- overlap Pearson r ---------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [(0, 0), (5, -9), (-17, 3), (-30, -41), (38, 50)])
def test_overlap_pearson_matches_numpy_corrcoef(shift) -> None:
    rng = np.random.default_rng(abs(shift[0]) * 100 + abs(shift[1]))
    a = textured((80, 96), rng)
    b = (0.6 * textured((70, 90), rng) + rng.normal(0, 3, (70, 90))).astype(np.float32)
    b[:40, :50] += 0.8 * a[10:50, 6:56]  # some real correlation at some shifts
    d_row, d_col = shift
    # b[y, x] faces a[y + d_row, x + d_col].
    rows = slice(max(0, -d_row), min(b.shape[0], a.shape[0] - d_row))
    cols = slice(max(0, -d_col), min(b.shape[1], a.shape[1] - d_col))
    b_part = b[rows, cols]
    a_part = a[rows.start + d_row : rows.stop + d_row, cols.start + d_col : cols.stop + d_col]
    expected = np.corrcoef(a_part.ravel().astype(np.float64), b_part.ravel().astype(np.float64))[
        0, 1
    ]

    # Strided, reversed and offset views must read the same pixels as the contiguous arrays.
    a_view = np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    b_wide = np.zeros((70, 180), np.float32)
    b_wide[:, ::2] = b
    for first, second in ((a, b), (a_view, b_wide[:, ::2])):
        r = _core.register.overlap_pearson(first, second, d_row, d_col)
        assert r == pytest.approx(expected, abs=1e-6)


def test_overlap_pearson_is_zero_for_tiny_or_flat_overlaps() -> None:
    rng = np.random.default_rng(3)
    a, b = textured((40, 40), rng), textured((40, 40), rng)
    assert (
        _core.register.overlap_pearson(a, b, 33, 31) == 0.0
    )  # 7 x 9 = 63 pixels: below the minimum 64
    assert _core.register.overlap_pearson(a, b, 32, 32) != 0.0  # 8 x 8 = 64 pixels: enough
    assert _core.register.overlap_pearson(a, b, 40, 0) == 0.0  # no overlap at all
    assert _core.register.overlap_pearson(a, np.full((40, 40), 7.0, np.float32), 0, 0) == 0.0


# --- threads -------------------------------------------------------------------------------------


def test_concurrent_planning_of_new_shapes_is_bit_identical_to_serial() -> None:
    """8 threads plan FFTs for never-seen sizes at the same moment, then execute them."""
    rng = np.random.default_rng(11)
    # Odd, unusual sizes that no other test uses, so every plan is made under contention.
    jobs = []
    for k in range(16):
        region = (37 + 3 * (k % 8), 41 + 5 * (k % 8))
        padded = (2 * region[0] + 1 + k % 8, 2 * region[1] + 3 + k % 8)
        if k % 8 in (2, 5):  # tall: rows, then columns through each thread's buffer
            region, padded = (1010 + k, 20 + k), (1030 + k, 34 + k)
        base = textured((region[0] + 8, region[1] + 8), rng)
        jobs.append(
            (base[: region[0], : region[1]], base[3 : 3 + region[0], 5 : 5 + region[1]], padded)
        )
    settings = (2.0, 1.0, 0.5, 4)
    start = threading.Barrier(8)

    def measure(job, wait: bool):
        a, b, padded = job
        if wait:
            start.wait(timeout=30)
        spectrum_a = _core.register.compute_spectrum(a, padded, *settings)
        spectrum_b = _core.register.compute_spectrum(b, padded, *settings)
        surface = np.array(_core.register.cross_correlate(spectrum_a, spectrum_b).values)
        peak = _core.register.register_spectra(spectrum_a, spectrum_b, a, b).peak
        return surface, (peak.row, peak.col, peak.height, peak.peak_ratio)

    with ThreadPoolExecutor(max_workers=8) as pool:
        first_wave = list(pool.map(lambda job: measure(job, True), jobs[:8]))
        second_wave = list(pool.map(lambda job: measure(job, False), jobs[8:] + jobs[:8]))
    concurrent = first_wave + second_wave
    serial = [measure(job, False) for job in jobs[:8] + jobs[8:] + jobs[:8]]

    for (surface, peak), (surface_serial, peak_serial) in zip(concurrent, serial):
        assert surface.tobytes() == surface_serial.tobytes()
        assert peak == peak_serial
