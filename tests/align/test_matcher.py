"""``Matcher.refine`` against the known maps of generated affine-distorted tiles."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ofs_stitch import InputError, Matcher
from ofs_stitch.testing.affine_grids import affine_grid


@pytest.fixture(scope="module")
def grid():
    return affine_grid(1, 2, tile_size=(400, 300), seed=1)


@pytest.fixture(scope="module")
def straight():
    return affine_grid(
        1, 2, tile_size=(400, 300), max_angle_deg=0, max_scale=0, max_shear=0, seed=1
    )


def scene_distance(grid, refined) -> np.ndarray:
    """How far apart (px) the refined points land in the scene (0 for an exact match)."""
    a, b = (0, 0), (0, 1)
    ones = np.ones((len(refined.p_a), 1))
    in_a = np.hstack([refined.p_a, ones]) @ grid.maps[a].T
    in_b = np.hstack([refined.p_b, ones]) @ grid.maps[b].T
    return np.hypot(*(in_a - in_b).T)


def rough_points(grid):
    return grid.overlap_points((0, 0), (0, 1), per_side=3, window=64)


def test_refine_finds_the_exact_match_under_rotation_and_scale(grid) -> None:
    matcher = Matcher(grid.tiles[(0, 0)], grid.tiles[(0, 1)])
    p_a, p_b = rough_points(grid)
    before = scene_distance(grid, type("R", (), {"p_a": p_a, "p_b": p_b}))
    refined = matcher.refine(p_a, p_b, size=64)
    after = scene_distance(grid, refined)
    assert before.min() > 0.5  # the nominal places are off by pixels
    assert np.median(after) < 0.02 and after.max() < 0.05
    assert (refined.quality > 0.5).all() and refined.found.all()
    # The midpoint of each pair stays: both points move by half the mismatch.
    np.testing.assert_allclose(refined.p_a + refined.p_b, p_a + p_b, atol=1e-9)
    # A shift alone belongs to wherever the windows' texture is strongest.
    shifted = scene_distance(grid, matcher.refine(p_a, p_b, size=64, model="translation"))
    assert np.median(shifted) > 3 * np.median(after)


def test_refine_without_distortion(straight) -> None:
    matcher = Matcher(straight.tiles[(0, 0)], straight.tiles[(0, 1)])
    p_a, p_b = rough_points(straight)
    for model in ("translation", "affine"):
        refined = matcher.refine(p_a, p_b, size=(64, 64), model=model)
        assert scene_distance(straight, refined).max() < 0.05


def test_one_point_unpacks_and_windows_are_reused(straight) -> None:
    matcher = Matcher(straight.tiles[(0, 0)], straight.tiles[(0, 1)])
    p_a, p_b = rough_points(straight)
    refined = matcher.refine(p_a[0], p_b[0], 64.4)
    new_a, new_b = refined
    assert new_a.shape == (2,) and new_b.shape == (2,)
    assert isinstance(refined.quality, float) and refined.quality > 0.5
    computed = matcher.spectra_computed
    again = matcher.refine(p_a[0], p_b[0], 64)  # 64.4 rounds to the same window
    np.testing.assert_array_equal(again.p_a, new_a)
    assert matcher.spectra_computed == computed  # every window came from the cache
    uncached = Matcher(straight.tiles[(0, 0)], straight.tiles[(0, 1)], cache_size=0)
    uncached.refine(p_a[0], p_b[0], 64)
    assert uncached.spectra_computed > 2


def test_paths_give_the_same_match(straight, tmp_path) -> None:
    paths = []
    for key in ((0, 0), (0, 1)):
        path = tmp_path / f"tile_{key[1]}.png"
        pixels = np.round(straight.tiles[key].clip(0, 1) * 65535).astype(np.uint16)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    p_a, p_b = rough_points(straight)
    from_files = Matcher(str(paths[0]), paths[1]).refine(p_a, p_b, 64)
    assert scene_distance(straight, from_files).max() < 0.05


def test_blank_windows_score_zero(straight) -> None:
    blank = np.full((300, 400), 0.5, np.float32)
    p_a, p_b = rough_points(straight)
    refined = Matcher(straight.tiles[(0, 0)], blank).refine(p_a, p_b, 64)
    assert (np.asarray(refined.quality) < 0.15).all()


def test_information_follows_the_texture(grid) -> None:
    """A window of vertical stripes pins x, not y; one of noise pins nothing; a textured
    window pins both. The information matrices say so, and `precision` is the weaker axis."""
    rng = np.random.default_rng(5)
    stripes = np.tile(np.sin(np.arange(200) / 3.0) + rng.normal(0, 0.01, 200), (160, 1))
    shifted = np.roll(stripes, 2, axis=1)
    striped = Matcher(stripes.astype(np.float32), shifted.astype(np.float32)).refine(
        (100, 80), (102, 80), size=64, model="translation"
    )
    (xx, xy), (_, yy) = striped.information
    assert xx > 100 * yy and abs(xy) < 0.1 * xx
    assert striped.precision == pytest.approx(np.linalg.eigvalsh(striped.information)[0])

    matcher = Matcher(grid.tiles[(0, 0)], grid.tiles[(0, 1)])
    textured = matcher.refine(*rough_points(grid), size=64)
    assert textured.information.shape == (9, 2, 2)
    assert (textured.precision > 0).all()
    noise = rng.normal(0.5, 0.05, (300, 400)).astype(np.float32)
    unrelated = Matcher(grid.tiles[(0, 0)], noise).refine(*rough_points(grid), size=64)
    # Pixels that do not match leave a residual as large as the texture: ~1000 times less.
    assert np.max(unrelated.precision) < 0.01 * np.min(textured.precision)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.refine((10, 10), (10, 10), size=8), "at least 16"),
        (lambda m: m.refine((10, 10), (10, 10), size=(500, 64)), "at most the images"),
        (lambda m: m.refine((10, 10), (10, 10), size=(1, 2, 3)), "size="),
        (lambda m: m.refine([(10, 10), (20, 20)], (10, 10)), "p_b has 1"),
        (lambda m: m.refine((10, 10, 1), (10, 10)), "p_a has shape"),
        (lambda m: m.refine((np.nan, 10), (10, 10)), "NaN"),
        (lambda m: m.refine((10, 10), (10, 10), iters=0), "iters"),
        (lambda m: m.refine((10, 10), (10, 10), model="rigid"), "model="),
        (lambda m: m.refine((10, 10), (10, 10), size=64, search_radius=40), "search_radius"),
    ],
)
def test_bad_input_says_what_to_change(straight, call, message: str) -> None:
    matcher = Matcher(straight.tiles[(0, 0)], straight.tiles[(0, 1)])
    with pytest.raises(InputError, match=message):
        call(matcher)


def test_bad_images_say_what_to_change(tmp_path) -> None:
    with pytest.raises(InputError, match="a has shape"):
        Matcher(np.zeros((4, 4, 4, 4)), np.zeros((64, 64)))
    with pytest.raises(InputError, match="b contains NaN"):
        Matcher(np.zeros((64, 64)), np.full((64, 64), np.nan))
    with pytest.raises(OSError):
        Matcher(tmp_path / "missing.png", np.zeros((64, 64)))
