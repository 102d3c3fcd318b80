"""Robust spread of 2-D errors (thresholds.sigma_from_lengths) and the stage discrepancy after
the affine stage-error fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ofs_stitch.stitching.thresholds import (
    MIN_DISCREPANCY_PX,
    _affine_corrected_discrepancy,
    sigma_from_lengths,
)


@pytest.mark.parametrize("count", [1, 2, 7, 404, 405])
def test_the_spread_is_the_median_length_over_1_1774(count: int) -> None:
    lengths = np.random.default_rng(count).exponential(3.0, count)
    assert sigma_from_lengths(lengths) == pytest.approx(np.median(lengths) / 1.1774, rel=1e-12)
    assert list(lengths) == list(np.random.default_rng(count).exponential(3.0, count))  # untouched


def test_gaussian_errors_give_their_sigma_and_outliers_barely_move_it() -> None:
    errors = np.random.default_rng(5).normal(0.0, 2.0, (20_000, 2))
    lengths = np.hypot(*errors.T)
    assert sigma_from_lengths(lengths) == pytest.approx(2.0, rel=0.02)
    lengths[:2_000] = 1e6  # 10 % wild outliers
    assert sigma_from_lengths(lengths) == pytest.approx(2.0, rel=0.2)


def test_no_lengths_and_nan() -> None:
    assert sigma_from_lengths(np.array([])) == 0.0
    assert math.isnan(sigma_from_lengths(np.array([1.0, np.nan, 2.0])))


# -- the affine-corrected discrepancy against the least-squares formula it replaced ------------


def lstsq_corrected_discrepancy(
    shift: np.ndarray, expected: np.ndarray, good: np.ndarray
) -> np.ndarray:
    """The formula thresholds.py used before core.transform.fit, verbatim (numpy's lstsq on
    the design [expected_row, expected_col, 1], trimmed refits)."""
    if good.sum() < 4:
        return np.hypot(*(shift - expected).T)
    design = np.column_stack([expected, np.ones(len(expected))])
    use = good.copy()
    for _ in range(3):
        coefficients, *_ = np.linalg.lstsq(design[use], shift[use], rcond=None)
        residual = np.hypot(*(shift - design @ coefficients).T)
        limit = max(MIN_DISCREPANCY_PX, 3.0 * sigma_from_lengths(residual[use]))
        trimmed = good & (residual <= limit)
        if trimmed.sum() < 4 or (trimmed == use).all():
            break
        use = trimmed
    return residual


def grid_pairs(rng: np.random.Generator, rows: int, cols: int, stage_noise: float) -> np.ndarray:
    """Expected shifts of the horizontal and vertical neighbour pairs of a scan."""
    stage = np.array([(r * 336.0, c * 448.0) for r in range(rows) for c in range(cols)])
    stage = stage + rng.normal(0.0, stage_noise, stage.shape)
    index = np.arange(rows * cols).reshape(rows, cols)
    pairs = [(index[r, c], index[r, c + 1]) for r in range(rows) for c in range(cols - 1)]
    pairs += [(index[r, c], index[r + 1, c]) for r in range(rows - 1) for c in range(cols)]
    i, j = np.array(pairs).T
    return stage[j] - stage[i]


def measured_shifts(rng: np.random.Generator, expected: np.ndarray) -> np.ndarray:
    """A miscalibrated stage (scale and rotation), pair noise and a few gross outliers."""
    linear = np.array([[1.02, -0.03], [0.025, 0.99]])
    shift = expected @ linear.T + [2.0, -1.0] + rng.normal(0.0, 0.7, expected.shape)
    outliers = rng.random(len(expected)) < 0.1
    shift[outliers] += rng.uniform(-60.0, 60.0, (int(outliers.sum()), 2))
    return shift


@pytest.mark.parametrize("seed", range(8))
def test_the_corrected_discrepancy_is_the_old_least_squares_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    expected = grid_pairs(rng, 4, 5, stage_noise=15.0)
    shift = measured_shifts(rng, expected)
    good = rng.random(len(expected)) < 0.85
    np.testing.assert_allclose(
        _affine_corrected_discrepancy(shift, expected, good),
        lstsq_corrected_discrepancy(shift, expected, good),
        rtol=0,
        atol=1e-9,
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_grid_of_equal_steps_gives_the_old_discrepancies(seed: int) -> None:
    # Without stage noise (grid mode) the expected shifts take two values: an affine map is
    # undetermined, the old formula took lstsq's minimum-norm one, and the fit falls back to a
    # similarity. Both predict the mean measured shift of each kind of pair.
    rng = np.random.default_rng(seed)
    expected = grid_pairs(rng, 3, 4, stage_noise=0.0)
    shift = measured_shifts(rng, expected)
    good = rng.random(len(expected)) < 0.9
    ours = _affine_corrected_discrepancy(shift, expected, good)
    np.testing.assert_allclose(
        ours, lstsq_corrected_discrepancy(shift, expected, good), rtol=0, atol=1e-9
    )


def test_pairs_all_of_one_step_give_the_old_discrepancies() -> None:
    # One row of tiles on an exact grid: every expected shift is the same; the fit falls back
    # to a translation, which predicts their mean measured shift as lstsq did.
    rng = np.random.default_rng(1)
    expected = np.tile([0.0, 448.0], (9, 1))
    shift = expected + [3.0, -2.0] + rng.normal(0.0, 0.5, expected.shape)
    good = np.ones(9, dtype=bool)
    ours = _affine_corrected_discrepancy(shift, expected, good)
    np.testing.assert_allclose(
        ours, lstsq_corrected_discrepancy(shift, expected, good), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(ours, np.hypot(*(shift - shift.mean(axis=0)).T), atol=1e-9)
