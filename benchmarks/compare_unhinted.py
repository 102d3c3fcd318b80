"""Registration without a hint, side by side with the methods it replaces, as one table.

    python benchmarks/compare_unhinted.py

(a) one 640x480 tile pair at shift (30, 448): ``register_pair(a, b)`` against openflexure-
    stitching's float64 numpy method (2x zero-padded FFT correlation of the whole images, high-
    pass filtered, centroid of the top 2 %; REFERENCE section 5), best of several runs;
(b) the 36 noisy 200x240 crops of ``testing.pairs.noisy_crop_pairs`` (retina,
    immunohistochemistry, hubble; shifts up to +-40 px, noise 5 % of the range): RMS error
    against scikit-image's ``phase_cross_correlation`` (upsample 100) with either
    normalisation, and how many misses (> 1 px) each method has, and whether ours are flagged
    (quality below ``ACCEPT_QUALITY``). tests/core/test_registration_unhinted.py asserts (b);
(c) the same at 100x120 and 10 % noise, 3 seeds (108 pairs): misses, and how many of them are
    flagged (all must be; the same test file asserts it).
"""

from __future__ import annotations

import numpy as np
from registration_cases import best_time, openflexure_shift

from ofs_stitch import register_pair
from ofs_stitch.core.registration import ACCEPT_QUALITY
from ofs_stitch.testing.pairs import noisy_crop_pairs, tile_pair

Row = tuple[str, str, str]


def tile_pair_rows() -> list[Row]:
    truth = (30.0, 448.0)
    a, b = tile_pair(truth, np.random.default_rng(0), noise_fraction=0.02)
    register_pair(a, b)  # plans the FFTs
    ours_seconds, ours = best_time(lambda: register_pair(a, b), 20)
    theirs_seconds, theirs = best_time(lambda: openflexure_shift(a, b), 7)
    ours_error = np.hypot(ours.shift[0] - truth[0], ours.shift[1] - truth[1])
    theirs_error = np.hypot(theirs[0] - truth[0], theirs[1] - truth[1])
    return [
        ("(a) 640x480 pair, register_pair(a, b)", f"{ours_seconds * 1e3:.2f} ms",
         f"error {ours_error:.4f} px, quality {ours.quality:.2f}"),
        ("(a) OpenFlexure method (numpy float64)", f"{theirs_seconds * 1e3:.2f} ms",
         f"error {theirs_error:.4f} px"),
        ("(a) OpenFlexure / ours", f"{theirs_seconds / ours_seconds:.1f}x time", "target >= 10x"),
    ]  # fmt: skip


def noisy_crop_rows() -> list[Row]:
    from skimage.registration import phase_cross_correlation

    pairs = noisy_crop_pairs()
    truth = np.array([p.shift for p in pairs])
    results = [register_pair(p.a, p.b) for p in pairs]
    ours = np.hypot(*(np.array([r.shift for r in results]) - truth).T)
    quality = np.array([r.quality for r in results])
    flagged = quality < ACCEPT_QUALITY
    seconds, _ = best_time(lambda: [register_pair(p.a, p.b) for p in pairs], 3)
    rows = [
        ("(b) 36 noisy crops, register_pair(a, b)", f"{np.sqrt(np.mean(ours**2)):.4f} px RMS",
         f"max {ours.max():.3f} px, {(ours > 1).sum()} off by > 1 px "
         f"({(flagged & (ours > 1)).sum()} flagged), {flagged.sum()} flagged in all, "
         f"{seconds / len(pairs) * 1e3:.2f} ms/pair"),
    ]  # fmt: skip
    retina = np.array([p.name == "retina" for p in pairs])
    for normalization in ("phase", None):
        shifts = np.array(
            [
                phase_cross_correlation(p.a, p.b, upsample_factor=100, normalization=normalization)[
                    0
                ]
                for p in pairs
            ]
        )
        theirs = np.hypot(*(shifts - truth).T)
        rows.append(
            (f"(b) scikit-image, normalization={normalization}",
             f"{np.sqrt(np.mean(theirs**2)):.4f} px RMS",
             f"max {theirs.max():.3f} px, {(theirs > 1).sum()} off by > 1 px "
             f"(retina RMS {np.sqrt(np.mean(theirs[retina] ** 2)):.3f}, ours "
             f"{np.sqrt(np.mean(ours[retina] ** 2)):.3f})")
        )  # fmt: skip
    return rows


def small_crop_rows() -> list[Row]:
    pairs = [
        p
        for seed in (1, 2, 3)
        for p in noisy_crop_pairs(12, crop_shape=(100, 120), noise_fraction=0.10, seed=seed)
    ]
    truth = np.array([p.shift for p in pairs])
    results = [register_pair(p.a, p.b) for p in pairs]
    error = np.hypot(*(np.array([r.shift for r in results]) - truth).T)
    quality = np.array([r.quality for r in results])
    missed = error > 1
    accepted = ~missed & (quality >= ACCEPT_QUALITY)
    return [
        ("(c) 108 crops 100x120, 10 % noise", f"{missed.sum()} off by > 1 px",
         f"{(quality[missed] < ACCEPT_QUALITY).sum()} of them flagged (highest quality "
         f"{quality[missed].max():.3f}); {accepted.sum()} within 1 px and accepted"),
    ]  # fmt: skip


def main() -> None:
    rows = tile_pair_rows() + noisy_crop_rows() + small_crop_rows()
    width = max(len(name) for name, _, _ in rows)
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>18}  {note}")


if __name__ == "__main__":
    main()
