"""Synthetic scans with an exactly known answer, for tests, benchmarks and the README example.

A scan is photographed from one large canvas of real image content (the photographs bundled in
scikit-image; ``testing.canvas`` explains how no content repeats). Tiles sit on a raster grid
with sub-pixel jitter; the stage reports each position with Gaussian noise, in motor steps,
through a camera-to-stage matrix; the files carry OpenFlexure metadata in one of its historical
layouts.

Sub-pixel sampling is band-limited and exactly consistent (``testing.optics``: a 97-tap
Kaiser-windowed sinc applied by FFT to a cut region with a 48 px margin): every tile samples one
and the same band-limited scene, so ``b[y, x] == a[y + d_row, x + d_col]`` holds for the true
shift to float32 rounding, and any two tiles are exact Fourier shifts of each other. Blur,
vignetting and noise are applied per tile, as a camera would.

scikit-image is an optional dependency (``pip install 'ofs-stitch[test]'``); it is imported only
when a canvas is first built.
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
from .canvas import texture_canvas
from .optics import MAX_BLUR_SIGMA, SAMPLING_MARGIN, blur_margin, sample_subpixel

__all__ = [
    "GROUND_TRUTH_NAME",
    "REAL_CSM_MATRIX",
    "SyntheticScan",
    "make_canvas",
    "make_pair",
    "make_scan",
    "make_strip",
    "make_tiles",
    "openflexure_user_comment",
]

# A real OpenFlexure camera-stage matrix (about 3.4 motor steps per pixel, axes swapped), as in
# the reference's v3 example: stage_xy = [d_row, d_col] @ M at 640 px wide images.
REAL_CSM_MATRIX: tuple[tuple[float, float], tuple[float, float]] = (
    (-0.00222, 3.39785),
    (3.406378, 0.003936),
)
# openflexure-metadata assumes this calibration width for v2 files, which do not record one.
V2_CALIBRATION_WIDTH = 832
GROUND_TRUTH_NAME = "ground_truth.json"
METADATA_LAYOUTS = ("v3", "legacy-v3", "v2", "none")
FILE_EXTENSIONS = {"jpeg": ".jpeg", "png": ".png", "tiff": ".tiff"}
_FIRST_CAPTURE = _dt.datetime(2024, 5, 17, 10, 0, 0)
_SECONDS_PER_CAPTURE = 2  # an OpenFlexure scan takes about 2 s per image


def make_canvas(shape: tuple[int, int], *, seed: int = 0, rgb: bool = False) -> np.ndarray:
    """The whole synthetic canvas as float32 in [0, 1]: (rows, cols) grey or (rows, cols, 3).

    Deterministic for (shape, seed). The layout is cached; the pixels are rendered on each call
    (about 0.5 s grey, 1.3 s RGB for 5300x7000) because a 37 Mpx RGB float array is 450 MB.
    """
    canvas = texture_canvas((int(shape[0]), int(shape[1])), int(seed))
    return canvas.render(0, 0, canvas.shape[0], canvas.shape[1], rgb=rgb)


def _quantise(image: np.ndarray, dtype: Any) -> np.ndarray:
    """float [0, 1] -> dtype. Clipping is pointwise, so tiles stay consistent with each other."""
    dtype = np.dtype(dtype)
    np.clip(image, 0.0, 1.0, out=image)
    if dtype.kind == "f":
        return image.astype(dtype, copy=False)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise InputError(f"dtype {dtype} is not supported; use float32, uint8 or uint16")
    full_scale = np.float32(np.iinfo(dtype).max)
    image *= full_scale
    image += np.float32(0.5)
    return image.astype(dtype)


def _channels_last(image: np.ndarray) -> np.ndarray:
    """(3, rows, cols) -> contiguous (rows, cols, 3); done after quantising, on the small dtype."""
    return np.ascontiguousarray(np.moveaxis(image, 0, 2)) if image.ndim == 3 else image


def make_tiles(
    positions: Any,
    tile_shape: tuple[int, int],
    *,
    seed: int = 0,
    rgb: bool = False,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
    dtype: Any = np.float32,
) -> list[np.ndarray]:
    """In-memory tiles of ``tile_shape`` whose top-left corners sit at ``positions`` (n, 2).

    Positions are (row, col) px, sub-pixel, in any frame: the scene is laid out to cover them,
    so one call photographs one scene (another set of positions gives another canvas). Tiles at
    positions p and q satisfy ``tile_q[y, x] == tile_p[y + d_row, x + d_col]`` with d = q - p,
    to float32 rounding, before noise. ``blur_sigma``: Gaussian defocus (px); ``noise_sigma``:
    independent Gaussian noise per tile, fraction of full scale; ``dtype``: float32/float64 in
    [0, 1], uint8 or uint16. RGB tiles are (rows, cols, 3).
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    shape = (int(tile_shape[0]), int(tile_shape[1]))
    if shape[0] < 1 or shape[1] < 1:
        raise InputError(f"tile_shape {tile_shape} must be positive")
    _check_blur(blur_sigma)
    canvas, low = _canvas_covering(positions, shape, seed)
    tiles = []
    for index, position in enumerate(positions):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x711E, index]))
        image = _photograph(
            canvas,
            position - low,
            shape,
            rgb=rgb,
            blur_sigma=blur_sigma,
            blank_from_col=None,
            blank_level=0.0,
            blank_noise_sigma=0.0,
            gain=None,
            noise_sigma=noise_sigma,
            rng=rng,
        )
        tiles.append(_channels_last(_quantise(image, dtype)))
    return tiles


def make_pair(
    shape: tuple[int, int],
    shift: tuple[float, float],
    *,
    noise_sigma: float = 0.0,
    seed: int = 0,
    dtype: Any = np.float32,
    rgb: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Two images of ``shape`` whose true relative shift is ``shift`` = (d_row, d_col).

    ``b[y, x] == a[y + d_row, x + d_col]`` (b's origin sits at ``shift`` in a's frame), exactly
    for the band-limited scene both are sampled from. a's own origin has a random sub-pixel
    part, so neither image is a plain copy of canvas pixels. ``noise_sigma`` (fraction of full
    scale) adds independent Gaussian noise to each. ``dtype``: float32/float64 in [0, 1], uint8
    or uint16.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9A1, 1]))
    origin_a = rng.random(2)
    origin_b = origin_a + (float(shift[0]), float(shift[1]))
    a, b = make_tiles(
        [origin_a, origin_b], shape, seed=seed, rgb=rgb, noise_sigma=noise_sigma, dtype=dtype
    )
    return a, b


# Room around the tiles for the widest sampling kernel (the largest blur). It does not depend on
# the blur actually asked for, so the same positions always give the same scene.
_CANVAS_MARGIN = SAMPLING_MARGIN + blur_margin(MAX_BLUR_SIGMA) + 1


def _canvas_covering(
    origins: np.ndarray, shape: tuple[int, int], seed: int
) -> tuple[Any, np.ndarray]:
    """A canvas holding tiles of ``shape`` at ``origins`` (n, 2) with their sampling margins.

    Returns the canvas and the position of its pixel (0, 0) in the frame of ``origins``.
    """
    low = np.floor(origins.min(axis=0)).astype(int) - _CANVAS_MARGIN
    high = np.floor(origins.max(axis=0)).astype(int) + np.array(shape) + _CANVAS_MARGIN + 1
    size = high - low
    return texture_canvas((int(size[0]), int(size[1])), int(seed)), low


def _sample(
    canvas: Any,
    origin: np.ndarray,
    shape: tuple[int, int],
    *,
    rgb: bool,
    blur_sigma: float = 0.0,
    blank_from_col: float | None = None,
    blank_level: float = 0.0,
) -> np.ndarray:
    """The scene sampled at origin + (i, j), canvas coordinates (see ``testing.optics``).

    RGB comes channels-first, (3, rows, cols).

    Canvas columns at or right of ``blank_from_col`` are replaced by ``blank_level`` before
    sampling, so the blank area is part of the scene (band-limited and blurred with it).
    """
    base = np.floor(origin).astype(int)
    frac = (float(origin[0] - base[0]), float(origin[1] - base[1]))
    pad = SAMPLING_MARGIN + blur_margin(blur_sigma)
    region = canvas.render(
        int(base[0]) - pad,
        int(base[1]) - pad,
        shape[0] + 2 * pad,
        shape[1] + 2 * pad,
        rgb=rgb,
        channels_first=True,
    )
    if blank_from_col is not None:
        first_blank = int(np.ceil(blank_from_col)) - (int(base[1]) - pad)
        region[..., max(first_blank, 0) :] = blank_level
    return sample_subpixel(region, frac, pad, blur_sigma=blur_sigma)


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
        difference = positions[selected] - self.true_positions[selected]
        difference -= difference.mean(axis=0)
        return np.asarray(np.hypot(difference[:, 0], difference[:, 1]))

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


def openflexure_user_comment(
    layout: str,
    stage_xyz: Sequence[int],
    csm_matrix: np.ndarray,
    tile_shape: tuple[int, int],
    *,
    um_per_px: float | None = None,
) -> dict[str, Any] | None:
    """The UserComment JSON an OpenFlexure server of that generation writes (reference sec. 1).

    ``csm_matrix`` is the matrix valid at this tile width. v3 layouts record the calibration
    resolution [h, w] (so readers do not rescale); v2 records none and readers assume 832 px,
    so the matrix written is scaled by w / 832 to make the reader's rescale land on the truth.
    """
    position = {"x": int(stage_xyz[0]), "y": int(stage_xyz[1]), "z": int(stage_xyz[2])}
    if layout == "none":
        return None
    if layout in ("v3", "legacy-v3"):
        mapping = {
            "image_to_stage_displacement_matrix": np.asarray(csm_matrix).tolist(),
            "image_resolution": [int(tile_shape[0]), int(tile_shape[1])],
        }
        if layout == "v3":
            return {"stage": {"position": position}, "camera_stage_mapping": mapping}
        return {"/stage/": {"position": position}, "/camera_stage_mapping/": mapping}
    if layout == "v2":
        scaled = np.asarray(csm_matrix) * (tile_shape[1] / V2_CALIBRATION_WIDTH)
        extensions: dict[str, Any] = {
            "org.openflexure.camera_stage_mapping": {"image_to_stage_displacement": scaled.tolist()}
        }
        if um_per_px is not None:
            extensions["usafcal"] = {"um_per_px": float(um_per_px)}
        return {
            "instrument": {
                "state": {"stage": {"position": position}},
                "settings": {"extensions": extensions},
            }
        }
    raise InputError(f"metadata_layout {layout!r} is not one of {', '.join(METADATA_LAYOUTS)}")


def _write_tile(
    path: Path, pixels: np.ndarray, file_format: str, exif_block: bytes | None, quality: int
) -> None:
    import pyvips

    image = pyvips.Image.new_from_array(pixels)
    if pixels.dtype == np.uint16:
        image = image.copy(interpretation="rgb16" if image.bands == 3 else "grey16")
    if file_format == "jpeg":
        image.jpegsave(str(path), Q=quality)
        if exif_block is not None:
            _exif.insert_exif_into_jpeg(path, exif_block)
    elif file_format == "png":
        if exif_block is not None:
            image = image.copy()
            image.set_type(pyvips.GValue.blob_type, "exif-data", exif_block)
        # Level 1 compression: 3x faster to write than the default, files 10-20 % larger.
        image.pngsave(str(path), compression=1)
    else:
        # libvips does not write EXIF into TIFF; such tiles are located by file name only.
        image.tiffsave(str(path))


def _vignetting_gain(tile_shape: tuple[int, int], vignetting: float) -> np.ndarray:
    """Radial gain 1 - v (r / r_corner)^2: 1 at the centre, 1 - v at the corners."""
    rows = np.arange(tile_shape[0], dtype=np.float32) - (tile_shape[0] - 1) / 2
    cols = np.arange(tile_shape[1], dtype=np.float32) - (tile_shape[1] - 1) / 2
    r2 = rows[:, None] ** 2 + cols[None, :] ** 2
    return np.asarray(1.0 - vignetting * r2 / r2.max(), dtype=np.float32)


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

    canvas, low = _canvas_covering(true_positions, (height, width), seed)
    scan_left = true_positions[:, 1].min()
    scan_width = true_positions[:, 1].max() + width - scan_left
    blank_from = scan_left + (1.0 - blank_fraction) * scan_width if blank_fraction > 0 else None
    blank_tiles = (
        true_positions[:, 1] >= blank_from + blur_margin(blur_sigma) + SAMPLING_MARGIN
        if blank_from is not None
        else np.zeros(len(grid_index), bool)
    )

    gain = _vignetting_gain((height, width), vignetting) if vignetting > 0 else None
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
        pixels = _photograph(
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
        _write_tile(
            path, _channels_last(_quantise(pixels, dtype)), file_format, block, jpeg_quality
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
    inverse = np.linalg.inv(matrix)
    grid_index = _capture_order(rows, cols, scan_order)
    pitch = np.array([tile_shape[0] * (1 - overlap), tile_shape[1] * (1 - overlap)])
    origin_px = np.array(stage_origin[:2], dtype=float) @ inverse
    jitter = rng.uniform(-position_jitter, position_jitter, size=grid_index.shape)
    true_positions = origin_px + grid_index * pitch + jitter
    reported = true_positions + rng.normal(0.0, stage_noise * tile_shape[1], size=grid_index.shape)
    # A real stage reports whole motor steps.
    stage_xy = np.rint(reported @ matrix).astype(np.int64)
    stage_z = int(stage_origin[2]) + rng.integers(-15, 16, size=len(grid_index))
    stage_xyz = np.column_stack([stage_xy, stage_z])
    return grid_index, true_positions, stage_xyz, stage_xy @ inverse


def make_strip(folder: Path | str, count: int, **options: Any) -> SyntheticScan:
    """A 1 x ``count`` strip (reference section 5: 1x150), with :func:`make_scan`'s options."""
    return make_scan(folder, rows=1, cols=count, **options)


def _photograph(
    canvas: Any,
    origin: np.ndarray,
    tile_shape: tuple[int, int],
    *,
    rgb: bool,
    blur_sigma: float,
    blank_from_col: float | None,
    blank_level: float,
    blank_noise_sigma: float,
    gain: np.ndarray | None,
    noise_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One tile as float32 [0, 1]-ish (before clipping), at canvas position ``origin``.

    RGB comes channels-first, (3, rows, cols).
    """
    image = _sample(
        canvas,
        origin,
        tile_shape,
        rgb=rgb,
        blur_sigma=blur_sigma,
        blank_from_col=blank_from_col,
        blank_level=blank_level,
    )
    if blank_from_col is not None and blank_noise_sigma > 0:
        first_blank = int(np.ceil(blank_from_col - origin[1]))
        if first_blank < tile_shape[1]:
            blank = image[..., max(first_blank, 0) :]
            blank += rng.standard_normal(blank.shape, dtype=np.float32) * np.float32(
                blank_noise_sigma
            )
    if gain is not None:
        image *= gain  # broadcasts over the channels-first planes
    if noise_sigma > 0:
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise_sigma)
    return image


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
    _check_blur(blur_sigma)
    if scan_order not in ("snake", "raster"):
        raise InputError(f"scan_order {scan_order!r} must be 'snake' or 'raster'")


def _check_blur(blur_sigma: float) -> None:
    if not 0.0 <= blur_sigma <= MAX_BLUR_SIGMA:
        raise InputError(f"blur_sigma={blur_sigma} must be in [0, {MAX_BLUR_SIGMA}] px")
