"""``--fiducials auto|FILE.csv``: drift from bright compact particles, fitted in every frame.

The manual pipeline users run today, made automatic: particles are detected in the reference
(first) frame, or read from a CSV of (x, y) pixel positions; a round 2-D Gaussian is fitted to
each in every frame (C++, ``_core.spots``), starting where the previous frame's transform puts
it; each frame's transform of the chosen model is then fitted to the particle set
(``core.transform.fit``) with per-particle residuals, dropping particles whose residual exceeds
``REJECT_SIGMAS`` robust sigmas (and ``RESIDUAL_FLOOR_PX``) until none does. A frame with fewer
than ``MIN_PARTICLES`` particles left is unreliable: its transform is interpolated from its
neighbours, as in the image-based solve. Every fit goes to ``tracks.csv``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _core
from ..core.grey import grey_float32
from ..core.transform import DegenerateFitError, Kind, TransformTable, fit
from ..errors import ImageReadError, InputError
from .frames import Frames
from .measure import Advance
from .table import DriftTable, matrix_from_parameters, parameters

# The window fitted around each particle: (2 HALF_WIDTH + 1) pixels square.
HALF_WIDTH = 4
START_SIGMA = 1.5
# Auto detection: local maxima of the lightly smoothed frame this many robust sigmas above its
# median, whose fitted width is compact (a particle, not a cell or an edge).
DETECT_SIGMAS = 8.0
MAX_PARTICLES = 80
MIN_WIDTH, MAX_WIDTH = 0.5, 3.0
# A fit further than this from its start (px) lost its particle.
MAX_JUMP_PX = 3.0
RESIDUAL_FLOOR_PX = 0.1
REJECT_SIGMAS = 4.0
MIN_PARTICLES = 3
TRACK_COLUMNS = ("frame", "particle", "row", "col", "amplitude", "sigma", "residual_px", "used")


@dataclass(frozen=True)
class FiducialResult:
    table: DriftTable
    particles: int
    tracks_csv: str


def read_particles(path: Path) -> np.ndarray:
    """(n, 2) (row, col) from a CSV with columns x and y (pixels; x along columns)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ImageReadError(f"cannot read the fiducials file {path}: {error}") from None
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    if not rows or not {"x", "y"} <= set(rows[0]):
        raise InputError(
            f"{path} must be a CSV with a header naming columns x and y (pixel positions of "
            "the particles in the first frame)"
        )
    try:
        return np.array([[float(r["y"]), float(r["x"])] for r in rows])
    except (TypeError, ValueError):
        raise InputError(f"{path}: every x and y must be a number") from None


def detect_particles(grey: np.ndarray) -> np.ndarray:
    """(n, 2) starting positions of the brightest compact particles of a frame."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(grey, 1.0)
    median = float(np.median(smooth))
    sigma = 1.4826 * float(np.median(np.abs(smooth - median))) or 1e-6
    size = 2 * HALF_WIDTH + 1
    peaks = (smooth == ndimage.maximum_filter(smooth, size=size)) & (
        smooth > median + DETECT_SIGMAS * sigma
    )
    edge = HALF_WIDTH + int(MAX_JUMP_PX) + 2
    peaks[:edge] = peaks[-edge:] = False
    peaks[:, :edge] = peaks[:, -edge:] = False
    rows, cols = np.nonzero(peaks)
    order = np.argsort(smooth[rows, cols])[::-1][: 4 * MAX_PARTICLES]
    return np.column_stack([rows[order], cols[order]]).astype(float)


def _fit(grey: np.ndarray, starts: np.ndarray, threads: int) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros((0, 8))
    return _core.spots.fit_gaussians(
        grey, np.ascontiguousarray(starts, dtype=np.float64), HALF_WIDTH, START_SIGMA, threads
    )


def estimate_from_fiducials(
    frames: Frames,
    *,
    channel: int,
    model: Kind,
    particles: Path | None,
    threads: int = 0,
    advance: Advance | None = None,
) -> FiducialResult:
    """The drift of every frame from its particles (module docstring)."""
    step = advance or (lambda _count: None)
    first = grey_float32(frames.read(0, channel))
    starts = detect_particles(first) if particles is None else read_particles(particles)
    fits = _fit(first, starts, threads)
    good = (fits[:, 7] > 0) & (np.hypot(*(fits[:, 1:3] - starts).T) <= MAX_JUMP_PX)
    if particles is None:
        good &= (fits[:, 3] >= MIN_WIDTH) & (fits[:, 3] <= MAX_WIDTH)
        candidates = np.flatnonzero(good)
        brightest = candidates[np.argsort(-fits[candidates, 0])][:MAX_PARTICLES]
        good = np.isin(np.arange(len(fits)), brightest)
    reference = fits[good, 1:3]
    if len(reference) < MIN_PARTICLES:
        raise InputError(
            f"found {len(reference)} fiducial particles in the first frame; at least "
            f"{MIN_PARTICLES} bright compact particles are needed (give their x, y in a CSV with "
            "--fiducials FILE.csv, or register the images: leave out --fiducials)"
        )
    tracks = io.StringIO()
    writer = csv.writer(tracks, lineterminator="\n")
    writer.writerow(TRACK_COLUMNS)
    matrices = [np.eye(3)]
    quality = [math.nan]
    unreliable = [False]
    _write_tracks(writer, 0, fits[good], np.zeros(len(reference)), np.ones(len(reference), bool))
    step(1)
    previous = np.eye(3)
    for number in range(1, len(frames)):
        grey = grey_float32(frames.read(number, channel))
        predicted = reference @ previous[:2, :2].T + previous[:2, 2]
        found = _fit(grey, predicted, threads)
        valid = (found[:, 7] > 0) & (np.hypot(*(found[:, 1:3] - predicted).T) <= MAX_JUMP_PX)
        matrix, used, residual = _robust_fit(model, reference, found[:, 1:3], valid)
        if matrix is None:
            matrices.append(previous)
            unreliable.append(True)
            quality.append(math.nan)
        else:
            matrices.append(matrix)
            unreliable.append(False)
            quality.append(float(used.mean()))
            previous = matrix
        _write_tracks(writer, number, found, residual, used)
        step(1)
    shape = frames.shape
    params = np.array([parameters(m, shape) for m in matrices])
    bad = np.array(unreliable)
    if bad.any() and (~bad).any():
        known = np.flatnonzero(~bad)
        for column in range(4):
            params[bad, column] = np.interp(np.flatnonzero(bad), known, params[known, column])
    final = [matrix_from_parameters(r, c, angle, scale, shape) for r, c, angle, scale in params]
    status = tuple(
        "reference" if k == 0 else "interpolated" if bad[k] else "ok" for k in range(len(frames))
    )
    transforms = TransformTable(
        ids=frames.names,
        matrices=np.array(final),
        quality=np.array(quality),
        status=status,
        kind=model,
    )
    return FiducialResult(DriftTable(transforms, shape, model), len(reference), tracks.getvalue())


def _robust_fit(
    model: Kind, reference: np.ndarray, found: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The model's transform from reference to found positions over the valid particles,
    dropping outliers (module docstring); None when too few particles remain."""
    used = valid.copy()
    residual = np.full(len(reference), np.nan)
    matrix = None
    for _ in range(10):
        if used.sum() < MIN_PARTICLES:
            return None, used, residual
        try:
            matrix = fit(model, reference[used], found[used]).matrix
        except DegenerateFitError:
            return None, used, residual
        moved = reference @ matrix[:2, :2].T + matrix[:2, 2]
        residual = np.where(valid, np.hypot(*(found - moved).T), np.nan)
        spread = 1.4826 * float(np.median(residual[used]))
        limit = max(RESIDUAL_FLOOR_PX, REJECT_SIGMAS * spread)
        still = valid & (residual <= limit)
        if np.array_equal(still, used):
            break
        used = still
    return matrix, used, residual


def _write_tracks(
    writer: object, frame: int, fits: np.ndarray, residual: np.ndarray, used: np.ndarray
) -> None:
    for particle, row in enumerate(fits):
        writer.writerow(  # type: ignore[attr-defined]
            [
                frame,
                particle,
                f"{row[1]:.4f}",
                f"{row[2]:.4f}",
                f"{row[0]:.2f}",
                f"{row[3]:.3f}",
                "nan" if not math.isfinite(residual[particle]) else f"{residual[particle]:.4f}",
                int(bool(used[particle])),
            ]
        )
