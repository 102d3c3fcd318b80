"""Fusing an aligned, balanced focus stack into one all-in-focus image: the stage's types and
its one entry point, `fuse`; the methods live in `pyramid_fusion` and `depthmap`.

Every method reads the stack frame by frame (``frames.Frames``) and keeps only running results,
so memory grows with the size of one frame, never with the number of frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InputError
from .frames import Frames, as_frames

Method = Literal["pyramid", "depthmap", "average"]
METHODS: tuple[str, ...] = ("pyramid", "depthmap", "average")
Energy = Literal["laplacian", "sobel", "variance"]
ENERGIES: tuple[str, ...] = ("laplacian", "sobel", "variance")
Selection = Literal["hard", "weighted"]
SELECTIONS: tuple[str, ...] = ("hard", "weighted")


@dataclass(frozen=True)
class FusionSettings:
    """How to fuse.

    ``method``: ``pyramid`` (Laplacian pyramid; each coefficient from the frame with the most
    local energy in its level, a median filter of the choice for consistency), ``depthmap``
    (each pixel from the frame where ``energy``, smoothed by ``smoothing`` px, is highest;
    ``weighted``: a blend weighted by the energy's power ``sharpness`` instead), ``average``
    (every frame weighted by its local contrast). ``levels``: pyramid levels (None: as many as
    fit). ``window``: radius in px of the energy window of each pyramid level.
    ``consistency``: radius of the median filter of the pyramid's choice (0: none).
    ``threads``: 0 for every core this process may use. ``tile``: fusion works in tiles of
    about this many px a side, reading each frame over a tile and a margin only, so memory
    follows the tile, not the frame (None: the whole frame at once; the result is the same to
    float rounding).
    """

    method: Method = "pyramid"
    levels: int | None = None
    window: int = 2
    consistency: int = 1
    energy: Energy = "laplacian"
    smoothing: float = 2.0
    selection: Selection = "hard"
    sharpness: float = 4.0
    threads: int = 0
    tile: int | None = 512

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method {self.method!r} is unknown; use one of {', '.join(METHODS)}")
        if self.energy not in ENERGIES:
            raise InputError(f"energy {self.energy!r} is unknown; use one of {', '.join(ENERGIES)}")
        if self.selection not in SELECTIONS:
            raise InputError(
                f"selection {self.selection!r} is unknown; use one of {', '.join(SELECTIONS)}"
            )
        if self.levels is not None and self.levels < 1:
            raise InputError(f"levels={self.levels}; use 1 or more (None: automatic)")
        if self.window < 0 or self.consistency < 0:
            raise InputError("window and consistency must be >= 0 px")
        if self.smoothing < 0 or self.sharpness <= 0:
            raise InputError("smoothing must be >= 0 px and sharpness > 0")
        if self.tile is not None and self.tile < 16:
            raise InputError(f"tile={self.tile}; use 16 px or more (None: whole frames)")

    def thread_count(self) -> int:
        if self.threads > 0:
            return int(self.threads)
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Fused:
    """A fusion's result.

    ``image``: float32 (rows, cols, channels) on the frames' [0, 1] scale (not clipped).
    ``depth``: float32 (rows, cols), the frame each pixel came from (0 = the first frame;
    fractional where a method blends frames). ``confidence``: float32 (rows, cols) in 0..1,
    how clearly one frame stood out there (0: every frame alike, as in a blank area).
    """

    image: np.ndarray
    depth: np.ndarray
    confidence: np.ndarray


def fuse(stack: Frames | np.ndarray, settings: FusionSettings | None = None) -> Fused:
    """Fuse ``stack`` (``Frames``, or an (n, rows, cols[, channels]) array of uint8, uint16 or
    float frames on the [0, 1] scale) into one image (see `FusionSettings`)."""
    frames = as_frames(stack)
    settings = settings or FusionSettings()
    if settings.method == "pyramid":
        from .pyramid_fusion import fuse_pyramid

        return fuse_pyramid(frames, settings)
    from .depthmap import fuse_average, fuse_depthmap

    if settings.method == "depthmap":
        return fuse_depthmap(frames, settings)
    return fuse_average(frames, settings)


def frame_reads(shape: tuple[int, int], settings: FusionSettings) -> float:
    """How many frames' worth of pixels `fuse` reads of each frame: its passes times the
    tiles' regions over the frame (a progress bar's unit)."""
    from .tiles import read_area

    if settings.method == "pyramid":
        from .pyramid_fusion import tiles_for as pyramid_tiles

        return 2 * read_area(shape, pyramid_tiles(shape, settings)[0])
    from .depthmap import tiles_for

    energy = settings.energy if settings.method == "depthmap" else "laplacian"
    return read_area(shape, tiles_for(shape, energy, settings))


def confidence_from(best: np.ndarray, total: np.ndarray, count: int) -> np.ndarray:
    """0..1 from the best energy and the sum of every frame's: 0 when all are equal, 1 when one
    frame holds all of it."""
    if count < 2:
        return np.ones_like(best, dtype=np.float32)
    share = np.divide(best, total, out=np.full_like(best, 1.0 / count), where=total > 0)
    return np.clip((share * count - 1.0) / (count - 1.0), 0.0, 1.0).astype(np.float32)
