"""Starting tile positions in pixels: from stage coordinates, from file names, or from a grid.

Convention (openflexure-stitching's): the camera-stage matrix M maps an image displacement in
pixels, (d_row, d_col), to a stage displacement: ``stage_xy = [d_row, d_col] @ M``. A stage
position therefore sits at ``[x, y] @ inv(M)`` pixels, (row, col).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

# Without a calibration the stage numbers are taken as pixels, x being the column.
SWAP_XY = np.array([[0.0, 1.0], [1.0, 0.0]])

GRID_ORDERS = ("raster", "snake", "column", "column-snake")

_FILE_NAME_POSITION = re.compile(r"(-?\d+)(?:_-?\d+)+$")
_GRID = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
_MATRIX_FORM = '"[[a, b], [c, d]]"'


def _as_matrix(value: object) -> np.ndarray | None:
    """A finite 2x2 float array from nested sequences of numbers, or None."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        return None
    rows = []
    for row in value:
        if not (isinstance(row, (list, tuple)) and len(row) == 2):
            return None
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in row):
            return None
        rows.append([float(v) for v in row])
    matrix = np.array(rows)
    return matrix if np.all(np.isfinite(matrix)) else None


def check_invertible(matrix: np.ndarray, source: str) -> None:
    """Raise InputError naming ``source`` when ``matrix`` cannot be inverted."""
    scale = float(np.abs(matrix).max())
    # Relative test: a matrix in motor steps and one in pixels differ by orders of magnitude.
    if scale == 0.0 or abs(float(np.linalg.det(matrix))) <= 1e-12 * scale * scale:
        raise InputError(
            f"camera-stage matrix from {source} {matrix.tolist()} is singular (cannot convert "
            f"stage positions to pixels): give a calibrated one with --csm_matrix {_MATRIX_FORM}"
        )


def parse_csm_matrix(text: str) -> np.ndarray:
    """Parse a ``--csm_matrix`` value like ``"[[0, 3.4], [3.4, 0]]"``; InputError if malformed."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = None
    matrix = _as_matrix(value)
    if matrix is None:
        raise InputError(
            f"--csm_matrix {text!r} is not a 2x2 matrix of numbers: give it as {_MATRIX_FORM}"
        )
    check_invertible(matrix, "--csm_matrix")
    return matrix


def check_calibration_width(width: float | None) -> None:
    """Reject a negative ``--csm_calibration_width`` (None = not given, 0 = do not rescale)."""
    if width is not None and not width >= 0:
        raise InputError(
            f"--csm_calibration_width {width} is negative: give the width in pixels of the "
            "calibration images, or 0 to leave the matrix unscaled"
        )


def resolve_camera_matrix(
    image_width: int,
    file_matrix: np.ndarray | None = None,
    file_calibration_width: int | None = None,
    override_matrix: np.ndarray | None = None,
    override_calibration_width: int | None = None,
) -> np.ndarray:
    """The camera-stage matrix for images ``image_width`` pixels wide: ``M * w_c / w``.

    ``override_matrix`` (--csm_matrix) replaces the file's matrix and, as upstream does, is
    taken as calibrated at the image width unless ``override_calibration_width`` says otherwise.
    ``override_calibration_width`` (--csm_calibration_width) replaces the calibration width;
    0 means "do not rescale". Without any matrix the stage numbers are pixels (SWAP_XY).
    """
    check_calibration_width(override_calibration_width)
    if override_matrix is not None:
        matrix, calibration_width = override_matrix, None
    elif file_matrix is not None:
        matrix, calibration_width = file_matrix, file_calibration_width
    else:
        matrix, calibration_width = SWAP_XY, None
    if override_calibration_width is not None:
        calibration_width = override_calibration_width or None
    used = np.asarray(matrix, dtype=float)
    if calibration_width:
        used = used * (calibration_width / image_width)
    return used


def stage_to_pixels(
    stage_xy: np.ndarray | Sequence[Sequence[float]],
    matrix: np.ndarray,
    source: str = "the image metadata",
) -> np.ndarray:
    """(n, 2) stage (x, y) -> (n, 2) pixel (row, col) through ``inv(matrix)``."""
    check_invertible(matrix, source)
    return np.asarray(stage_xy, dtype=float).reshape(-1, 2) @ np.linalg.inv(matrix)


def position_from_file_name(stem: str) -> tuple[int, int] | None:
    """(x, y) from a name ending in ``x_y`` or ``x_y_z``, or None.

    ``img_-2114_-6466_-314`` gives (-2114, -6466): the first two of the trailing integers.
    """
    match = _FILE_NAME_POSITION.search(stem)
    if match is None:
        return None
    numbers = [int(part) for part in match.group(0).split("_")]
    return numbers[0], numbers[1]


def parse_grid(text: str) -> tuple[int, int]:
    """Parse ``--grid ROWSxCOLS`` (e.g. ``"4x5"``) into (rows, cols)."""
    match = _GRID.match(text)
    if match is None:
        raise InputError(f"--grid {text!r} is not ROWSxCOLS: give it as e.g. --grid 4x5")
    rows, cols = int(match.group(1)), int(match.group(2))
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise InputError(f"--grid {text!r} must have at least 1 row, 1 column and 2 tiles")
    return rows, cols


def grid_cell(index: int, rows: int, cols: int, order: str) -> tuple[int, int]:
    """(grid row, grid column) of the ``index``-th file for the acquisition ``order``."""
    if order in ("raster", "snake"):
        row, col = divmod(index, cols)
        if order == "snake" and row % 2 == 1:
            col = cols - 1 - col
    elif order in ("column", "column-snake"):
        col, row = divmod(index, rows)
        if order == "column-snake" and col % 2 == 1:
            row = rows - 1 - row
    else:
        raise InputError(f"--order {order!r} is unknown: use one of {', '.join(GRID_ORDERS)}")
    return row, col


def grid_positions(
    n_files: int,
    rows: int,
    cols: int,
    tile_shape: tuple[int, int],
    overlap: float,
    order: str = "raster",
) -> np.ndarray:
    """(n, 2) (row, col) pixel positions of a regular grid, first file at the top left.

    The pitch is the tile size times (1 - overlap); files are taken in the given ``order``:
    raster (rows, left to right), snake (rows, alternating direction), column (columns, top to
    bottom) or column-snake.
    """
    if order not in GRID_ORDERS:
        raise InputError(f"--order {order!r} is unknown: use one of {', '.join(GRID_ORDERS)}")
    if not 0.0 <= overlap < 1.0:
        raise InputError(
            f"--overlap {overlap} is out of range: give the overlap of neighbouring tiles as "
            "a fraction of the tile size, from 0 up to (not including) 1"
        )
    if n_files != rows * cols:
        raise InputError(
            f"--grid {rows}x{cols} needs {rows * cols} images but the folder has {n_files}: "
            "fix --grid or the folder's contents"
        )
    pitch = np.array(tile_shape, dtype=float) * (1.0 - overlap)
    cells = np.array([grid_cell(i, rows, cols, order) for i in range(n_files)], dtype=float)
    return cells.reshape(-1, 2) * pitch
