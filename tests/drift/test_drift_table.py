"""drift.csv: the convention's parameters, and the file read back exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ofs_stitch.core.transform import TransformTable
from ofs_stitch.drift.table import (
    DriftTable,
    matrix_from_parameters,
    parameters,
    read_drift_csv,
    write_drift_csv,
)
from ofs_stitch.errors import InputError


def test_parameters_follow_the_documented_formula() -> None:
    shape = (101, 60)
    d, angle, scale = (3.25, -1.5), 1.2, 1.01
    matrix = matrix_from_parameters(d[0], d[1], angle, scale, shape)
    c = np.array([50.0, 29.5])
    t = math.radians(angle)
    rotation = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    p_ref = np.array([7.0, 41.0])
    expected = scale * rotation @ (p_ref - c) + c + np.array(d)
    assert np.allclose(matrix[:2, :2] @ p_ref + matrix[:2, 2], expected, atol=1e-12)
    assert np.allclose(parameters(matrix, shape), (*d, angle, scale), atol=1e-12)


def _table(model: str = "rigid") -> DriftTable:
    shape = (64, 80)
    matrices = [matrix_from_parameters(0.1 * k, -0.3 * k, 0.05 * k, 1.0, shape) for k in range(4)]
    transforms = TransformTable(
        ids=("a1.tif", "a2.tif", "a3.tif", "a10.tif"),
        matrices=np.array(matrices),
        quality=np.array([math.nan, 0.9, 0.8, 0.7]),
        status=("reference", "ok", "interpolated", "flagged"),
        kind="rigid",
    )
    return DriftTable(transforms, shape, model)  # type: ignore[arg-type]


def test_drift_csv_round_trip_and_header(tmp_path) -> None:
    table = _table()
    path = tmp_path / "drift.csv"
    write_drift_csv(path, table)
    text = path.read_text()
    assert "p_frame = scale * R(angle) (p_ref - c) + c + (d_row, d_col)" in text
    assert "frame,file,d_row,d_col,angle_deg,scale,quality,status\n" in text
    back = read_drift_csv(path)
    assert back.shape == table.shape and back.model == "rigid"
    assert back.transforms.ids == table.transforms.ids
    assert back.status == table.status
    assert np.allclose(back.matrices, table.matrices, atol=1e-12)
    assert np.array_equal(back.transforms.quality, table.transforms.quality, equal_nan=True)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.replace("# ofs drift table, version 1", "# something else"),
            "not a drift table",
        ),
        (lambda t: t.replace("reference\n", "sideways\n"), "status"),
        (lambda t: t.replace("\n1,a2.tif", "\n7,a2.tif"), "frame order"),
        (lambda t: t.replace("a2.tif,", "a2.tif,x,"), "fields"),
    ],
)
def test_broken_tables_are_named(tmp_path, edit, message) -> None:
    path = tmp_path / "drift.csv"
    write_drift_csv(path, _table())
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError, match=message):
        read_drift_csv(path)
