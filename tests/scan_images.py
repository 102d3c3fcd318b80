"""Small synthetic scan images with OpenFlexure-style EXIF, for the input-stage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from ofs_stitch.io.exif import exif_block, insert_exif_into_jpeg

# The real camera-stage matrix quoted in REFERENCE section 1: ~3.4 motor steps per pixel, axes
# swapped (stage x moves the image along columns).
REAL_MATRIX = [[-0.00222, 3.39785], [3.406378, 0.003936]]
# A first tile's UserComment, as the stitched files' comment starts from it.
FIRST_TILE_COMMENT = {
    "stage": {"position": {"x": -2000, "y": 5000, "z": -313}},
    "camera": {"tuning": {"big": [1] * 10}, "exposure": 100},
    "camera_stage_mapping": {"image_resolution": [480, 640]},
}


def pixels(shape: tuple[int, int], seed: int = 0, noise: float = 1.0) -> np.ndarray:
    """An RGB test pattern; larger ``noise`` makes a larger (less compressible) JPEG."""
    rng = np.random.default_rng(seed)
    height, width = shape
    ramp = np.add.outer(np.arange(height), np.arange(width)).astype(float) % 256
    image = ramp[..., None] + noise * rng.normal(0, 40, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_jpeg(
    path: Path,
    shape: tuple[int, int] = (48, 64),
    comment: dict[str, Any] | str | None = None,
    date_time: str | None = None,
    seed: int = 0,
    noise: float = 1.0,
) -> Path:
    """Write a JPEG and, when given, EXIF UserComment / DateTime as OpenFlexure does."""
    pyvips.Image.new_from_array(pixels(shape, seed, noise)).write_to_file(str(path), Q=90)
    if comment is not None or date_time is not None:
        insert_exif_into_jpeg(path, exif_block(comment, date_time))
    return path


def write_png(
    path: Path,
    shape: tuple[int, int] = (48, 64),
    comment: dict[str, Any] | str | None = None,
    date_time: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a PNG, with the EXIF block in its eXIf chunk when given."""
    image = pyvips.Image.new_from_array(pixels(shape, seed))
    if comment is not None or date_time is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "exif-data", exif_block(comment, date_time))
    image.write_to_file(str(path))
    return path


def v3_comment(
    x: float, y: float, z: float = 0, matrix: Any = None, resolution: list[int] | None = None
) -> dict[str, Any]:
    """UserComment as the v3 server writes it."""
    comment: dict[str, Any] = {"stage": {"position": {"x": x, "y": y, "z": z}}}
    if matrix is not None:
        mapping: dict[str, Any] = {"image_to_stage_displacement_matrix": matrix}
        if resolution is not None:
            mapping["image_resolution"] = resolution
        comment["camera_stage_mapping"] = mapping
    return comment


def legacy_v3_comment(
    x: float, y: float, z: float = 0, matrix: Any = None, resolution: list[int] | None = None
) -> dict[str, Any]:
    """UserComment with the legacy v3 "/stage/" and "/camera_stage_mapping/" keys."""
    comment: dict[str, Any] = {"/stage/": {"position": {"x": x, "y": y, "z": z}}}
    if matrix is not None:
        mapping: dict[str, Any] = {"image_to_stage_displacement_matrix": matrix}
        if resolution is not None:
            mapping["image_resolution"] = resolution
        comment["/camera_stage_mapping/"] = mapping
    return comment


def v2_comment(
    x: float, y: float, z: float = 0, matrix: Any = None, um_per_px: float | None = None
) -> dict[str, Any]:
    """UserComment as the v2 server writes it (no calibration width: 832 is implied)."""
    extensions: dict[str, Any] = {}
    if matrix is not None:
        extensions["org.openflexure.camera_stage_mapping"] = {"image_to_stage_displacement": matrix}
    if um_per_px is not None:
        extensions["usafcal"] = {"um_per_px": um_per_px}
    return {
        "instrument": {
            "state": {"stage": {"position": {"x": x, "y": y, "z": z}}},
            "settings": {"extensions": extensions},
        }
    }
