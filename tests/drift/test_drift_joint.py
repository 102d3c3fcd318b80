"""The joint solve on measurements with known truth (no images): exact recovery, rejection
of pairs that disagree, unreliable frames interpolated."""

from __future__ import annotations

import numpy as np

from ofs_stitch.drift.joint import solve_series
from ofs_stitch.drift.measure import Measurements, PairResult
from ofs_stitch.drift.table import matrix_from_parameters

SHAPE = (200, 300)


def _truth(n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(0, [1.0, 1.0, 0.1], (n, 3)), axis=0)
    walk -= walk[0]
    return np.array([matrix_from_parameters(r, c, a, 1.0, SHAPE) for r, c, a in walk])


def _pairs(truth: np.ndarray, lags=(1, 2, 4)) -> list[PairResult]:
    n = len(truth)
    pairs = []
    for j in range(1, n):
        for lag in lags:
            i = j - lag
            if i >= 0:
                matrix = truth[i] @ np.linalg.inv(truth[j])
                pairs.append(PairResult(i, j, matrix, 0.9, True, lag == 1))
    return pairs


def test_exact_pairs_give_back_the_truth() -> None:
    truth = _truth(30)
    solution = solve_series(Measurements(tuple(_pairs(truth)), 30, 0), 30, SHAPE, "rigid")
    assert np.abs(solution.matrices - truth).max() < 1e-6
    assert solution.status[0] == "reference" and set(solution.status[1:]) == {"ok"}
    assert solution.accepted.all()


def test_a_wrong_pair_is_rejected_and_a_cut_off_frame_interpolated() -> None:
    truth = _truth(30)
    pairs = _pairs(truth)
    # One pair 5 px off: the other lags outvote it.
    wrong = pairs[20]
    shifted = wrong.matrix.copy()
    shifted[0, 2] += 5.0
    pairs[20] = PairResult(wrong.i, wrong.j, shifted, 0.9, True, wrong.searched)
    # Frame 12: every pair failed (a blank frame).
    pairs = [
        PairResult(p.i, p.j, p.matrix, 0.01, False, p.searched) if 12 in (p.i, p.j) else p
        for p in pairs
    ]
    solution = solve_series(Measurements(tuple(pairs), 30, 0), 30, SHAPE, "rigid")
    assert not solution.accepted[20]
    assert solution.status[12] == "interpolated"
    assert solution.status.count("interpolated") == 1
    good = [k for k in range(30) if k != 12]
    assert np.abs(solution.matrices[good] - truth[good]).max() < 1e-6
    # Interpolated: halfway between its neighbours' parameters.
    assert np.allclose(
        solution.matrices[12][:2, 2], (truth[11][:2, 2] + truth[13][:2, 2]) / 2, atol=0.5
    )
