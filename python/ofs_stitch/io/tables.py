"""Transform tables on disk: one CSV form and one JSON form of ``core.transform.TransformTable``.

Both store every number as Python's shortest repr of the float, so reading gives back the very
same table; both are written atomically. The CSV opens with ``#`` comment lines that name the
format, its version and the table's kind, and state the convention, then a header row::

    # format: ofs-stitch transforms
    # version: 1
    # kind: translation
    # ... (the convention, in words)
    id,status,quality,m00,m01,m02,m10,m11,m12
    tile_001.jpg,ok,0.83,1.0,0.0,-12.5,0.0,1.0,402.25

m00..m12 are the top two rows of the 3x3 matrix (the last is always 0, 0, 1); quality is
``nan`` where not measured. A producer may append numeric columns of its own after m12 (``ofs
stack`` adds each frame's gain and offset): `read_table_csv` reads the table and leaves them,
`read_table_csv_columns` gives them too. The JSON form holds the same under "format",
"version", "kind", "convention" and "transforms": an ``{"id", "status", "quality",
"matrix"}`` object per row, the whole 3x3 matrix on one line, a quality not measured written as
null.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.transform import KINDS, STATUSES, Kind, TableRowError, TransformTable
from ..errors import ImageReadError, InputError
from . import json_text
from .atomic import write_text_atomic

FORMAT_NAME = "ofs-stitch transforms"
FORMAT_VERSION = 1
CONVENTION = (
    "Each row holds a 3x3 homogeneous matrix M in (row, col) coordinates, as numpy indexes "
    "images. For the images a, b of a row, b[p] ~ a[M @ p]: b's pixel p shows what a shows at "
    "M @ p. For a translation M's last column is (d_row, d_col) = position_b - position_a. "
    "quality: 0..1, not measured when absent (nan, null). status: " + ", ".join(STATUSES) + "."
)
CSV_COLUMNS = ("id", "status", "quality", "m00", "m01", "m02", "m10", "m11", "m12")
_MATRIX_COLUMNS = CSV_COLUMNS[3:]
_JSON_RECORD_KEYS = {"id", "status", "quality", "matrix"}


def write_table_csv(
    path: Path | str,
    table: TransformTable,
    extra_columns: Mapping[str, Sequence[float]] | None = None,
) -> None:
    """Write ``table`` as CSV (see the module docstring); raises OutputError naming the file.

    ``extra_columns``: name -> one number per row, appended after m12 in the given order.
    """
    extra = dict(extra_columns or {})
    for name, values in extra.items():
        if name in CSV_COLUMNS or not name or "," in name or len(values) != len(table):
            raise InputError(
                f"extra column {name!r} needs a new name without commas and {len(table)} values"
            )
    text = io.StringIO()
    for line in _csv_preamble(table.kind):
        text.write(f"# {line}\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *extra])
    for number, name in enumerate(table.ids):
        top = table.matrices[number, :2].ravel()
        writer.writerow(
            [name, table.status[number], _number_text(table.quality[number])]
            + [_number_text(value) for value in top]
            + [_number_text(float(values[number])) for values in extra.values()]
        )
    write_text_atomic(path, text.getvalue())


def read_table_csv(path: Path | str) -> TransformTable:
    """Read a table written by :func:`write_table_csv` (any extra columns are left out).

    Raises ImageReadError when the file cannot be read, InputError naming the file and line
    when its content is not such a table.
    """
    return read_table_csv_columns(path)[0]


def read_table_csv_columns(path: Path | str) -> tuple[TransformTable, dict[str, np.ndarray]]:
    """The table of :func:`read_table_csv` and its extra columns (name -> float values)."""
    path = Path(path)
    lines = _read_text(path).splitlines()
    settings: dict[str, str] = {}
    number = 0
    while number < len(lines) and lines[number].startswith("#"):
        key, separator, value = lines[number][1:].partition(":")
        if separator and key.strip() in ("format", "version", "kind"):
            settings[key.strip()] = value.strip()
        number += 1
    _check_format(path, settings.get("format"), settings.get("version"), "the '# format:' line")
    kind = _kind(path, settings.get("kind"), "a '# kind:' line")
    if number == len(lines):
        raise InputError(
            f"{path} has no header row; the line after the comments must be {','.join(CSV_COLUMNS)}"
        )
    header = _csv_fields(path, number + 1, lines[number])
    extra_names = header[len(CSV_COLUMNS) :]
    if tuple(header[: len(CSV_COLUMNS)]) != CSV_COLUMNS or len(set(header)) != len(header):
        raise InputError(
            f"{path} line {number + 1}: the header row is {','.join(header)!r}; it must be "
            f"{','.join(CSV_COLUMNS)}"
        )
    ids: list[str] = []
    status: list[str] = []
    quality: list[float] = []
    matrices: list[np.ndarray] = []
    row_lines: list[int] = []
    extras: dict[str, list[float]] = {name: [] for name in extra_names}
    for line_number, line in enumerate(lines[number + 1 :], start=number + 2):
        if not line.strip():
            continue
        fields = _csv_fields(path, line_number, line)
        if len(fields) != len(header):
            raise InputError(
                f"{path} line {line_number}: {len(fields)} fields; each row needs "
                f"{len(header)} ({','.join(header)})"
            )
        values = dict(zip(header, fields, strict=True))
        where = f"{path} line {line_number}"
        matrix = np.eye(3)
        matrix[:2] = np.array(
            [_csv_float(where, column, values[column]) for column in _MATRIX_COLUMNS]
        ).reshape(2, 3)
        ids.append(values["id"])
        status.append(values["status"])
        quality.append(_csv_float(where, "quality", values["quality"], allow_nan=True))
        matrices.append(matrix)
        row_lines.append(line_number)
        for name in extra_names:
            extras[name].append(_csv_float(where, name, values[name], allow_nan=True))
    table = _table(path, ids, matrices, quality, status, kind, [f"line {n}" for n in row_lines])
    return table, {name: np.array(column) for name, column in extras.items()}


def write_table_json(path: Path | str, table: TransformTable) -> None:
    """Write ``table`` as JSON (see the module docstring); raises OutputError naming the file."""
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": table.kind,
        "convention": CONVENTION,
        "transforms": [
            {
                "id": name,
                "status": table.status[number],
                "quality": _json_quality(table.quality[number]),
                "matrix": table.matrices[number].tolist(),
            }
            for number, name in enumerate(table.ids)
        ],
    }
    write_text_atomic(path, json_text.dumps(document, allow_nan=False) + "\n")


def read_table_json(path: Path | str) -> TransformTable:
    """Read a table written by :func:`write_table_json`.

    Raises ImageReadError when the file cannot be read, InputError naming the file (and the line
    of a syntax error, or the entry at fault) when its content is not such a table.
    """
    path = Path(path)
    try:
        document = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} line {error.lineno}: not valid JSON ({error.msg}); write the table with "
            "ofs-stitch or fix that line"
        ) from error
    if not isinstance(document, dict):
        raise InputError(f"{path} holds no JSON object; it is not an ofs-stitch transform table")
    _check_format(path, document.get("format"), document.get("version"), 'the "format" key')
    kind = _kind(path, document.get("kind"), 'a "kind" key')
    records = document.get("transforms")
    if not isinstance(records, list):
        raise InputError(f'{path}: "transforms" must be a list of records; it is missing or not')
    ids: list[str] = []
    status: list[str] = []
    quality: list[float] = []
    matrices: list[np.ndarray] = []
    places: list[str] = []
    for number, record in enumerate(records):
        where = f"{path}: transforms[{number}]"
        if not isinstance(record, dict) or set(record) != _JSON_RECORD_KEYS:
            raise InputError(
                f"{where} must be an object with exactly the keys "
                f"{', '.join(sorted(_JSON_RECORD_KEYS))}"
            )
        if not isinstance(record["id"], str) or not isinstance(record["status"], str):
            raise InputError(f"{where}: id and status must be strings")
        ids.append(record["id"])
        status.append(record["status"])
        quality.append(_json_float(where, "quality", record["quality"], allow_null=True))
        matrices.append(_json_matrix(where, record["matrix"]))
        places.append(f"transforms[{number}]")
    return _table(path, ids, matrices, quality, status, kind, places)


# ------------------------------------------------------------------------------------------------


def _csv_preamble(kind: Kind) -> list[str]:
    return [
        f"format: {FORMAT_NAME}",
        f"version: {FORMAT_VERSION}",
        f"kind: {kind}",
        *textwrap.wrap(CONVENTION, 96),
        "m00..m12: the top two rows of M, row by row; its last row is 0, 0, 1.",
    ]


def _number_text(value: float) -> str:
    # repr is the shortest text that float() turns back into the same number.
    return repr(float(value))


def _json_quality(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ImageReadError(
            f"cannot read transform table {path}: {reason}; check the path"
        ) from error


def _check_format(path: Path, name: object, version: object, where: str) -> None:
    if name != FORMAT_NAME:
        raise InputError(
            f"{path} is not an ofs-stitch transform table ({where} must say {FORMAT_NAME!r})"
        )
    if str(version) != str(FORMAT_VERSION):
        raise InputError(
            f"{path} is version {version} of the transform table format; this ofs-stitch reads "
            f"version {FORMAT_VERSION}: update ofs-stitch or write the table again"
        )


def _kind(path: Path, value: object, what: str) -> Kind:
    if value not in KINDS:
        raise InputError(
            f"{path} gives the kind {value!r}; it needs {what} with one of {', '.join(KINDS)}"
        )
    return value  # type: ignore[return-value]  # checked against KINDS just above


def _csv_fields(path: Path, line_number: int, line: str) -> list[str]:
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as error:
        raise InputError(f"{path} line {line_number}: {error}; fix the quoting") from error


def _csv_float(where: str, column: str, text: str, *, allow_nan: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.inf  # reported below, as any other unusable number
    if math.isinf(value) or (math.isnan(value) and not allow_nan):
        allowed = "a finite number or nan" if allow_nan else "a finite number"
        raise InputError(f"{where}: {column} is {text!r}; give {allowed}")
    return value


def _json_float(where: str, key: str, value: Any, *, allow_null: bool = False) -> float:
    if value is None and allow_null:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        allowed = "a finite number or null" if allow_null else "a finite number"
        raise InputError(f"{where}: {key} is {value!r}; give {allowed}")
    return float(value)


def _json_matrix(where: str, value: Any) -> np.ndarray:
    if not (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(row, list) and len(row) == 3 for row in value)
    ):
        raise InputError(f"{where}: matrix must be 3 rows of 3 numbers")
    return np.array(
        [[_json_float(where, "matrix", item) for item in row] for row in value], dtype=float
    )


def _table(
    path: Path,
    ids: list[str],
    matrices: list[np.ndarray],
    quality: list[float],
    status: list[str],
    kind: Kind,
    places: list[str],
) -> TransformTable:
    """The table, or its first bad row's problem as an InputError naming the file and line."""
    try:
        return TransformTable(
            tuple(ids), np.array(matrices).reshape(-1, 3, 3), np.array(quality), tuple(status), kind
        )
    except TableRowError as error:
        raise InputError(f"{path} {places[error.row]}: {error.reason}") from error
