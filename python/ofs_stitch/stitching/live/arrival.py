"""A new image arriving during a live scan -> a tile with its starting position and pixels.

The same rules as the batch input stage (`stitching.inputs`), one image at a time: the position
comes from the OpenFlexure metadata when the scan's first tile had it, else from the numbers at
the end of the file name; the camera-stage matrix is the first tile's (or --csm_matrix). An
image the batch run would refuse (another size, no position, another calibration, unreadable
pixels) is rejected with one line saying why, and the scan goes on without it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ImageReadError, InputError
from ...io.decode import read_pixels
from ...io.header import ImageHeader, read_header
from ...io.tiles import Tile
from ...openflexure.metadata import parse_stage_metadata
from ...openflexure.stage import (
    parse_csm_matrix,
    position_from_file_name,
    resolve_camera_matrix,
    stage_to_pixels,
)
from ..inputs import InputOptions


class TileRejected(Exception):
    """An image the scan goes on without; the message says which and why, in one line."""


@dataclass(frozen=True)
class Arrival:
    """A tile ready for the layout: its record, header, and decoded pixels (full size)."""

    tile: Tile
    header: ImageHeader
    pixels: np.ndarray
    ready_at: float  # time.monotonic() when the image was known complete (for latencies)


@dataclass
class ScanFrame:
    """What the scan's first tile decided, and later tiles must agree with."""

    shape: tuple[int, int] | None = None
    bands: int | None = None
    pixel_format: str | None = None
    position_source: str | None = None  # "openflexure-metadata" or "file-name"
    matrix: np.ndarray | None = None  # camera-stage matrix in use (rescaled to the width)
    file_matrix: np.ndarray | None = None  # as the first tile's metadata gave it
    pixel_size_um: float | None = None


def array_tile_name(stage_position: tuple[float, ...], sequence: int) -> str:
    """The file an array tile is saved as: its integer stage (x, y) at the end of the name, as
    the batch input stage reads positions from names, and a sequence number after them (read
    as z, so two tiles at one position are a z-stack, as in a folder of files)."""
    x, y = (int(round(v)) for v in stage_position[:2])
    return f"tile_{x}_{y}_{sequence:05d}.tif"


# An array tile's name, the sequence number captured.
_ARRAY_TILE_NAME = re.compile(r"^tile_-?\d+_-?\d+_(\d+)\.tif$")
# The least step between two array tiles' modification times: exFAT's resolution (10 ms);
# finer file systems keep any step (FAT's 2 s is left to the name order).
_MTIME_STEP_NS = 10_000_000


def last_array_sequence(folder: Path) -> int:
    """The highest sequence number of the array tiles in ``folder`` (0 if none)."""
    with os.scandir(folder) as entries:
        found = [_ARRAY_TILE_NAME.match(entry.name) for entry in entries]
    return max((int(match.group(1)) for match in found if match), default=0)


class ArrayTiles:
    """Saves the array tiles a stitcher is given in ``folder``: named after their stage
    position and a sequence number no tile there has yet, with modification times that rise
    strictly in the order the tiles came.

    Why the numbers start after the folder's: a scan restarted into its folder (a new
    process) would otherwise save its first tile under the name of the earlier run's tile at
    the same position, replacing it. Why the times: array tiles carry no EXIF DateTime, so
    their capture order, live and in a later batch run of the folder, is the order of their
    files' modification times, and two tiles saved within one tick of the file system's clock
    tied, which falls back to name order: by stage x, not by arrival.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next: int | None = None  # found in the folder when the first tile comes
        self._last_mtime_ns = 0

    def save(self, pixels: np.ndarray, stage_position: tuple[float, ...]) -> Path:
        """Write ``pixels`` as the next array tile; its path."""
        if self._next is None:
            self._next = last_array_sequence(self.folder) + 1
        path = self.folder / array_tile_name(stage_position, self._next)
        self._next += 1
        save_array_tile(pixels, path)
        written = path.stat().st_mtime_ns
        stamp = max(written, self._last_mtime_ns + _MTIME_STEP_NS)
        if stamp != written:
            os.utime(path, ns=(stamp, stamp))
        self._last_mtime_ns = stamp
        return path


def save_array_tile(pixels: np.ndarray, path: Path) -> None:
    """Write an array tile losslessly (uncompressed TIFF: quick to write and to decode)."""
    import pyvips

    from ...io.atomic import staged_output

    array = np.ascontiguousarray(pixels)
    image = pyvips.Image.new_from_array(array)
    if array.ndim == 3 and array.shape[2] >= 3:
        image = image.copy(interpretation="srgb" if array.dtype == np.uint8 else "rgb16")
    with staged_output(path) as temporary:
        image.tiffsave(str(temporary))


def read_arrival(
    path: Path,
    frame: ScanFrame,
    options: InputOptions,
    ready_at: float,
    pixels: np.ndarray | None = None,
) -> Arrival:
    """The tile at ``path`` (``pixels``: already decoded, for array tiles); updates ``frame``
    with what the first tile decides. Raises TileRejected."""
    try:
        header = read_header(path)
    except ImageReadError as error:
        raise TileRejected(str(error)) from None
    shape = (header.height, header.width)
    if frame.shape is not None and (shape, header.bands, header.pixel_format) != (
        frame.shape,
        frame.bands,
        frame.pixel_format,
    ):
        raise TileRejected(
            f"{path} is {header.width}x{header.height} ({header.bands} bands, "
            f"{header.pixel_format}) but the scan's tiles are {frame.shape[1]}x{frame.shape[0]} "
            f"({frame.bands} bands, {frame.pixel_format}): left out"
        )
    metadata = header.exif.user_comment_json() or {}
    meta = parse_stage_metadata(metadata)
    stage_xyz, source = _stage_coordinates(path, meta.position, frame)
    matrix = _matrix(path, header, meta.csm_matrix, meta.calibration_width, frame, options)
    if pixels is None:
        try:
            pixels = read_pixels(path, loader=header.loader)
        except ImageReadError as error:
            raise TileRejected(str(error)) from None
    if pixels.shape[:2] != shape:
        raise TileRejected(f"{path} changed while it was read: left out until it changes again")
    row, col = stage_to_pixels([stage_xyz[:2]], matrix, "the camera-stage matrix")[0]
    if frame.shape is None:
        frame.shape, frame.bands, frame.pixel_format = shape, header.bands, header.pixel_format
        frame.position_source = source
        frame.pixel_size_um = options.pixel_size_um or meta.pixel_size_um
    tile = Tile.from_header(header, (float(row), float(col)), stage_xyz, metadata)
    return Arrival(tile=tile, header=header, pixels=pixels, ready_at=ready_at)


def _stage_coordinates(
    path: Path, position: tuple[float, ...] | None, frame: ScanFrame
) -> tuple[tuple[float, ...], str]:
    from_name = position_from_file_name(path.stem)
    if frame.position_source == "openflexure-metadata" or (
        frame.position_source is None and position is not None
    ):
        if position is None:
            raise TileRejected(
                f"{path} has no stage position in its EXIF metadata but the scan's first tile "
                "does: left out"
            )
        return tuple(float(v) for v in position), "openflexure-metadata"
    if position is not None:
        raise TileRejected(
            f"{path} has a stage position in its EXIF metadata but the scan's first tile has "
            "none: left out"
        )
    if from_name is None:
        raise TileRejected(
            f"{path} has no position (no OpenFlexure metadata, no img_<x>_<y> name): left out"
        )
    return (float(from_name[0]), float(from_name[1])), "file-name"


def _matrix(
    path: Path,
    header: ImageHeader,
    file_matrix: object,
    calibration_width: int | None,
    frame: ScanFrame,
    options: InputOptions,
) -> np.ndarray:
    """The camera-stage matrix in use; the first tile's, which later tiles must share."""
    found = None if file_matrix is None else np.array(file_matrix, dtype=float)
    if frame.matrix is not None:
        if options.csm_matrix is None and not _same(found, frame.file_matrix):
            raise TileRejected(
                f"{path} has a different camera-stage calibration from the scan's first tile: "
                "left out"
            )
        return frame.matrix
    override = parse_csm_matrix(options.csm_matrix) if options.csm_matrix is not None else None
    try:
        matrix = resolve_camera_matrix(
            image_width=header.width,
            file_matrix=None if override is not None else found,
            file_calibration_width=None if override is not None else calibration_width,
            override_matrix=override,
            override_calibration_width=options.csm_calibration_width,
        )
    except InputError as error:
        raise TileRejected(str(error)) from None
    frame.matrix, frame.file_matrix = matrix, found
    return matrix


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.allclose(a, b, rtol=1e-6, atol=0.0))
