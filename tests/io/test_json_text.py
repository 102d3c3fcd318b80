"""json_text: the same data as json.dumps, laid out one record per line."""

from __future__ import annotations

import json
import math

import pytest

from ofs_stitch.io import json_text

RECORDS = {
    "format": "test",
    "matrix": [[1.0, 2.5], [-3.0, 4e-9]],
    "mapping": {"matrix": [[1, 2], [3, 4]], "note": "nested three deep"},
    "tiles": [
        {"index": k, "name": f"tile é {k}.jpg", "position_px": {"row": k / 3, "col": -k}}
        for k in range(4)
    ],
    "empty_list": [],
    "empty_dict": {},
    "flags": [True, False, None],
    "pairs": [{"i": 0, "j": 1, "shift": (1.5, 2.0)}],
}


@pytest.mark.parametrize(
    "value",
    [
        RECORDS,
        {"runs": [{"settings": {"a": 1}, "pairs": [{"a": "x", "shift": [0.1, 0.2]}] * 3}]},
        {"files": {f"f{k}.jpg": {"size": k, "mtime_ns": 10**18 + k} for k in range(40)}},
        [[[[1]]], [], {}],
        [],
        {},
        "just a string",
        3.25,
        None,
    ],
)
def test_the_data_is_what_json_dumps_writes(value: object) -> None:
    assert json.loads(json_text.dumps(value)) == json.loads(json.dumps(value))


def test_records_are_one_line_each() -> None:
    lines = json_text.dumps(RECORDS).splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    tile_lines = [line for line in lines if line.lstrip().startswith('{"index"')]
    assert len(tile_lines) == 4
    for k, line in enumerate(tile_lines):
        assert json.loads(line.strip().rstrip(","))["index"] == k
        assert line.startswith("  {")  # indented one space per level
    # Flat or shallow values stay on their key's line.
    assert ' "matrix": [[1.0, 2.5], [-3.0, 4e-09]],' in lines
    assert ' "empty_list": [],' in lines
    # Nested three levels deep: spread.
    assert ' "mapping": {' in lines and '  "matrix": [[1, 2], [3, 4]],' in lines


def test_many_flat_records_are_spread() -> None:
    files = {f"f{k}.jpg": {"size": k} for k in range(json_text.MAX_CONTAINERS_ON_ONE_LINE + 1)}
    few = {f"f{k}.jpg": {"size": k} for k in range(3)}
    text = json_text.dumps({"files": files, "few": few})
    assert '  "f0.jpg": {"size": 0},' in text.splitlines()
    assert ' "few": {"f0.jpg": {"size": 0}, "f1.jpg": {"size": 1}, "f2.jpg": {"size": 2}}' in (
        text.splitlines()
    )


def test_non_finite_numbers_follow_allow_nan() -> None:
    value = {"records": [{"r": [math.nan, 1.0]}, {"r": [math.inf, 2.0]}]}
    assert math.isnan(json.loads(json_text.dumps(value))["records"][0]["r"][0])
    with pytest.raises(ValueError, match="JSON compliant"):
        json_text.dumps(value, allow_nan=False)


def test_keys_must_be_strings() -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        json_text.dumps({1: [{"a": [1]}]})


def test_encoded_records_are_written_as_the_records_would_be() -> None:
    pairs = [{"a": f"t{k}.jpg", "shift": [k / 3, -k], "quality": math.nan} for k in range(3)]
    for records in (pairs, []):
        document = {"runs": [{"settings": {"x": 1}, "pairs": records}], "version": 1}
        encoded = {
            "runs": [
                {
                    "settings": {"x": 1},
                    "pairs": json_text.EncodedRecords(json_text.record_text(r) for r in records),
                }
            ],
            "version": 1,
        }
        assert json_text.dumps(encoded) == json_text.dumps(document)
