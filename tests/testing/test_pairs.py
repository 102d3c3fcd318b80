"""Image pairs: the true shift is exact, by every construction."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.testing.pairs import (  # noqa: E402
    fourier_pair,
    make_pair,
    neighbour_pairs,
    random_shifts,
    tile_pair,
)


def test_pair_with_integer_shift_is_an_exact_crop() -> None:
    a, b = make_pair((200, 240), (7.0, -5.0), seed=2)
    # b[y, x] == a[y + 7, x - 5]: the two tiles sample the same scene.
    assert np.abs(b[:-7, 5:] - a[7:, :-5]).max() < 2e-6


def passband_phase_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scikit-image's phase correlation on the spectra below 0.85 x Nyquist.

    The scene holds nothing above 0.9 x Nyquist; in those bins whitening would amplify only
    float rounding and the cut edges, so they are left out.
    """
    from skimage.registration import phase_cross_correlation

    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    fy = np.abs(np.fft.fftfreq(a.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(a.shape[1]))[None, :]
    keep = (fy < 0.425) & (fx < 0.425)
    shift = phase_cross_correlation(fa * keep, fb * keep, upsample_factor=100, space="fourier")[0]
    return np.asarray(shift)


# Whole-image phase correlation is biased toward zero when both images' cut edges hold nearly
# the same content (shifts under ~2 px: up to 0.05 px here); every shift here moves the edges
# by more than that. Sub-pixel shifts below 1 px are checked by least squares below.
SHIFTS = [(3.3, -7.7), (-12.25, 20.8), (25.61, 31.09), (-40.4, 2.93), (-5.55, 9.45)]


@pytest.mark.parametrize("shift", SHIFTS)
def test_subpixel_shift_is_recovered_by_phase_correlation(shift: tuple[float, float]) -> None:
    errors = [
        np.abs(passband_phase_correlation(*make_pair((384, 384), shift, seed=seed)) - shift).max()
        for seed in (7, 8)
    ]
    assert max(errors) <= 0.02


def test_subpixel_shift_is_recovered_by_least_squares_with_a_quintic_spline() -> None:
    """A second independent check: fit the shift with scipy's quintic spline interpolation."""
    from scipy import ndimage, optimize

    for k, shift in enumerate([(3.3, -7.7), (-0.45, 0.62), (11.87, 5.14)]):
        a, b = make_pair((200, 200), shift, seed=20 + k)
        coefficients = ndimage.spline_filter(a.astype(np.float64), order=5)
        border = 24
        yy, xx = np.mgrid[border : 200 - border, border : 200 - border].astype(float)
        target = b[border:-border, border:-border].astype(np.float64)

        def residual(d: np.ndarray) -> np.ndarray:
            moved = ndimage.map_coordinates(
                coefficients, [yy + d[0], xx + d[1]], order=5, prefilter=False
            )
            return (moved - target).ravel()

        start = np.round(shift) + 0.3  # a start that is off by a fraction of a pixel
        fitted = optimize.least_squares(residual, start, xtol=1e-8).x
        assert np.abs(fitted - np.array(shift)).max() < 0.01


def test_pair_dtypes_rgb_and_noise_level() -> None:
    clean_a, _ = make_pair((256, 256), (4.5, 2.25), seed=1)
    noisy_a, noisy_b = make_pair((256, 256), (4.5, 2.25), seed=1, noise_sigma=0.02)
    noise = (noisy_a - clean_a)[np.abs(clean_a - 0.5) < 0.4]  # away from clipping
    assert abs(noise.std() - 0.02) < 0.001
    a8, b8 = make_pair((64, 80), (1.5, 1.5), dtype=np.uint8)
    a16, _ = make_pair((64, 80), (1.5, 1.5), dtype=np.uint16)
    argb, _ = make_pair((64, 80), (1.5, 1.5), rgb=True)
    assert a8.dtype == np.uint8 and a8.shape == (64, 80) and b8.shape == (64, 80)
    assert a16.dtype == np.uint16 and len(np.unique(a16)) > 1000  # real 16-bit levels
    assert argb.shape == (64, 80, 3) and argb.dtype == np.float32
    float_a, _ = make_pair((64, 80), (1.5, 1.5))
    assert np.abs(a8 / 255.0 - float_a).max() <= 0.5 / 255 + 1e-6


def test_fourier_pair_with_integer_shift_is_an_exact_crop_of_the_photograph() -> None:
    a, b = fourier_pair("camera", (4.0, -6.0), (96, 128), np.random.default_rng(3))
    assert a.dtype == np.float64 and a.shape == b.shape == (96, 128)
    assert np.abs(b[:-4, 6:] - a[4:, :-6]).max() < 1e-9  # b[y, x] == a[y + 4, x - 6]
    with pytest.raises(InputError, match="does not fit"):
        fourier_pair("camera", (1.0, 1.0), (500, 500), np.random.default_rng(3))


def test_random_shifts_are_uniform_in_the_range() -> None:
    shifts = random_shifts(np.random.default_rng(0), 2000, 10.0)
    assert shifts.shape == (2000, 2) and np.abs(shifts).max() <= 10.0
    assert np.all(np.abs(shifts.mean(axis=0)) < 0.5) and np.all(np.abs(shifts).max(axis=0) > 9.9)


def test_tile_pair_with_integer_shift_is_an_exact_crop() -> None:
    a, b = tile_pair((3.0, 8.0), np.random.default_rng(5), tile_shape=(60, 80))
    assert a.dtype == np.float32 and a.shape == b.shape == (60, 80)
    assert np.abs(b[:-3, :-8] - a[3:, 8:]).max() < 1e-6


def test_neighbour_pairs_alternate_directions_near_the_pitch_with_a_bounded_guess() -> None:
    cases = neighbour_pairs(4, tile_shape=(48, 64), overlap=0.25, stage_error=5.0)
    for k, (a, b, truth, guess) in enumerate(cases):
        nominal = (0.0, 48.0) if k % 2 == 0 else (36.0, 0.0)
        assert a.shape == b.shape == (48, 64)
        assert np.abs(truth - nominal).max() <= 3.0
        assert np.abs(guess - truth).max() <= 5.0
