"""A focus stack as every stage sees it: frames handed out one at a time.

Fusion never needs the whole stack at once, so a stack is anything with a length and a way to
give frame k as float32 (rows, cols, channels) on the [0, 1] scale: an in-memory array
(`ArrayFrames`), or files decoded on demand (``stack.inputs``), each possibly seen through the
alignment and balance (`CorrectedFrames`). A frame may come with a validity mask: False where
the frame has no data (outside a warped frame's footprint). Every frame handed out is a fresh
array that the caller may change (fusion builds its pyramids in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .tiles import Box


@dataclass(frozen=True)
class Frame:
    """One frame: float32 (rows, cols, channels) pixels, and where they are valid (None: all)."""

    pixels: np.ndarray
    valid: np.ndarray | None = None


class Frames(Protocol):
    """A stack handed out frame by frame."""

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, int, int]:
        """(rows, cols, channels) of every frame."""
        ...

    def frame(self, index: int) -> Frame: ...


def scale_of(dtype: np.dtype) -> float:
    """The value of full white for a sample type: 255, 65535, or 1 for floats."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == "f":
        return 1.0
    raise InputError(f"frames of dtype {dtype} are not supported; use uint8, uint16 or float")


def as_float(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as C-contiguous float32 (rows, cols, channels) on the [0, 1] scale."""
    array = np.asarray(pixels)
    scale = scale_of(array.dtype)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    out = np.ascontiguousarray(array, dtype=np.float32)
    if scale != 1.0:
        if out is array:
            out = out.copy()
        out *= np.float32(1.0 / scale)
    return out


class ArrayFrames:
    """Frames held in memory: an (n, rows, cols[, channels]) array or a sequence of frames."""

    def __init__(self, frames: np.ndarray | Sequence[np.ndarray]) -> None:
        if isinstance(frames, np.ndarray):
            if frames.ndim not in (3, 4):
                raise InputError(
                    f"the stack has shape {frames.shape}; pass (frames, rows, cols) or "
                    "(frames, rows, cols, channels)"
                )
            self._frames: Sequence[np.ndarray] | np.ndarray = frames
        else:
            self._frames = list(frames)
        if len(self._frames) < 1:
            raise InputError("the stack is empty; pass at least one frame")
        first = np.asarray(self._frames[0])
        shapes = {np.asarray(f).shape for f in self._frames}
        if len(shapes) != 1 or first.ndim not in (2, 3):
            raise InputError(
                f"the frames have shapes {sorted(shapes)}; every frame must be one "
                "(rows, cols) or (rows, cols, channels) shape"
            )
        scale_of(first.dtype)
        channels = first.shape[2] if first.ndim == 3 else 1
        self._shape = (int(first.shape[0]), int(first.shape[1]), int(channels))
        self.dtype = first.dtype

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    def raw(self, index: int) -> np.ndarray:
        return np.asarray(self._frames[index])

    def frame(self, index: int) -> Frame:
        source = self._frames[index]
        pixels = as_float(source)
        if np.shares_memory(pixels, np.asarray(source)):
            pixels = pixels.copy()  # never hand out the caller's own array
        return Frame(pixels)

    def region(self, index: int, box: Box) -> Frame:
        """Frame ``index`` over ``box`` only (``tiles.read_region``)."""
        source = np.asarray(self._frames[index])[box.slices]
        pixels = as_float(source)
        if np.shares_memory(pixels, source):
            pixels = pixels.copy()
        return Frame(pixels)


def luminance(pixels: np.ndarray) -> np.ndarray:
    """The mean of the channels of (rows, cols, channels) float32 pixels, as a C-contiguous plane.

    Written as channel additions: numpy's ``mean(axis=2)`` over three interleaved channels
    took a quarter of a whole fusion's time.
    """
    if pixels.shape[2] == 1:
        return np.ascontiguousarray(pixels[:, :, 0], dtype=np.float32)
    grey = np.add(pixels[:, :, 0], pixels[:, :, 1], dtype=np.float32)
    for channel in range(2, pixels.shape[2]):
        grey += pixels[:, :, channel]
    grey *= np.float32(1.0 / pixels.shape[2])
    return grey


def as_frames(stack: Frames | np.ndarray | Sequence[np.ndarray]) -> Frames:
    """Anything the public functions accept as a stack, as `Frames`."""
    if isinstance(stack, np.ndarray | list | tuple):
        return ArrayFrames(stack)
    return cast(Frames, stack)
