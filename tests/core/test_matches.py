"""Registration and the pair measurement: one match type, its quality derived from its figures."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

import ofs_stitch
from ofs_stitch.core.matches import (
    Match,
    PairMeasurement,
    Registration,
    combined_quality,
)


def example(**changes: object) -> PairMeasurement:
    values: dict[str, object] = {
        "i": 3,
        "j": 4,
        "shift": (0.5, 447.25),
        "expected_shift": (0.0, 448.0),
        "pearson_r": 0.9,
        "peak_ratio": 5.0,
    }
    values.update(changes)
    return PairMeasurement(**values)


def test_quality_is_derived_from_r_and_the_peak_ratio() -> None:
    assert example().quality == combined_quality(0.9, 5.0) == 0.9 * (1 - 1 / 5.0)
    assert example(peak_ratio=1.0).quality == 0.0  # nothing distinguishes the peak
    assert example(peak_ratio=0.0, pearson_r=0.0).quality == 0.0  # a failed pair
    assert example(pearson_r=-0.4).quality == 0.0  # anti-correlated
    assert math.isnan(example(pearson_r=math.nan).quality)  # blank overlap: unknown


def test_registration_and_pair_measurement_share_the_match() -> None:
    registration = Registration((1.0, 2.0), 0.8, 4.0, True, True)
    assert isinstance(registration, Match) and isinstance(example(), Match)
    assert (registration.gaussian_fit, registration.found) == (True, True)
    assert registration.quality == combined_quality(0.8, 4.0)
    # A changed figure changes the quality with it (the registration refines its matches so).
    assert replace(registration, peak_ratio=2.0).quality == combined_quality(0.8, 2.0) == 0.4
    assert ofs_stitch.Registration is Registration
    with pytest.raises(TypeError):
        PairMeasurement((1.0, 2.0), 0.8, 4.0, 0, 1, (0.0, 0.0))  # the tiles are named


def test_stage_discrepancy_is_the_distance_to_the_prediction() -> None:
    assert example(shift=(3.0, 452.0)).stage_discrepancy == 5.0


def test_numpy_scalars_are_kept_as_plain_floats() -> None:
    np = pytest.importorskip("numpy")
    measurement = example(
        shift=np.array([0.5, 2.25], dtype=np.float32),
        expected_shift=(np.float64(1.0), np.int64(448)),
        pearson_r=np.float32(0.75),
        peak_ratio=np.float64(4.0),
    )
    numbers = [*measurement.shift, *measurement.expected_shift]
    numbers += [measurement.pearson_r, measurement.peak_ratio, measurement.quality]
    assert numbers == [0.5, 2.25, 1.0, 448.0, 0.75, 4.0, 0.75 * (1 - 1 / 4.0)]
    assert all(type(value) is float for value in numbers)
    assert type(measurement.shift) is tuple and type(measurement.expected_shift) is tuple
