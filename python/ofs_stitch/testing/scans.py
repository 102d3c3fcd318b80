"""Tile scans with exactly known positions, as an OpenFlexure microscope writes them.

Truth: every tile's true position (sub-pixel, exact), what the stage reported for it (with
Gaussian noise, in whole motor steps, through a camera-to-stage matrix) and which tiles show
no sample (``SyntheticScan``, saved beside the tiles as ``ground_truth.json``). Tiles sit on a
raster grid with sub-pixel jitter, in snake or raster capture order, and are photographed from
one scene (``testing.scene``, ``testing.camera``): any two tiles are exact band-limited shifts of
each other before noise. The files carry OpenFlexure metadata in one of its historical layouts
(``testing.files``). Strips are one-row scans; tiles in memory are ``testing.grids``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import exif as _exif
from .camera import (
    canvas_covering,
    channels_last,
    check_blur,
    photograph,
    quantise,
    vignetting_gain,
)
from .files import METADATA_LAYOUTS, REAL_CSM_MATRIX, openflexure_user_comment, write_tile
from .scene import SAMPLING_MARGIN, blur_margin

GROUND_TRUTH_NAME = "ground_truth.json"
FILE_EXTENSIONS = {"jpeg": ".jpeg", "png": ".png", "tiff": ".tiff"}
_FIRST_CAPTURE = _dt.datetime(2024, 5, 17, 10, 0, 0)
_SECONDS_PER_CAPTURE = 2  # an OpenFlexure scan takes about 2 s per image


def gauge_aligned_errors(
    positions: Any, truth: Any, reference_tiles: Sequence[bool] | np.ndarray
) -> np.ndarray:
    """Per-tile distance from the truth after removing the mean offset over ``reference_tiles``.

    Positions are defined only up to a translation; fixing it on one set of tiles for every
    layout compared keeps the comparison fair.
    """
    difference = np.asarray(positions, float) - np.asarray(truth, float)
    difference -= difference[np.asarray(reference_tiles, bool)].mean(axis=0)
    return np.asarray(np.hypot(difference[:, 0], difference[:, 1]))


@dataclass
class SyntheticScan:
    """A generated scan and its ground truth. Positions are tile top-left corners, (row, col) px.

    ``true_positions`` and ``stage_positions_px`` share one frame: stage coordinates converted to
    pixels with ``csm_matrix`` (``pos_px = stage_xy @ inv(csm_matrix)``), which is exactly what a
    reader of the metadata recovers. Lists are in capture order.
    """

    folder: Path
    file_names: list[str]
    true_positions: np.ndarray  # (n, 2) float, exact
    stage_positions_px: np.ndarray  # (n, 2) float, what the metadata says
    stage_xyz: np.ndarray  # (n, 3) int, motor steps, as written in the files
    tile_shape: tuple[int, int]
    csm_matrix: np.ndarray  # (2, 2), valid at the tile width: stage_xy = [d_row, d_col] @ M
    grid_index: np.ndarray  # (n, 2) int, (row, col) of each tile in the raster
    blank_tiles: np.ndarray  # (n,) bool, tiles that see only the blank area
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """The tile files, in capture order."""
        return [self.folder / name for name in self.file_names]

    def position_errors(
        self, positions: Any, *, mask: Sequence[bool] | np.ndarray | None = None
    ) -> np.ndarray:
        """Per-tile distance (px) from the truth after removing the mean offset.

        Positions are only defined up to a global translation, so the mean difference (over the
        tiles selected by ``mask``) is subtracted first. ``positions`` is (n, 2) in file order.
        """
        positions = np.asarray(positions, dtype=float).reshape(-1, 2)
        if positions.shape != self.true_positions.shape:
            raise InputError(
                f"{positions.shape[0]} positions given for a scan of "
                f"{self.true_positions.shape[0]} tiles"
            )
        selected = np.ones(len(positions), bool) if mask is None else np.asarray(mask, bool)
        return gauge_aligned_errors(positions, self.true_positions, selected)[selected]

    def rms_error(
        self, positions: Any, *, mask: Sequence[bool] | np.ndarray | None = None
    ) -> float:
        """RMS distance (px) from the truth after removing the mean offset."""
        errors = self.position_errors(positions, mask=mask)
        return float(np.sqrt(np.mean(errors**2)))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ofs-stitch synthetic ground truth",
            "version": 1,
            "file_names": list(self.file_names),
            "true_positions": self.true_positions.tolist(),
            "stage_positions_px": self.stage_positions_px.tolist(),
            "stage_xyz": self.stage_xyz.tolist(),
            "tile_shape": list(self.tile_shape),
            "csm_matrix": self.csm_matrix.tolist(),
            "grid_index": self.grid_index.tolist(),
            "blank_tiles": self.blank_tiles.tolist(),
            "settings": self.settings,
        }

    def save_ground_truth(self, path: Path | str | None = None) -> Path:
        """Write the ground truth as JSON (default ``folder/ground_truth.json``; not an image)."""
        target = Path(path) if path is not None else self.folder / GROUND_TRUTH_NAME
        target.write_text(json.dumps(self.to_json(), indent=1))
        return target

    @classmethod
    def load_ground_truth(cls, path: Path | str) -> SyntheticScan:
        """Read a ground truth written by :meth:`save_ground_truth` (a folder or the JSON file)."""
        path = Path(path)
        json_path = path / GROUND_TRUTH_NAME if path.is_dir() else path
        data = json.loads(json_path.read_text())
        n = len(data["file_names"])
        return cls(
            folder=json_path.parent,
            file_names=list(data["file_names"]),
            true_positions=np.array(data["true_positions"], dtype=float).reshape(n, 2),
            stage_positions_px=np.array(data["stage_positions_px"], dtype=float).reshape(n, 2),
            stage_xyz=np.array(data["stage_xyz"], dtype=np.int64).reshape(n, 3),
            tile_shape=(int(data["tile_shape"][0]), int(data["tile_shape"][1])),
            csm_matrix=np.array(data["csm_matrix"], dtype=float).reshape(2, 2),
            grid_index=np.array(data["grid_index"], dtype=np.int64).reshape(n, 2),
            blank_tiles=np.array(data["blank_tiles"], dtype=bool).reshape(n),
            settings=dict(data.get("settings", {})),
        )


def _capture_order(rows: int, cols: int, scan_order: str) -> np.ndarray:
    order = []
    for i in range(rows):
        columns = range(cols)
        if scan_order == "snake" and i % 2:
            columns = range(cols - 1, -1, -1)
        order += [(i, j) for j in columns]
    return np.array(order, dtype=np.int64).reshape(-1, 2)


def make_scan(
    folder: Path | str,
    *,
    rows: int,
    cols: int,
    tile_shape: tuple[int, int] = (480, 640),
    overlap: float = 0.3,
    stage_noise: float = 0.03,
    metadata_layout: str = "v3",
    file_format: str = "jpeg",
    bit_depth: int = 8,
    rgb: bool = True,
    vignetting: float = 0.0,
    noise_sigma: float = 0.0,
    blank_fraction: float = 0.0,
    blur_sigma: float = 0.0,
    csm_matrix: Any = REAL_CSM_MATRIX,
    seed: int = 0,
    name_pattern: str = "img_{x}_{y}_{z}",
    position_jitter: float = 1.0,
    scan_order: str = "snake",
    stage_origin: tuple[int, int, int] = (-2000, 5000, -313),
    blank_level: float = 0.8,
    blank_noise_sigma: float = 0.02,
    jpeg_quality: int = 90,
    um_per_px: float | None = None,
    write_ground_truth: bool = True,
) -> SyntheticScan:
    """Write a ``rows`` x ``cols`` scan of ``tile_shape`` (h, w) tiles into ``folder``.

    Geometry: tile (i, j) sits at ``(i * h * (1 - overlap), j * w * (1 - overlap))`` plus a
    uniform jitter of +-``position_jitter`` px per axis (true positions, known exactly), offset by
    ``stage_origin`` converted to pixels. The stage reports each position with independent
    Gaussian noise of sigma ``stage_noise * w`` px per axis (0.03: 19 px for 640 px tiles),
    converted to motor steps with ``csm_matrix`` (``stage_xy = [row, col] @ M``) and rounded to
    integers as a real stage reports them; ``stage_positions_px`` is what a reader recovers.

    Files: names from ``name_pattern`` (fields x, y, z in motor steps, index, row, col), capture
    order ``scan_order`` ("snake" or "raster"), EXIF DateTime and file mtime 2 s apart.
    ``metadata_layout``: "v3", "legacy-v3", "v2" or "none" (no UserComment). ``file_format``:
    "jpeg" (8-bit only), "png" or "tiff" (TIFF carries no EXIF: positions come from the name).

    Image model, in order: the blank area replaces canvas content; the scene is sampled at the
    true position, band-limited, with optional Gaussian blur ``blur_sigma`` (px, defocus, at most
    8, folded into the sampling kernel so tiles stay consistent); radial vignetting
    (``vignetting`` = brightness lost at the corners); Gaussian noise ``noise_sigma`` (fraction
    of full scale); quantisation.
    ``blank_fraction``: that fraction of the scanned width, on the right, shows no sample: a flat
    ``blank_level`` plus independent per-tile noise ``blank_noise_sigma`` (camera noise, which a
    real empty field has and which must not correlate between tiles).
    """
    folder = Path(folder)
    height, width = int(tile_shape[0]), int(tile_shape[1])
    _check_scan_options(
        rows,
        cols,
        height,
        width,
        overlap,
        metadata_layout,
        file_format,
        bit_depth,
        blank_fraction,
        vignetting,
        blur_sigma,
        scan_order,
    )
    matrix = np.array(csm_matrix, dtype=float).reshape(2, 2)
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise InputError(f"csm_matrix {matrix.tolist()} is singular; give an invertible 2x2 matrix")
    grid_index, true_positions, stage_xyz, stage_positions_px = _scan_geometry(
        rows,
        cols,
        (height, width),
        overlap,
        position_jitter,
        stage_noise,
        matrix,
        stage_origin,
        scan_order,
        seed,
    )

    canvas, low = canvas_covering(true_positions, (height, width), seed)
    scan_left = true_positions[:, 1].min()
    scan_width = true_positions[:, 1].max() + width - scan_left
    blank_from = scan_left + (1.0 - blank_fraction) * scan_width if blank_fraction > 0 else None
    blank_tiles = (
        true_positions[:, 1] >= blank_from + blur_margin(blur_sigma) + SAMPLING_MARGIN
        if blank_from is not None
        else np.zeros(len(grid_index), bool)
    )

    gain = vignetting_gain((height, width), vignetting) if vignetting > 0 else None
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    extension = FILE_EXTENSIONS[file_format]
    folder.mkdir(parents=True, exist_ok=True)
    file_names = [
        name_pattern.format(
            x=int(xyz[0]), y=int(xyz[1]), z=int(xyz[2]), index=index, row=int(i), col=int(j)
        )
        + extension
        for index, ((i, j), xyz) in enumerate(zip(grid_index, stage_xyz, strict=True))
    ]
    if len(set(file_names)) != len(file_names):
        raise InputError(
            f"name_pattern {name_pattern!r} gives the same name to two tiles; add {{index}}"
        )
    for index, (name, position, xyz) in enumerate(
        zip(file_names, true_positions, stage_xyz, strict=True)
    ):
        tile_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CA7, 2, index]))
        pixels = photograph(
            canvas,
            position - low,
            (height, width),
            rgb=rgb,
            blur_sigma=blur_sigma,
            blank_from_col=None if blank_from is None else blank_from - low[1],
            blank_level=blank_level,
            blank_noise_sigma=blank_noise_sigma,
            gain=gain,
            noise_sigma=noise_sigma,
            rng=tile_rng,
        )
        captured = _FIRST_CAPTURE + _dt.timedelta(seconds=_SECONDS_PER_CAPTURE * index)
        comment = openflexure_user_comment(
            metadata_layout, xyz, matrix, (height, width), um_per_px=um_per_px
        )
        block = None
        if file_format != "tiff":
            block = _exif.exif_block(comment, captured.strftime("%Y:%m:%d %H:%M:%S"))
        path = folder / name
        write_tile(
            path, channels_last(quantise(pixels, dtype)), exif=block, jpeg_quality=jpeg_quality
        )
        os.utime(path, (captured.timestamp(), captured.timestamp()))

    scan = SyntheticScan(
        folder=folder,
        file_names=file_names,
        true_positions=true_positions,
        stage_positions_px=stage_positions_px,
        stage_xyz=stage_xyz,
        tile_shape=(height, width),
        csm_matrix=matrix,
        grid_index=grid_index,
        blank_tiles=blank_tiles,
        settings={
            "rows": rows,
            "cols": cols,
            "overlap": overlap,
            "stage_noise": stage_noise,
            "metadata_layout": metadata_layout,
            "file_format": file_format,
            "bit_depth": bit_depth,
            "rgb": rgb,
            "vignetting": vignetting,
            "noise_sigma": noise_sigma,
            "blank_fraction": blank_fraction,
            "blur_sigma": blur_sigma,
            "seed": seed,
            "position_jitter": position_jitter,
            "scan_order": scan_order,
            "blank_level": blank_level,
            "blank_noise_sigma": blank_noise_sigma,
            "blank_from_col": blank_from,
        },
    )
    if write_ground_truth:
        scan.save_ground_truth()
    return scan


def _scan_geometry(
    rows: int,
    cols: int,
    tile_shape: tuple[int, int],
    overlap: float,
    position_jitter: float,
    stage_noise: float,
    matrix: np.ndarray,
    stage_origin: tuple[int, int, int],
    scan_order: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid indices, true positions, stage (x, y, z) and stage positions in px, capture order."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CA7, 1]))
    inverse = _inverse_2x2(matrix)
    grid_index = _capture_order(rows, cols, scan_order)
    pitch = np.array([tile_shape[0] * (1 - overlap), tile_shape[1] * (1 - overlap)])
    origin_px = _row_times(np.array(stage_origin[:2], dtype=float), inverse)
    jitter = rng.uniform(-position_jitter, position_jitter, size=grid_index.shape)
    true_positions = origin_px + grid_index * pitch + jitter
    reported = true_positions + rng.normal(0.0, stage_noise * tile_shape[1], size=grid_index.shape)
    # A real stage reports whole motor steps.
    stage_xy = np.rint(_row_times(reported, matrix)).astype(np.int64)
    stage_z = int(stage_origin[2]) + rng.integers(-15, 16, size=len(grid_index))
    stage_xyz = np.column_stack([stage_xy, stage_z])
    return grid_index, true_positions, stage_xyz, _row_times(stage_xy, inverse)


# Why the 2 x 2 products are written out rather than left to ``@`` and ``np.linalg.inv``:
# numpy hands those to BLAS and LAPACK, and OpenBLAS rounds them differently on CPUs with
# AVX-512 than on others, so a seed gave other true positions on another machine (and its
# pinned checksum failed there). Written out, each step rounds once, the same everywhere.


def _row_times(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` for (..., 2) row vectors and a 2 x 2 matrix."""
    return rows[..., :1] * matrix[0] + rows[..., 1:] * matrix[1]


def _inverse_2x2(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 2 matrix (its determinant checked non-zero by the caller)."""
    (a, b), (c, d) = np.asarray(matrix, dtype=float)
    determinant = a * d - b * c
    return np.array([[d, -b], [-c, a]]) / determinant


def make_strip(folder: Path | str, count: int, **options: Any) -> SyntheticScan:
    """A 1 x ``count`` strip (reference section 5: 1x150), with :func:`make_scan`'s options."""
    return make_scan(folder, rows=1, cols=count, **options)


def _check_scan_options(
    rows: int,
    cols: int,
    height: int,
    width: int,
    overlap: float,
    metadata_layout: str,
    file_format: str,
    bit_depth: int,
    blank_fraction: float,
    vignetting: float,
    blur_sigma: float,
    scan_order: str,
) -> None:
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise InputError(f"make_scan rows={rows}, cols={cols}: a scan needs at least 2 tiles")
    if height < 8 or width < 8:
        raise InputError(f"tile_shape ({height}, {width}) is too small; use at least 8x8")
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"overlap={overlap} must be in [0, 1)")
    if metadata_layout not in METADATA_LAYOUTS:
        raise InputError(
            f"metadata_layout {metadata_layout!r} is not one of {', '.join(METADATA_LAYOUTS)}"
        )
    if file_format not in FILE_EXTENSIONS:
        raise InputError(f"file_format {file_format!r} is not one of jpeg, png, tiff")
    if bit_depth not in (8, 16):
        raise InputError(f"bit_depth={bit_depth} must be 8 or 16")
    if bit_depth == 16 and file_format == "jpeg":
        raise InputError("bit_depth=16 needs file_format='png' or 'tiff': JPEG is 8-bit")
    if not 0.0 <= blank_fraction < 1.0:
        raise InputError(f"blank_fraction={blank_fraction} must be in [0, 1)")
    if not 0.0 <= vignetting < 1.0:
        raise InputError(f"vignetting={vignetting} must be in [0, 1)")
    check_blur(blur_sigma)
    if scan_order not in ("snake", "raster"):
        raise InputError(f"scan_order {scan_order!r} must be 'snake' or 'raster'")
