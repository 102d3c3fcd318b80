"""``register_pair`` without a hint: noisy small crops, where a search that trusts small
overlaps picks a sliver at the edge of the search (``testing.pairs.noisy_crop_pairs``).

Convention: ``b[y, x] == a[y + d_row, x + d_col]``; scikit-image's ``phase_cross_correlation``
returns the same d.
"""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch import register_pair
from ofs_stitch.core.registration import ACCEPT_QUALITY
from ofs_stitch.testing.pairs import ShiftedPair, make_pair, noisy_crop_pairs


@pytest.fixture(scope="module")
def noisy_pairs() -> list[ShiftedPair]:
    return noisy_crop_pairs()


def distances(measured: list[tuple[float, float]], pairs: list[ShiftedPair]) -> np.ndarray:
    return np.array(
        [np.hypot(m[0] - p.shift[0], m[1] - p.shift[1]) for m, p in zip(measured, pairs)]
    )


def test_noisy_crops_beat_skimage_and_every_miss_is_flagged(noisy_pairs) -> None:
    from skimage.registration import phase_cross_correlation

    results = [register_pair(p.a, p.b) for p in noisy_pairs]
    ours = distances([r.shift for r in results], noisy_pairs)
    theirs = {
        str(normalization): distances(
            [
                tuple(
                    phase_cross_correlation(
                        p.a, p.b, upsample_factor=100, normalization=normalization
                    )[0]
                )
                for p in noisy_pairs
            ],
            noisy_pairs,
        )
        for normalization in ("phase", None)
    }
    rms = float(np.sqrt(np.mean(ours**2)))
    best_skimage = min(float(np.sqrt(np.mean(d**2))) for d in theirs.values())
    print(f"RMS ours {rms:.4f} px, scikit-image (better normalisation) {best_skimage:.4f} px")
    assert len(noisy_pairs) == 36
    assert rms <= best_skimage
    quality = np.array([r.quality for r in results])
    missed = ours > 1.0
    assert (quality[missed] < ACCEPT_QUALITY).all(), list(zip(ours[missed], quality[missed]))
    # Measured: every pair within 0.5 px (the retina's, the hardest, 0.15-0.49 px).
    assert ours.max() < 1.0, ours.max()
    textured = np.array([p.name != "retina" for p in noisy_pairs])
    assert ours[textured].max() < 0.1


def test_a_thin_true_overlap_is_found_and_min_overlap_can_exclude_it() -> None:
    # Side by side with 17 % of each image in common.
    a, b = make_pair((200, 240), (3.3, 200.4), noise_sigma=0.02, seed=5)
    found = register_pair(a, b)
    assert np.hypot(found.shift[0] - 3.3, found.shift[1] - 200.4) < 0.25
    assert found.quality >= ACCEPT_QUALITY
    excluded = register_pair(a, b, min_overlap=0.5)
    assert np.hypot(excluded.shift[0] - 3.3, excluded.shift[1] - 200.4) > 1.0
    assert excluded.quality < ACCEPT_QUALITY


def test_unhinted_search_gives_the_same_shift_from_two_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pairs = noisy_crop_pairs(2, seed=7)
    alone = [register_pair(p.a, p.b).shift for p in pairs]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            together = list(pool.map(lambda p: register_pair(p.a, p.b).shift, pairs))
            assert together == alone


@pytest.mark.parametrize("noise", [0.15, 0.3])
def test_misses_on_very_noisy_crops_are_flagged(noise) -> None:
    pairs = noisy_crop_pairs(4, noise_fraction=noise, seed=3)
    results = [register_pair(p.a, p.b) for p in pairs]
    error = distances([r.shift for r in results], pairs)
    quality = np.array([r.quality for r in results])
    assert (error > 1).any()  # the test sees misses, not only hits
    assert (quality[error > 1] < ACCEPT_QUALITY).all(), list(zip(error, quality))


def test_misses_on_small_noisy_crops_are_flagged_and_hits_kept() -> None:
    # 100x120 crops at 10 % noise: before the pixel fit checked the correlation peak, retina
    # matches 1.2-2.9 px off scored quality up to 0.43 here (r 0.3-0.5, distinct peaks).
    pairs = [
        p
        for seed in (1, 2, 3)
        for p in noisy_crop_pairs(12, crop_shape=(100, 120), noise_fraction=0.10, seed=seed)
    ]
    results = [register_pair(p.a, p.b) for p in pairs]
    error = distances([r.shift for r in results], pairs)
    quality = np.array([r.quality for r in results])
    assert (error > 1).any()  # the test sees misses, not only hits
    assert (quality[error > 1] < ACCEPT_QUALITY).all(), list(zip(error, quality))
    # Measured: 71 of the 108 pairs within 1 px and accepted (70 before the check, with 5
    # misses accepted), all but two immunohistochemistry and hubble, within 0.20 px (0.34 before).
    accepted = (error <= 1) & (quality >= ACCEPT_QUALITY)
    assert accepted.sum() >= 68, accepted.sum()
    textured = np.array([p.name != "retina" for p in pairs])
    assert error[textured & accepted].max() < 0.3
