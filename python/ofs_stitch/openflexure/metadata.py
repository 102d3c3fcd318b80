"""The OpenFlexure UserComment JSON: stage position, camera-stage matrix, calibration width,
and the comment a stitched mosaic carries.

Three server generations store the same quantities under different key paths. Each quantity is
looked up independently, trying the layouts in order (v3 server, legacy v3, v2 server); the
first path that is present wins, exactly as openflexure-metadata 0.1.0 does, so a scan gives the
same positions here as upstream.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# v2 servers never recorded the calibration image width; their camera-stage mapping was always
# calibrated on 832-pixel-wide frames, which upstream assumes whenever a matrix is present.
V2_CALIBRATION_WIDTH = 832
STITCHED_NOTE = "Stitched by OpenFlexure Stitching"

_POSITION_PATHS: tuple[tuple[Any, ...], ...] = (
    ("stage", "position"),
    ("/stage/", "position"),
    ("instrument", "state", "stage", "position"),
)
_MATRIX_PATHS: tuple[tuple[Any, ...], ...] = (
    ("camera_stage_mapping", "image_to_stage_displacement_matrix"),
    ("/camera_stage_mapping/", "image_to_stage_displacement_matrix"),
    (
        "instrument",
        "settings",
        "extensions",
        "org.openflexure.camera_stage_mapping",
        "image_to_stage_displacement",
    ),
)
# image_resolution is [height, width].
_CALIBRATION_WIDTH_PATHS: tuple[tuple[Any, ...], ...] = (
    ("camera_stage_mapping", "image_resolution", 1),
    ("/camera_stage_mapping/", "image_resolution", 1),
)
_PIXEL_SIZE_PATH: tuple[Any, ...] = ("instrument", "settings", "extensions", "usafcal", "um_per_px")

Matrix2x2 = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class StageMetadata:
    """What one image's UserComment says about where it was taken. Missing pieces are None."""

    # Stage coordinates (x, y) or (x, y, z) in motor steps.
    position: tuple[float, ...] | None = None
    # image_to_stage_displacement matrix M: stage_xy = [d_row, d_col] @ M.
    csm_matrix: Matrix2x2 | None = None
    # Width in pixels of the images the matrix was calibrated on.
    calibration_width: int | None = None
    pixel_size_um: float | None = None
    # (quantity, description) for key paths that were present but held something unusable;
    # quantity is "position", "csm_matrix" or "calibration_width".
    problems: tuple[tuple[str, str], ...] = ()

    def problem(self, quantity: str) -> str | None:
        """The description of what was wrong with ``quantity``, or None if nothing was."""
        return next((text for name, text in self.problems if name == quantity), None)


def _get_path(tree: Any, path: tuple[Any, ...]) -> Any:
    value = tree
    for key in path:
        if isinstance(value, dict) and isinstance(key, str):
            if key not in value:
                return None
        elif not (
            isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value)
        ):
            return None
        value = value[key]
    return value


def _first_present(tree: dict[str, Any], paths: tuple[tuple[Any, ...], ...]) -> tuple[Any, str]:
    for path in paths:
        value = _get_path(tree, path)
        if value is not None:
            return value, ".".join(str(key) for key in path)
    return None, ""


def _finite_number(value: Any) -> float | None:
    # bool is an int subclass; true/false in JSON is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _parse_position(value: Any) -> tuple[float, ...] | None:
    if not isinstance(value, dict):
        return None
    x, y = _finite_number(value.get("x")), _finite_number(value.get("y"))
    if x is None or y is None:
        return None
    z = _finite_number(value.get("z"))
    return (x, y) if z is None else (x, y, z)


def _parse_matrix(value: Any) -> Matrix2x2 | None:
    if not (isinstance(value, list) and len(value) == 2):
        return None
    rows = []
    for row in value:
        if not (isinstance(row, list) and len(row) == 2):
            return None
        a, b = _finite_number(row[0]), _finite_number(row[1])
        if a is None or b is None:
            return None
        rows.append((a, b))
    return (rows[0], rows[1])


def parse_stage_metadata(user_comment: dict[str, Any] | None) -> StageMetadata:
    """Extract the stage metadata from a parsed OpenFlexure UserComment (None gives all-None)."""
    if not user_comment:
        return StageMetadata()
    problems: list[tuple[str, str]] = []

    raw_position, where = _first_present(user_comment, _POSITION_PATHS)
    position = _parse_position(raw_position)
    if raw_position is not None and position is None:
        problems.append(("position", f"{where} is not {{x: number, y: number}}"))

    raw_matrix, where = _first_present(user_comment, _MATRIX_PATHS)
    matrix = _parse_matrix(raw_matrix)
    if raw_matrix is not None and matrix is None:
        problems.append(("csm_matrix", f"{where} is not a 2x2 matrix of numbers"))

    raw_width, where = _first_present(user_comment, _CALIBRATION_WIDTH_PATHS)
    width_value = _finite_number(raw_width)
    calibration_width = int(width_value) if width_value is not None and width_value > 0 else None
    if raw_width is not None and calibration_width is None:
        problems.append(("calibration_width", f"{where} is not a positive width"))
    if raw_width is None and matrix is not None:
        calibration_width = V2_CALIBRATION_WIDTH

    pixel_size = _finite_number(_get_path(user_comment, _PIXEL_SIZE_PATH))
    return StageMetadata(
        position=position,
        csm_matrix=matrix,
        calibration_width=calibration_width,
        pixel_size_um=pixel_size if pixel_size is not None and pixel_size > 0 else None,
        problems=tuple(problems),
    )


def stitched_user_comment(first_tile_metadata: Mapping[str, Any] | None, n_images: int) -> dict:
    """UserComment JSON for stitched JPEGs: the first tile's, without the stage position (it
    is not the mosaic's) or the bulky camera tuning, plus a note and the number of images."""
    comment = {
        k: v for k, v in (first_tile_metadata or {}).items() if k not in ("stage", "/stage/")
    }
    for camera_key in ("camera", "/camera/"):
        camera = comment.get(camera_key)
        if isinstance(camera, dict) and "tuning" in camera:
            comment[camera_key] = {k: v for k, v in camera.items() if k != "tuning"}
    comment["Notes"] = STITCHED_NOTE
    comment["NumberOfImages"] = int(n_images)
    return comment
