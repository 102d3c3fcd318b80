"""The pair measurement and its one JSON record: round trips, derived quality, damaged records."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import FrozenInstanceError, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ofs_stitch
from ofs_stitch.core.matches import (
    Match,
    MeasurementRecordError,
    PairMeasurement,
    Registration,
    combined_quality,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)
tile = st.integers(min_value=0, max_value=2**40)


def measurements(numbers: st.SearchStrategy[float]) -> st.SearchStrategy[PairMeasurement]:
    return st.builds(
        PairMeasurement,
        i=tile,
        j=tile,
        shift=st.tuples(numbers, numbers),
        expected_shift=st.tuples(numbers, numbers),
        pearson_r=numbers,
        peak_ratio=numbers,
    )


def figures(measurement: PairMeasurement) -> list[object]:
    """Every number a measurement holds, NaN made comparable (NaN != NaN)."""
    values = [
        *measurement.shift,
        *measurement.expected_shift,
        measurement.pearson_r,
        measurement.peak_ratio,
        measurement.quality,
    ]
    return [value if not math.isnan(value) else "nan" for value in values]


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


@given(measurements(finite))
def test_a_record_decodes_to_the_measurement_it_encodes(measurement: PairMeasurement) -> None:
    record = measurement.to_json()
    assert list(record) == ["shift", "expected_shift", "pearson_r", "peak_ratio", "quality"]
    decoded = PairMeasurement.from_json(record, i=measurement.i, j=measurement.j)
    assert decoded == measurement
    assert decoded.quality == measurement.quality == record["quality"]


@given(measurements(any_float))
def test_every_figure_survives_json_text_including_nan_and_infinity(
    measurement: PairMeasurement,
) -> None:
    text = json.dumps(measurement.to_json())  # Python's JSON keeps NaN and infinities
    decoded = PairMeasurement.from_json(json.loads(text), i=measurement.i, j=measurement.j)
    assert (decoded.i, decoded.j) == (measurement.i, measurement.j)
    assert figures(decoded) == figures(measurement)


@given(measurements(finite))
def test_swapping_twice_gives_the_measurement_back(measurement: PairMeasurement) -> None:
    swapped = measurement.swapped()
    assert (swapped.i, swapped.j) == (measurement.j, measurement.i)
    assert swapped.shift == (-measurement.shift[0], -measurement.shift[1])
    assert swapped.expected_shift == (
        -measurement.expected_shift[0],
        -measurement.expected_shift[1],
    )
    assert (swapped.pearson_r, swapped.peak_ratio) == (
        measurement.pearson_r,
        measurement.peak_ratio,
    )
    assert swapped.swapped() == measurement
    # A new object of the same kind, with the quality it was made with.
    assert swapped is not measurement and type(swapped) is PairMeasurement
    assert swapped.quality == measurement.quality  # not compared by ==
    with pytest.raises(FrozenInstanceError):
        swapped.i = 0  # type: ignore[misc]


@given(measurements(finite), st.integers(0, 10_000), st.integers(0, 10_000))
def test_renumbering_changes_only_the_tile_numbers(
    measurement: PairMeasurement, i: int, j: int
) -> None:
    numbers = (measurement.i, measurement.j)
    renumbered = measurement.renumbered(i, j)
    assert renumbered == replace(measurement, i=i, j=j)
    assert renumbered.quality == measurement.quality  # not compared by ==
    assert (measurement.i, measurement.j) == numbers  # the original is left as it was
    with pytest.raises(FrozenInstanceError):
        renumbered.i = 0  # type: ignore[misc]


def test_the_files_name_the_tiles_first() -> None:
    record = example().to_json(a="img_3.jpg", b="img_4.jpg")
    assert list(record) == [
        "a",
        "b",
        "shift",
        "expected_shift",
        "pearson_r",
        "peak_ratio",
        "quality",
    ]
    assert (record["a"], record["b"], record["shift"]) == ("img_3.jpg", "img_4.jpg", [0.5, 447.25])
    assert PairMeasurement.from_json(record, i=3, j=4) == example()


def test_numpy_scalars_are_kept_and_written_as_plain_floats() -> None:
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
    record = measurement.to_json()
    assert json.loads(json.dumps(record)) == record  # a float32 would make dumps raise


def test_quality_is_derived_from_r_and_the_peak_ratio() -> None:
    assert example().quality == combined_quality(0.9, 5.0) == 0.9 * (1 - 1 / 5.0)
    assert example(peak_ratio=1.0).quality == 0.0  # nothing distinguishes the peak
    assert example(peak_ratio=0.0, pearson_r=0.0).quality == 0.0  # a failed pair
    assert example(pearson_r=-0.4).quality == 0.0  # anti-correlated
    assert math.isnan(example(pearson_r=math.nan).quality)  # blank overlap: unknown
    # A stored quality is checked for type but not read: it cannot disagree with r.
    record = {**example().to_json(), "quality": 0.123}
    assert PairMeasurement.from_json(record, i=3, j=4).quality == example().quality


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


@pytest.mark.parametrize(
    "change, words",
    [
        ({"shift": ["x", 1]}, "'shift' must be a list of two numbers [d_row, d_col], not ['x', 1]"),
        ({"shift": [1.0, 2.0, 3.0]}, "'shift' must be a list of two numbers"),
        ({"shift": None}, "'shift' must be a list of two numbers"),
        ({"expected_shift": {"row": 1}}, "'expected_shift' must be a list of two numbers"),
        ({"expected_shift": [True, 0.0]}, "'expected_shift' must be a list of two numbers"),
        ({"pearson_r": "0.9"}, "'pearson_r' must be a number, not '0.9'"),
        ({"peak_ratio": False}, "'peak_ratio' must be a number, not False"),
        ({"quality": [0.5]}, "'quality' must be a number, not [0.5]"),
        ({"pearson_r": "x" * 100}, "not '" + "x" * 36 + "..."),
    ],
)
def test_a_damaged_record_says_which_entry_is_wrong(change: dict[str, object], words: str) -> None:
    record = {**example().to_json(), **change}
    with pytest.raises(MeasurementRecordError) as raised:
        PairMeasurement.from_json(record, i=3, j=4)
    assert words in str(raised.value)


@pytest.mark.parametrize("key", ["shift", "expected_shift", "pearson_r", "peak_ratio", "quality"])
def test_a_missing_entry_is_named(key: str) -> None:
    record = example().to_json()
    del record[key]
    with pytest.raises(MeasurementRecordError, match=f"^'{key}' is missing$"):
        PairMeasurement.from_json(record, i=3, j=4)


@pytest.mark.parametrize(
    "i, j, words",
    [
        (None, 4, "'i' must be a tile index (an integer >= 0), not None"),
        (3, -1, "'j' must be a tile index (an integer >= 0), not -1"),
        (True, 4, "'i' must be a tile index"),
        (3, 4.0, "'j' must be a tile index"),
    ],
)
def test_tile_indices_are_checked(i: object, j: object, words: str) -> None:
    with pytest.raises(MeasurementRecordError) as raised:
        PairMeasurement.from_json(example().to_json(), i=i, j=j)
    assert words in str(raised.value)


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MeasurementRecordError, match="must be a JSON object, not \\[0.5, 447.0\\]"):
        PairMeasurement.from_json([0.5, 447.0], i=0, j=1)
    assert issubclass(MeasurementRecordError, ValueError)


def test_matches_loads_without_numpy() -> None:
    # The plot helper decodes measurements before it loads numpy (see cli/command.py).
    script = (
        "import sys, ofs_stitch.core.matches as m; "
        "m.PairMeasurement.from_json({'shift': [1, 2], 'expected_shift': [1, 2], "
        "'pearson_r': 0.5, 'peak_ratio': 3, 'quality': 0.3}, i=0, j=1); "
        "print('numpy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_an_unmeasured_pair_is_no_evidence_at_the_stage_prediction() -> None:
    from ofs_stitch.core.matches import CandidatePair, PairMeasurement

    pair = CandidatePair(i=3, j=7, expected_shift=(12.5, -4.0), overlap_fraction=0.2)
    unmeasured = PairMeasurement.unmeasured(pair)
    assert (unmeasured.i, unmeasured.j) == (3, 7)
    assert unmeasured.shift == unmeasured.expected_shift == (12.5, -4.0)
    assert unmeasured.quality == 0.0 and unmeasured.stage_discrepancy == 0.0
