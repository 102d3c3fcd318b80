"""Rigid registration against OpenCV's ECC on noisy pairs: ours must be more accurate where
ECC converges, and cheaper (the full table, four cases of 24 pairs: compare_transform.py).

Run:  pytest benchmarks/bench_transform.py -s

Pairs: the 24 noisy rigid pairs of compare_transform.py (512x512, Poisson noise at 1000
photons peak plus 1 % read noise). Accuracy is compared on the pairs where ECC converged
(ECC from a phase correlation sometimes starts too far off and ends tens of pixels away, which
would make any mean of its errors meaningless); time as median CPU time per pair, which on a
shared machine is steadier than wall time. OpenCV comes from the ``compare`` extra; without
it this file is skipped.

Measured (mean endpoint error where ECC converged, 21 of 24 pairs): ours 0.00991 px before the
full-resolution level had its noise model, cubic sampling and 0.8 px smoothing, 0.00945 after;
ECC 0.01062. On the first 12 pairs alone, the case the issue quoted: 0.01036 -> 0.00984,
against ECC's 0.00985.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ofs_stitch import register_pair
from ofs_stitch.testing.pairs import NOISY_CROP_TEXTURES, affine_pair

cv2 = pytest.importorskip("cv2")

PAIRS = 24


def test_rigid_on_noisy_pairs_is_more_accurate_and_cheaper_than_ecc() -> None:
    from compare_transform import NOISE, opencv_ecc

    rng = np.random.default_rng(7)
    cases = [
        affine_pair(NOISY_CROP_TEXTURES[k % 3], rng, max_scale_change=0.0, **NOISE)
        for k in range(PAIRS)
    ]
    register_pair(cases[0].a, cases[0].b, model="rigid")  # plans the FFTs
    errors: dict[str, list[float]] = {"ours": [], "ecc": []}
    cpu: dict[str, list[float]] = {"ours": [], "ecc": []}
    for case in cases:
        for name, method in (
            ("ours", lambda a, b: register_pair(a, b, model="rigid").matrix),
            ("ecc", lambda a, b: opencv_ecc(a, b, cv2.MOTION_EUCLIDEAN)),
        ):
            start = time.process_time()
            matrix = method(case.a, case.b)
            cpu[name].append(time.process_time() - start)
            errors[name].append(case.endpoint_error(matrix)[0])
    ours, ecc = np.array(errors["ours"]), np.array(errors["ecc"])
    converged = ecc < 1.0
    ratio = ecc[converged].mean() / ours[converged].mean()
    cpu_ratio = np.median(cpu["ecc"]) / np.median(cpu["ours"])
    print(
        f"\nnoisy rigid, {converged.sum()} of {PAIRS} pairs where ECC converged: mean endpoint "
        f"error ours {ours[converged].mean():.5f} px, ECC {ecc[converged].mean():.5f} px "
        f"(ECC / ours {ratio:.2f}x); CPU per pair ECC / ours {cpu_ratio:.1f}x"
    )
    assert converged.sum() >= PAIRS // 2
    # Measured: 1.12x (1.07x before the full-resolution changes); 2x less CPU time than ECC.
    assert ratio >= 1.0
    assert cpu_ratio > 1.0
    assert ours.max() < 0.05
