"""Robust spread of 2-D errors (thresholds.sigma_from_lengths)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ofs_stitch.stitching.thresholds import sigma_from_lengths


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
