"""``apply(frames, table, ...)``: the series warped onto the reference (``core.warp``).

Frame t is resampled at ``M_t @ p`` for each output pixel p (the table's convention), every
channel with the same map. The output grid (``canvas``) is the reference frame's
(``same``), the part every frame covers (``crop``) or the union of them all (``expand``);
``integer`` rounds each frame's drift of the centre to whole pixels and ignores rotation and
scale, so samples are copied, never interpolated (lossless).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.warp import INTERPOLATIONS, Interpolation, warp_affine
from ..errors import InputError
from .frames import Frames, open_frames
from .table import DriftTable, centre

CANVASES = ("same", "crop", "expand")


@dataclass(frozen=True)
class Canvas:
    """The output window in reference pixels: top-left (row, col) and size."""

    top: int
    left: int
    rows: int
    cols: int


def frame_maps(table: DriftTable, *, integer: bool = False) -> np.ndarray:
    """(n, 3, 3) matrices to warp each frame with: the table's, or whole-pixel shifts."""
    if not integer:
        return np.array(table.matrices)
    maps = np.tile(np.eye(3), (len(table), 1, 1))
    c = centre(table.shape)
    for number, matrix in enumerate(table.matrices):
        drift = matrix[:2, :2] @ c + matrix[:2, 2] - c
        maps[number, :2, 2] = np.round(drift)
    return maps


def output_canvas(maps: np.ndarray, shape: tuple[int, int], canvas: str) -> Canvas:
    rows, cols = shape
    if canvas == "same":
        return Canvas(0, 0, rows, cols)
    corners = np.array(
        [[0, 0, 1], [0, cols - 1, 1], [rows - 1, 0, 1], [rows - 1, cols - 1, 1]], float
    ).T
    if canvas == "expand":
        # Where each frame's corners land in reference pixels: M_t^-1 @ corner.
        landed = np.concatenate([(np.linalg.inv(m) @ corners)[:2].T for m in maps])
        # Pixel centres inside the union's bounding box (a hair of slack for rounding).
        top, left = np.ceil(landed.min(axis=0) - 1e-6).astype(int)
        bottom, right = np.floor(landed.max(axis=0) + 1e-6).astype(int)
        return Canvas(int(top), int(left), int(bottom - top + 1), int(right - left + 1))
    if canvas != "crop":
        raise InputError(f"--canvas {canvas!r} is unknown; use one of {', '.join(CANVASES)}")
    # Shrink the reference frame's box, one side at a time, until its corners map inside every
    # frame; every frame's valid region is convex, so the whole box then lies inside.
    box = [0, 0, rows - 1, cols - 1]  # top, left, bottom, right
    for _ in range(rows + cols):
        points = np.array(
            [[box[0], box[1], 1], [box[0], box[3], 1], [box[2], box[1], 1], [box[2], box[3], 1]],
            float,
        ).T
        mapped = np.stack([(m @ points)[:2] for m in maps])  # (n, 2, 4)
        outside = (
            (mapped[:, 0] < 0)
            | (mapped[:, 0] > rows - 1)
            | (mapped[:, 1] < 0)
            | (mapped[:, 1] > cols - 1)
        )
        bad = np.asarray(outside.any(axis=0))  # per corner: TL, TR, BL, BR
        if not bad.any():
            break
        if bad[0] or bad[1]:
            box[0] += 1
        if bad[2] or bad[3]:
            box[2] -= 1
        if bad[0] or bad[2]:
            box[1] += 1
        if bad[1] or bad[3]:
            box[3] -= 1
        if box[0] >= box[2] or box[1] >= box[3]:
            raise InputError(
                "--canvas crop: no part of the field is seen by every frame; use --canvas same "
                "or expand"
            )
    return Canvas(box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1)


def warp_frame(
    frame: np.ndarray,
    matrix: np.ndarray,
    canvas: Canvas,
    interpolation: Interpolation,
    threads: int = 0,
) -> np.ndarray:
    """One frame, (rows, cols) or (channels, rows, cols), warped onto ``canvas`` in its dtype."""
    planes = frame if frame.ndim == 3 else frame[np.newaxis]
    dtype = planes.dtype
    # The warp kernels take uint8, uint16 and float32: other floats go through float32.
    work = planes if dtype in (np.uint8, np.uint16, np.float32) else planes.astype(np.float32)
    # Channels last: one pass of the kernel warps them all with one map.
    interleaved = np.ascontiguousarray(np.moveaxis(work, 0, -1)) if len(work) > 1 else work[0]
    out = warp_affine(
        interleaved,
        matrix,
        window=(canvas.top, canvas.left, canvas.rows, canvas.cols),
        interpolation=interpolation,
        threads=threads,
    )
    out = out[np.newaxis] if out.ndim == 2 else np.moveaxis(out, -1, 0)
    out = out.astype(dtype, copy=False)
    return out if frame.ndim == 3 else out[0]


def iter_aligned(
    frames: Frames,
    table: DriftTable,
    *,
    interpolation: str = "linear",
    integer: bool = False,
    canvas: str = "same",
    threads: int = 0,
) -> tuple[Canvas, Iterator[np.ndarray]]:
    """The output canvas, and each frame (channels, rows, cols) aligned, one at a time."""
    check_table(frames, table)
    if interpolation not in INTERPOLATIONS:
        raise InputError(
            f"--interpolation {interpolation!r} is unknown; use one of {', '.join(INTERPOLATIONS)}"
        )
    maps = frame_maps(table, integer=integer)
    window = output_canvas(maps, frames.shape, canvas)
    chosen: Interpolation = "nearest" if integer else interpolation  # type: ignore[assignment]

    def generate() -> Iterator[np.ndarray]:
        for number in range(len(frames)):
            yield warp_frame(frames.read(number), maps[number], window, chosen, threads)

    return window, generate()


def apply(
    frames: np.ndarray | Path | str | Frames,
    table: DriftTable,
    *,
    interpolation: str = "linear",
    integer: bool = False,
    canvas: str = "same",
    threads: int = 0,
) -> np.ndarray:
    """The aligned series in memory: an array shaped as the input (n, [channels,] rows, cols)
    on the chosen canvas, of the input's dtype. For long series, `iter_aligned` streams."""
    source = open_frames(frames)
    _, aligned = iter_aligned(
        source, table, interpolation=interpolation, integer=integer, canvas=canvas, threads=threads
    )
    stacked = np.stack(list(aligned))
    if isinstance(frames, np.ndarray):
        return stacked if frames.ndim == 4 else stacked[:, 0]  # the input's own shape
    return stacked[:, 0] if source.channels == 1 else stacked


def check_table(frames: Frames, table: DriftTable) -> None:
    if len(table) != len(frames):
        raise InputError(
            f"the drift table has {len(table)} frames but the series has {len(frames)}; apply "
            "a table measured on a series of the same length"
        )
    if tuple(table.shape) != tuple(frames.shape):
        raise InputError(
            f"the drift table was measured on {table.shape[0]} x {table.shape[1]} frames but "
            f"these are {frames.shape[0]} x {frames.shape[1]}; apply it to frames of that size"
        )
    if not all(math.isfinite(v) for v in np.asarray(table.matrices).ravel()):
        raise InputError("the drift table holds non-finite numbers; re-run ofs drift")
