"""The drift table: one transform per frame, and its file form ``drift.csv``.

Convention: frame t's transform maps reference pixel coordinates to frame coordinates,

    p_frame = scale * R(angle) (p_ref - c) + c + (d_row, d_col)

with ``c = ((rows - 1) / 2, (cols - 1) / 2)`` and ``R(t) = [[cos t, -sin t], [sin t, cos t]]``
acting on (row, col) vectors. As a 3x3 matrix M_t (``core.transform``'s (row, col) convention)
``reference[p] ~ frame_t[M_t @ p]``: warping frame t by M_t (``core.warp``: out[p] =
image[M @ p]) aligns it with the reference. The parameters about the centre c, rather than the
matrix's last column, keep d_row, d_col the drift of the image's middle: a rotation about the
corner would move it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.transform import STATUSES, Kind, Transform, TransformTable
from ..errors import ImageReadError, InputError
from ..io.atomic import write_text_atomic

MODELS: tuple[Kind, ...] = ("translation", "rigid", "similarity")
CSV_COLUMNS = ("frame", "file", "d_row", "d_col", "angle_deg", "scale", "quality", "status")
FORMAT_LINE = "ofs drift table, version 1"
CONVENTION_LINES = (
    "p_frame = scale * R(angle) (p_ref - c) + c + (d_row, d_col): the map from reference pixel",
    "coordinates to frame coordinates, with c = ((rows - 1) / 2, (cols - 1) / 2) and",
    "R(t) = [[cos t, -sin t], [sin t, cos t]] acting on (row, col) vectors (row down, col right;",
    "a positive angle turns the row axis towards the column axis). Warping frame t so that",
    "out[p] = frame[p_frame(p)] aligns it with the reference.",
    "quality: 0..1 (median Pearson r of the frame's accepted pairs), nan where not measured.",
    "status: reference, ok, flagged (measured, doubtful), interpolated (unreliable: taken from",
    "its neighbouring frames).",
)


@dataclass(frozen=True)
class DriftTable:
    """Per-frame drift: ``transforms`` (ids = frame names, one M_t per frame, quality, status)
    for frames of ``shape`` (rows, cols), measured with ``model``."""

    transforms: TransformTable
    shape: tuple[int, int]
    model: Kind

    def __len__(self) -> int:
        return len(self.transforms)

    @property
    def matrices(self) -> np.ndarray:
        return self.transforms.matrices

    @property
    def status(self) -> tuple[str, ...]:
        return self.transforms.status

    def parameters(self) -> np.ndarray:
        """(n, 4): d_row, d_col, angle_deg, scale per frame (module docstring)."""
        return np.array([parameters(m, self.shape) for m in self.matrices]).reshape(-1, 4)


def centre(shape: tuple[int, int]) -> np.ndarray:
    return np.array([(shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0])


def parameters(matrix: np.ndarray, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """(d_row, d_col, angle_deg, scale) of a 3x3 matrix about the centre of ``shape``."""
    transform = Transform(np.asarray(matrix, dtype=float), "affine")
    c = centre(shape)
    d = transform.apply(c[np.newaxis])[0] - c
    return (float(d[0]), float(d[1]), transform.angle_deg, transform.scale)


def matrix_from_parameters(
    d_row: float, d_col: float, angle_deg: float, scale: float, shape: tuple[int, int]
) -> np.ndarray:
    return Transform.similarity(angle_deg, scale, (d_row, d_col), centre(shape)).matrix.copy()


def write_drift_csv(path: Path | str, table: DriftTable) -> None:
    """``drift.csv``: comment lines (format, model, frame shape, the convention), a header row,
    then one row per frame. Numbers keep Python's shortest repr, so reading gives them back."""
    text = io.StringIO()
    text.write(f"# {FORMAT_LINE}\n# model: {table.model}\n")
    text.write(f"# frame_shape: {table.shape[0]} x {table.shape[1]} (rows x cols)\n")
    for line in CONVENTION_LINES:
        text.write(f"# {line}\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, (name, row) in enumerate(
        zip(table.transforms.ids, table.parameters(), strict=True)
    ):
        quality = table.transforms.quality[number]
        writer.writerow(
            [number, name, *(repr(float(v)) for v in row)]
            + ["nan" if math.isnan(quality) else repr(float(quality)), table.status[number]]
        )
    write_text_atomic(path, text.getvalue())


def read_drift_csv(path: Path | str) -> DriftTable:
    """Read a table written by `write_drift_csv`. Raises ImageReadError when the file cannot be
    read, InputError naming the file and line when it is not a drift table."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ImageReadError(
            f"cannot read the drift table {path}: {getattr(error, 'strerror', None) or error}; "
            "give the drift.csv an earlier run of ofs drift wrote"
        ) from None
    settings: dict[str, str] = {}
    number = 0
    while number < len(lines) and lines[number].startswith("#"):
        key, separator, value = lines[number][1:].partition(":")
        if separator:
            settings[key.strip()] = value.strip()
        number += 1
    if not lines or lines[0] != f"# {FORMAT_LINE}":
        raise InputError(
            f"{path} is not a drift table (its first line must be '# {FORMAT_LINE}'); give the "
            "drift.csv an earlier run of ofs drift wrote"
        )
    model = settings.get("model", "")
    if model not in MODELS:
        raise InputError(f"{path}: '# model:' is {model!r}; it must be one of {', '.join(MODELS)}")
    try:
        rows_text, cols_text = settings["frame_shape"].split("(")[0].split("x")
        shape = (int(rows_text), int(cols_text))
    except (KeyError, ValueError):
        raise InputError(f"{path}: no valid '# frame_shape: ROWS x COLS' line") from None
    if number >= len(lines) or tuple(lines[number].split(",")) != CSV_COLUMNS:
        raise InputError(
            f"{path} line {number + 1}: the header row must be {','.join(CSV_COLUMNS)}"
        )
    ids: list[str] = []
    matrices: list[np.ndarray] = []
    quality: list[float] = []
    status: list[str] = []
    for line_number, fields in enumerate(csv.reader(lines[number + 1 :]), start=number + 2):
        if not fields:
            continue
        if len(fields) != len(CSV_COLUMNS):
            raise InputError(
                f"{path} line {line_number}: {len(fields)} fields; each row needs "
                f"{len(CSV_COLUMNS)} ({','.join(CSV_COLUMNS)})"
            )
        values = dict(zip(CSV_COLUMNS, fields, strict=True))
        try:
            d_row, d_col, angle, scale, q = (
                float(values[k]) for k in ("d_row", "d_col", "angle_deg", "scale", "quality")
            )
            frame = int(values["frame"])
        except ValueError:
            raise InputError(f"{path} line {line_number}: a number does not parse") from None
        if frame != len(ids):
            raise InputError(
                f"{path} line {line_number}: frame {frame} where {len(ids)} was expected; "
                "rows must be in frame order from 0"
            )
        if not all(math.isfinite(v) for v in (d_row, d_col, angle, scale)) or scale <= 0:
            raise InputError(
                f"{path} line {line_number}: d_row, d_col, angle_deg and scale must be finite, "
                "scale > 0"
            )
        if values["status"] not in STATUSES:
            raise InputError(
                f"{path} line {line_number}: status {values['status']!r}; use one of "
                f"{', '.join(STATUSES)}"
            )
        ids.append(values["file"])
        matrices.append(matrix_from_parameters(d_row, d_col, angle, scale, shape))
        quality.append(q)
        status.append(values["status"])
    if not ids:
        raise InputError(f"{path} holds no frames; give the drift.csv an earlier run wrote")
    transforms = TransformTable(
        ids=tuple(ids),
        matrices=np.array(matrices),
        quality=np.array(quality),
        status=tuple(status),
        kind="affine",
    )
    return DriftTable(transforms=_narrowed(transforms, model), shape=shape, model=model)  # type: ignore[arg-type]


def _narrowed(table: TransformTable, model: str) -> TransformTable:
    """The table with the kind its model promises, where the matrices (rounded through text)
    still are of it; else kept as read (a rigid table whose scale column was edited)."""
    for kind in (model, "similarity", "affine"):
        try:
            return TransformTable(table.ids, table.matrices, table.quality, table.status, kind)  # type: ignore[arg-type]
        except InputError:
            continue
    return table
