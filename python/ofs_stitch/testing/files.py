"""Image files with known content and metadata, as an OpenFlexure microscope writes them.

Truth: the stage position and camera-stage calibration each file carries. The UserComment
JSON of each OpenFlexure server generation (v3, the legacy v3 keys, v2; reference section 1);
one writer for every generator's tiles (JPEG, PNG or TIFF by suffix, the EXIF block in JPEG and
PNG); and small test-pattern images carrying any metadata, for the input-stage tests.

pyvips is imported only when a file is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import exif as _exif

# A real OpenFlexure camera-stage matrix (about 3.4 motor steps per pixel, axes swapped: stage x
# moves the image along columns), as in the reference's v3 example: stage_xy = [d_row, d_col] @ M
# at 640 px wide images.
REAL_CSM_MATRIX: tuple[tuple[float, float], tuple[float, float]] = (
    (-0.00222, 3.39785),
    (3.406378, 0.003936),
)
# A first tile's UserComment with fields beyond the stage's, as the stitched files' comment
# starts from it (the stage position is dropped there, the rest kept).
FIRST_TILE_COMMENT = {
    "stage": {"position": {"x": -2000, "y": 5000, "z": -313}},
    "camera": {"tuning": {"big": [1] * 10}, "exposure": 100},
    "camera_stage_mapping": {"image_resolution": [480, 640]},
}
# openflexure-metadata assumes this calibration width for v2 files, which do not record one.
V2_CALIBRATION_WIDTH = 832
METADATA_LAYOUTS = ("v3", "legacy-v3", "v2", "none")


def _rows(matrix: Any) -> list[list[Any]]:
    """A 2x2 matrix as nested lists, as JSON holds it (readers accept nothing else)."""
    return [list(row) for row in matrix]


def v3_comment(
    x: float, y: float, z: float = 0, matrix: Any = None, resolution: list[int] | None = None
) -> dict[str, Any]:
    """UserComment as the v3 server writes it."""
    comment: dict[str, Any] = {"stage": {"position": {"x": x, "y": y, "z": z}}}
    if matrix is not None:
        mapping: dict[str, Any] = {"image_to_stage_displacement_matrix": _rows(matrix)}
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
        mapping: dict[str, Any] = {"image_to_stage_displacement_matrix": _rows(matrix)}
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
        extensions["org.openflexure.camera_stage_mapping"] = {
            "image_to_stage_displacement": _rows(matrix)
        }
    if um_per_px is not None:
        extensions["usafcal"] = {"um_per_px": um_per_px}
    return {
        "instrument": {
            "state": {"stage": {"position": {"x": x, "y": y, "z": z}}},
            "settings": {"extensions": extensions},
        }
    }


def openflexure_user_comment(
    layout: str,
    stage_xyz: Sequence[int],
    csm_matrix: np.ndarray,
    tile_shape: tuple[int, int],
    *,
    um_per_px: float | None = None,
) -> dict[str, Any] | None:
    """The UserComment a scan's tile carries in ``layout`` (one of ``METADATA_LAYOUTS``).

    ``csm_matrix`` is the matrix valid at this tile width. v3 layouts record the calibration
    resolution [h, w] (so readers do not rescale); v2 records none and readers assume 832 px,
    so the matrix written is scaled by w / 832 to make the reader's rescale land on the truth.
    """
    x, y, z = (int(v) for v in stage_xyz[:3])
    resolution = [int(tile_shape[0]), int(tile_shape[1])]
    if layout == "none":
        return None
    if layout == "v3":
        return v3_comment(x, y, z, np.asarray(csm_matrix).tolist(), resolution)
    if layout == "legacy-v3":
        return legacy_v3_comment(x, y, z, np.asarray(csm_matrix).tolist(), resolution)
    if layout == "v2":
        scaled = np.asarray(csm_matrix) * (tile_shape[1] / V2_CALIBRATION_WIDTH)
        scale = None if um_per_px is None else float(um_per_px)
        return v2_comment(x, y, z, scaled.tolist(), um_per_px=scale)
    raise InputError(f"metadata_layout {layout!r} is not one of {', '.join(METADATA_LAYOUTS)}")


def write_tile(
    path: Path, pixels: np.ndarray, *, exif: bytes | None = None, jpeg_quality: int = 90
) -> Path:
    """Write ``pixels`` (rows, cols[, bands], uint8 or uint16) as JPEG, PNG or TIFF by suffix.

    ``exif``: an EXIF block (``ofs_stitch.io.exif.exif_block``) for JPEG and PNG; libvips does
    not write EXIF into TIFF, so such tiles are located by file name only.
    """
    import pyvips

    image = pyvips.Image.new_from_array(pixels)
    if pixels.dtype == np.uint16:
        image = image.copy(interpretation="rgb16" if image.bands == 3 else "grey16")
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        image.jpegsave(str(path), Q=jpeg_quality)
        if exif is not None:
            _exif.insert_exif_into_jpeg(path, exif)
    elif suffix == ".png":
        if exif is not None:
            image = image.copy()
            image.set_type(pyvips.GValue.blob_type, "exif-data", exif)
        # Level 1 compression: 3x faster to write than the default, files 10-20 % larger.
        image.pngsave(str(path), compression=1)
    elif suffix in (".tif", ".tiff"):
        image.tiffsave(str(path))
    else:
        raise InputError(f"tile {path} must end in .jpg, .jpeg, .png, .tif or .tiff")
    return path


def pattern_pixels(shape: tuple[int, int], seed: int = 0, noise: float = 1.0) -> np.ndarray:
    """An RGB uint8 test pattern; larger ``noise`` makes a larger (less compressible) JPEG."""
    rng = np.random.default_rng(seed)
    height, width = shape
    ramp = np.add.outer(np.arange(height), np.arange(width)).astype(float) % 256
    image = ramp[..., None] + noise * rng.normal(0, 40, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image(
    path: Path,
    shape: tuple[int, int] = (48, 64),
    comment: dict[str, Any] | str | None = None,
    date_time: str | None = None,
    seed: int = 0,
    noise: float = 1.0,
) -> Path:
    """A small test-pattern JPEG or PNG (by suffix) with, when given, the EXIF UserComment and
    DateTime as OpenFlexure writes them."""
    exif = None
    if comment is not None or date_time is not None:
        exif = _exif.exif_block(comment, date_time)
    return write_tile(path, pattern_pixels(shape, seed, noise), exif=exif)
