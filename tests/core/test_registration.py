"""``register_pair`` on real texture with exactly known sub-pixel shifts.

Ground truth: scikit-image photographs moved with ``scipy.ndimage.fourier_shift`` (as scikit-image's
own registration tests do), and tile-like pairs cut at sub-pixel positions from one real-texture
canvas; see ``ofs_stitch.testing.pairs``. Convention: ``b[y, x] == a[y + d_row, x + d_col]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofs_stitch import InputError, _core, register_pair
from ofs_stitch.testing.pairs import TEXTURES, fourier_pair, random_shifts, tile_pair

CROP = (256, 256)  # about the size of a 640x480 tile's 30 % overlap region
MAX_SHIFT = 10.0
PAIRS = 40
NOISE = 0.06  # Gaussian noise sigma, as a fraction of the image's range

# Accuracy required of every measurement set (pixels, per axis).
MAX_BIAS = 0.01
MAX_RMS = 0.03


@dataclass(frozen=True)
class ShiftSet:
    """Known shifts, our measured shifts and scikit-image's, for one noise level."""

    truth: np.ndarray  # (n, 2)
    ours: np.ndarray  # (n, 2)
    skimage: np.ndarray  # (n, 2)

    @property
    def error(self) -> np.ndarray:
        return self.ours - self.truth

    @property
    def skimage_error(self) -> np.ndarray:
        return self.skimage - self.truth


def measure_known_shifts(noise_fraction: float, seed: int) -> ShiftSet:
    from skimage.registration import phase_cross_correlation

    rng = np.random.default_rng(seed)
    truth = random_shifts(rng, PAIRS, MAX_SHIFT)
    ours, theirs = [], []
    for k, shift in enumerate(truth):
        a, b = fourier_pair(
            TEXTURES[k % len(TEXTURES)], tuple(shift), CROP, rng, noise_fraction=noise_fraction
        )
        ours.append(register_pair(a, b).shift)
        # scikit-image returns the shift that moves `moving` onto `reference`: +d for our b.
        theirs.append(phase_cross_correlation(a, b, upsample_factor=100)[0])
    return ShiftSet(truth, np.array(ours), np.array(theirs))


@pytest.fixture(scope="module")
def clean_set() -> ShiftSet:
    return measure_known_shifts(0.0, seed=1)


@pytest.fixture(scope="module")
def noisy_set() -> ShiftSet:
    return measure_known_shifts(NOISE, seed=2)


def summary(error: np.ndarray) -> str:
    bias, rms = error.mean(axis=0), np.sqrt((error**2).mean(axis=0))
    return (
        f"bias (row, col) = ({bias[0]:+.4f}, {bias[1]:+.4f}) px, "
        f"RMS = ({rms[0]:.4f}, {rms[1]:.4f}) px"
    )


def assert_accurate(error: np.ndarray, label: str) -> None:
    bias, rms = np.abs(error.mean(axis=0)), np.sqrt((error**2).mean(axis=0))
    print(f"{label}: {summary(error)}, max {np.abs(error).max():.4f} px")
    assert (bias < MAX_BIAS).all(), f"{label}: {summary(error)}"
    assert (rms < MAX_RMS).all(), f"{label}: {summary(error)}"


def test_known_shifts_of_clean_texture(clean_set: ShiftSet) -> None:
    assert_accurate(clean_set.error, "clean texture")


def test_known_shifts_of_noisy_texture(noisy_set: ShiftSet) -> None:
    assert_accurate(noisy_set.error, f"texture + {NOISE:.0%} noise")


@pytest.mark.parametrize("which", ["clean", "noisy"])
def test_no_pull_towards_zero_shift(which: str, clean_set: ShiftSet, noisy_set: ShiftSet) -> None:
    """The bias that matters for stitching: an error that shrinks shifts (upstream's defect,
    REFERENCE section 5) accumulates along every chain of tiles, yet cancels in a plain mean over
    shifts of both signs. Measured as mean(error * sign(true shift))."""
    shifts = clean_set if which == "clean" else noisy_set
    pull = (shifts.error * np.sign(shifts.truth)).mean(axis=0)
    print(
        f"{which}: mean error away from zero shift (row, col) = ({pull[0]:+.4f}, {pull[1]:+.4f}) px"
    )
    assert (np.abs(pull) < MAX_BIAS).all(), f"{which}: shifts pulled by {pull} px"


def test_more_accurate_than_skimage_on_noisy_texture(noisy_set: ShiftSet) -> None:
    ours = float(np.sqrt((noisy_set.error**2).sum(axis=1).mean()))
    theirs = float(np.sqrt((noisy_set.skimage_error**2).sum(axis=1).mean()))
    print(
        f"noisy texture, RMS distance: ours {ours:.4f} px, skimage (upsample 100) {theirs:.4f} px"
    )
    print(f"  ours:    {summary(noisy_set.error)}")
    print(f"  skimage: {summary(noisy_set.skimage_error)}")
    assert ours < theirs


def test_skimage_reference_is_exact_on_clean_texture(clean_set: ShiftSet) -> None:
    """Guards the ground truth itself: an independent method recovers it on clean data."""
    rms = float(np.sqrt((clean_set.skimage_error**2).sum(axis=1).mean()))
    print(f"clean texture, skimage RMS distance {rms:.4f} px; ours: {summary(clean_set.error)}")
    assert rms < 0.02


# --- tile-like pairs with a stage guess ----------------------------------------------------------


@pytest.mark.parametrize("noise", [0.0, NOISE])
def test_expected_shift_on_tile_pairs(noise: float) -> None:
    """480x640 tiles overlapping by ~30 %, searched within 30 px of a stage guess ~10 px off."""
    rng = np.random.default_rng(7)
    errors = []
    for k in range(PAIRS):
        nominal = np.array([0.0, 448.0]) if k % 2 == 0 else np.array([336.0, 0.0])
        truth = nominal + rng.uniform(-6.0, 6.0, 2)
        stage_guess = truth + rng.uniform(-10.0, 10.0, 2)
        a, b = tile_pair(tuple(truth), rng, noise_fraction=noise)
        measured = register_pair(a, b, expected_shift=tuple(stage_guess), search_radius=30)
        assert measured.found
        errors.append(np.array(measured.shift) - truth)
    assert_accurate(np.array(errors), f"tile pairs with stage guess, noise {noise:.0%}")


# --- properties ----------------------------------------------------------------------------------

axis_shift = st.one_of(st.integers(-20, 20).map(float), st.floats(-20.0, 20.0, allow_nan=False))


@settings(max_examples=30, deadline=None)
@given(
    d_row=axis_shift,
    d_col=axis_shift,
    texture_name=st.sampled_from(TEXTURES),
    seed=st.integers(0, 2**16),
)
def test_any_shift_within_twenty_pixels(
    d_row: float, d_col: float, texture_name: str, seed: int
) -> None:
    a, b = fourier_pair(texture_name, (d_row, d_col), CROP, np.random.default_rng(seed))
    measured = register_pair(a, b).shift
    error = np.hypot(measured[0] - d_row, measured[1] - d_col)
    assert error < 0.05, f"{texture_name}: true ({d_row}, {d_col}), measured {measured}"


def test_swapping_the_images_negates_the_shift() -> None:
    rng = np.random.default_rng(21)
    worst = 0.0
    for k, shift in enumerate(random_shifts(rng, 8, MAX_SHIFT)):
        a, b = fourier_pair(
            TEXTURES[k % len(TEXTURES)], tuple(shift), CROP, rng, noise_fraction=NOISE
        )
        forward, backward = register_pair(a, b).shift, register_pair(b, a).shift
        worst = max(worst, *np.abs(np.add(forward, backward)))
    for k in range(4):
        truth = (
            np.array([336.0, 0.0]) + rng.uniform(-6, 6, 2)
            if k % 2
            else np.array([0.0, 448.0]) + rng.uniform(-6, 6, 2)
        )
        guess = truth + rng.uniform(-10, 10, 2)
        a, b = tile_pair(tuple(truth), rng, noise_fraction=NOISE)
        forward = register_pair(a, b, expected_shift=tuple(guess), search_radius=30).shift
        backward = register_pair(b, a, expected_shift=tuple(-guess), search_radius=30).shift
        worst = max(worst, *np.abs(np.add(forward, backward)))
    print(f"largest |shift(a, b) + shift(b, a)| = {worst:.5f} px")
    assert worst < 0.01


# --- input types ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grey_pair() -> tuple[np.ndarray, np.ndarray]:
    """A float pair in 0..255 with a fractional shift."""
    a, b = fourier_pair("astronaut", (3.4, -6.7), (160, 200), np.random.default_rng(4))
    return 255.0 * a, 255.0 * b


def same_shift(first: tuple[float, float], second: tuple[float, float]) -> None:
    assert first == pytest.approx(second, abs=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_dtypes_give_the_shift_of_their_float32_copy(dtype, grey_pair) -> None:
    scale = 257.0 if dtype == np.uint16 else 1.0
    a, b = ((np.clip(image, 0, 255) * scale).round().astype(dtype) for image in grey_pair)
    measured = register_pair(a, b)
    same_shift(measured.shift, register_pair(a.astype(np.float32), b.astype(np.float32)).shift)
    assert measured.shift == pytest.approx((3.4, -6.7), abs=0.1)


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_images_register_as_the_mean_of_their_colour_channels(
    channels: int, grey_pair
) -> None:
    rng = np.random.default_rng(8)
    gains = rng.uniform(0.5, 1.0, 3)
    colour = []
    for image in grey_pair:
        planes = [np.clip(image * g, 0, 255) for g in gains]
        if channels == 4:
            planes.append(rng.uniform(0, 255, image.shape))  # alpha: must be ignored
        colour.append(np.stack(planes, axis=2).round().astype(np.uint8))
    grey = [image[:, :, :3].astype(np.float32).mean(axis=2) for image in colour]
    same_shift(register_pair(*colour).shift, register_pair(*grey).shift)


def test_non_contiguous_views_give_the_shift_of_a_contiguous_copy(grey_pair) -> None:
    a, b = (image.astype(np.float32) for image in grey_pair)
    expected = register_pair(a, b).shift

    def reversed_view(image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[::-1, ::-1])[::-1, ::-1]  # negative strides

    def stepped_view(image: np.ndarray) -> np.ndarray:
        wide = np.zeros((image.shape[0] * 2, image.shape[1] * 3), np.float32)
        wide[::2, 1::3] = image
        return wide[::2, 1::3]

    def window_view(image: np.ndarray) -> np.ndarray:
        big = np.zeros((image.shape[0] + 10, image.shape[1] + 30), np.float32)
        big[4 : 4 + image.shape[0], 17 : 17 + image.shape[1]] = image
        return big[4 : 4 + image.shape[0], 17 : 17 + image.shape[1]]

    for make_view in (reversed_view, stepped_view, window_view, np.asfortranarray):
        view_a, view_b = make_view(a), make_view(b)
        assert not view_a.flags.c_contiguous
        np.testing.assert_array_equal(view_a, a)
        same_shift(register_pair(view_a, view_b).shift, expected)
        # The stage-guess path crops the views again before they reach the core.
        same_shift(
            register_pair(view_a, view_b, expected_shift=(3.0, -6.0), search_radius=5).shift,
            register_pair(a, b, expected_shift=(3.0, -6.0), search_radius=5).shift,
        )


# --- quality -------------------------------------------------------------------------------------


def test_quality_separates_true_pairs_from_noise_and_blanks() -> None:
    rng = np.random.default_rng(12)
    good = []
    for k in range(4):
        a, b = fourier_pair(TEXTURES[k], (2.5, -4.25), CROP, rng, noise_fraction=NOISE)
        good.append(register_pair(a, b))
    for k in range(2):
        a, b = tile_pair((1.3, 447.6), rng, noise_fraction=NOISE)
        good.append(register_pair(a, b, expected_shift=(5.0, 440.0), search_radius=30))

    noise_a, noise_b = rng.normal(0.5, 0.1, (2, *CROP))
    flat = np.full(CROP, 0.5)
    camera_noise_a = 0.8 + rng.normal(0, 0.02, CROP)
    camera_noise_b = 0.8 + rng.normal(0, 0.02, CROP)
    bad = [
        register_pair(noise_a, noise_b),
        register_pair(flat, flat),
        register_pair(camera_noise_a, camera_noise_b),
        register_pair(camera_noise_a, camera_noise_b, expected_shift=(3.0, 4.0), search_radius=20),
    ]
    print(
        "true pairs   (quality, r, peak ratio):",
        [(round(m.quality, 3), round(m.pearson_r, 3), round(m.peak_ratio, 2)) for m in good],
    )
    print(
        "random/blank (quality, r, peak ratio):",
        [(round(m.quality, 3), round(m.pearson_r, 3), round(m.peak_ratio, 2)) for m in bad],
    )
    for measured in good:
        assert measured.quality > 0.3
        assert measured.pearson_r > 0.5
        assert measured.peak_ratio > 1.5
        assert 0.0 <= measured.quality <= 1.0
    for measured in bad:
        assert measured.quality < 0.1
        assert 0.0 <= measured.quality <= 1.0


def test_the_result_is_a_registration_whose_quality_follows_from_its_figures() -> None:
    from ofs_stitch import Registration
    from ofs_stitch.core.matches import combined_quality

    rng = np.random.default_rng(5)
    a, b = tile_pair((1.3, 447.6), rng, noise_fraction=NOISE)
    measured = register_pair(a, b, expected_shift=(5.0, 440.0), search_radius=30)
    assert type(measured) is Registration
    assert measured.found is True and type(measured.gaussian_fit) is bool
    assert type(measured.pearson_r) is float and type(measured.peak_ratio) is float
    assert all(type(value) is float for value in measured.shift)
    assert measured.quality == combined_quality(measured.pearson_r, measured.peak_ratio) > 0.3
    assert np.hypot(measured.shift[0] - 1.3, measured.shift[1] - 447.6) < 0.1


def test_a_blank_overlap_is_not_searched_again_at_full_resolution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two tiles of camera noise over a flat sample: nothing agrees at the coarse scale, and
    # the full-resolution search (20 times the cost) would find nothing either.
    from ofs_stitch.core import registration

    rng = np.random.default_rng(3)
    blank_a = 0.8 + rng.normal(0, 0.02, (480, 640))
    blank_b = 0.8 + rng.normal(0, 0.02, (480, 640))
    searches: list[float | None] = []
    original = registration._register_cropped

    def counting(a, b, expected, radius, *args, **kwargs):  # type: ignore[no-untyped-def]
        searches.append(a.shape[0])
        return original(a, b, expected, radius, *args, **kwargs)

    monkeypatch.setattr(registration, "_register_cropped", counting)
    blank = register_pair(blank_a, blank_b, expected_shift=(3.0, 448.0), search_radius=120)
    assert not blank.found and blank.quality < 0.1
    assert searches == [120]  # one coarse (4x) search, nothing at 480 rows
    # A textured pair with the same geometry is still found and refined at full resolution.
    searches.clear()
    a, b = tile_pair((1.3, 447.6), rng, noise_fraction=NOISE)
    found = register_pair(a, b, expected_shift=(5.0, 440.0), search_radius=120)
    assert found.found and found.quality > 0.3
    assert np.hypot(found.shift[0] - 1.3, found.shift[1] - 447.6) < 0.1
    assert searches[0] == 120 and max(searches[1:]) == 480


# --- the coarse level -----------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_block_mean_matches_the_definition_on_a_strided_view(factor: int) -> None:
    # The coarse level of the coarse-to-fine search; partial blocks at the edges are left out.
    image = np.random.default_rng(factor).random((83, 61), dtype=np.float32) * 255
    for view in (image, image[3:, ::-1][:, 1:], image[::2, :]):
        rows, cols = (view.shape[0] // factor) * factor, (view.shape[1] // factor) * factor
        blocks = view[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
        expected = blocks.astype(np.float64).mean(axis=(1, 3))
        np.testing.assert_allclose(_core.image.block_mean(view, factor), expected, atol=1e-4)


def test_block_mean_refuses_other_pixels_and_factors() -> None:
    with pytest.raises(ValueError, match="float32"):
        _core.image.block_mean(np.zeros((8, 8), np.float64), 2)
    with pytest.raises(ValueError, match="factor"):
        _core.image.block_mean(np.zeros((8, 8), np.float32), 0)


# --- bad input -----------------------------------------------------------------------------------

GOOD = np.zeros((32, 32), np.float32)


@pytest.mark.parametrize(
    ("a", "b", "options", "advice"),
    [
        (np.zeros(32), np.zeros(32), {}, "2-D"),
        (np.zeros((4, 8, 8, 2)), np.zeros((4, 8, 8, 2)), {}, "2-D"),
        (np.zeros((0, 16)), np.zeros((0, 16)), {}, "empty"),
        (GOOD, np.zeros((32, 30), np.float32), {}, "same size"),
        (GOOD, np.full((32, 32), np.nan), {}, "NaN"),
        (np.full((32, 32), np.inf), GOOD, {}, "infinite"),
        (GOOD.astype(bool), GOOD.astype(bool), {}, "uint8"),
        (GOOD, GOOD, {"whiten": 1.5}, "0..1"),
        (GOOD, GOOD, {"whiten": -0.1}, "0..1"),
        (GOOD, GOOD, {"expected_shift": (0.0, 0.0), "search_radius": -3.0}, "search_radius"),
        (GOOD, GOOD, {"expected_shift": (500.0, 0.0), "search_radius": 10.0}, "expected_shift"),
        (GOOD, GOOD, {"high_pass_sigma": -1.0}, ">= 0"),
        (GOOD, GOOD, {"taper": -2}, ">= 0"),
        (GOOD, GOOD, {"min_overlap": 0.0}, "min_overlap"),
        (GOOD, GOOD, {"min_overlap": 1.5}, "min_overlap"),
    ],
)
def test_bad_input_raises_input_error_saying_what_to_change(a, b, options, advice) -> None:
    with pytest.raises(InputError, match=advice) as raised:
        register_pair(a, b, **options)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in str(raised.value)
