"""The frames of a series, read one at a time: a folder of TIFF/PNG files, one multi-page TIFF
(OME-TIFF included, axes T or T x C), or an array in memory.

Every source answers the same questions (how many frames, their shape and sample type, their
names, how many channels) and reads any frame on demand, so the stages never hold more than
the few frames they work on. tifffile reads the multi-page files: it maps a (time, channel)
index to its page through the series' axes (OME, ImageJ hyperstack or plain pages) and reads
only that page, and it writes the aligned stack back with the same axes and OME-XML; libvips
and Pillow read pages too but know nothing of OME's axes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ImageReadError, InputError
from ..io.discovery import natural_sort_key

FRAME_EXTENSIONS = (".tif", ".tiff", ".png")
SAMPLE_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
# Axes tifffile may give the time axis of a stack (I: plain pages, Q: unknown, Z: a "stack"
# that is really a time series, as many cameras write it).
_TIME_AXES = "TZIQ"


class Frames(Protocol):
    """A series: ``len`` frames of ``shape`` (rows, cols), ``channels`` each, of ``dtype``."""

    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def channels(self) -> int: ...
    def __len__(self) -> int: ...

    def read(self, index: int, channel: int | None = None) -> np.ndarray:
        """Frame ``index``: (rows, cols) of ``channel``, or (channels, rows, cols) for None."""
        ...


@dataclass(frozen=True)
class ArrayFrames:
    """Frames held in memory: (n, rows, cols) or (n, channels, rows, cols)."""

    array: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def of(cls, array: np.ndarray, names: tuple[str, ...] | None = None) -> ArrayFrames:
        pixels = np.asarray(array)
        if pixels.ndim not in (3, 4) or pixels.shape[0] == 0:
            raise InputError(
                f"frames have shape {pixels.shape}; pass (n, rows, cols) or "
                "(n, channels, rows, cols) with n >= 1"
            )
        _check_dtype(pixels.dtype, "the frames")
        names = names or tuple(str(number) for number in range(pixels.shape[0]))
        if len(names) != pixels.shape[0]:
            raise InputError(f"{len(names)} names for {pixels.shape[0]} frames; give one each")
        return cls(pixels, tuple(names))

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[-2]), int(self.array.shape[-1]))

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def channels(self) -> int:
        return 1 if self.array.ndim == 3 else int(self.array.shape[1])

    def read(self, index: int, channel: int | None = None) -> np.ndarray:
        frame = self.array[index]
        if self.array.ndim == 3:
            return frame if channel is not None else frame[np.newaxis]
        return frame if channel is None else frame[channel]


class FolderFrames:
    """One grey image per frame in a folder, in natural name order (``f2`` before ``f10``)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise InputError(f"input {folder} does not exist; give a folder of frames or a TIFF")
        self.paths = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file()),
            key=lambda p: natural_sort_key(p.name),
        )
        if not self.paths:
            raise InputError(
                f"input folder {folder} holds no frames ({', '.join(FRAME_EXTENSIONS)}); give "
                "the folder that holds the series"
            )
        self.names = tuple(p.name for p in self.paths)
        first = self._decode(0)
        self.shape = (int(first.shape[0]), int(first.shape[1]))
        self.dtype = first.dtype
        self.channels = 1

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int, channel: int | None = None) -> np.ndarray:
        frame = self._decode(index)
        if frame.shape != self.shape or frame.dtype != self.dtype:
            raise InputError(
                f"frame {self.paths[index]} is {frame.shape[0]} x {frame.shape[1]} "
                f"{frame.dtype} but {self.paths[0].name} is {self.shape[0]} x {self.shape[1]} "
                f"{self.dtype}; every frame of a series must have one size and sample type"
            )
        return frame if channel is not None else frame[np.newaxis]

    def _decode(self, index: int) -> np.ndarray:
        path = self.paths[index]
        pixels = _plain_tiff(path)
        if pixels is None:
            # Imported only here: it loads libvips (35 ms), which plain TIFF frames never need.
            from ..io.decode import read_pixels

            pixels = read_pixels(path)
        if pixels.ndim == 3:
            if pixels.shape[2] != 1:
                raise InputError(
                    f"frame {path} has {pixels.shape[2]} bands; ofs drift reads grey frames: "
                    "convert the series to grey (or one channel per file) first"
                )
            pixels = pixels[:, :, 0]
        _check_dtype(pixels.dtype, f"frame {path}")
        return pixels


def _plain_tiff(path: Path) -> np.ndarray | None:
    """A one-page grey TIFF's pixels read by tifffile, else None (libvips then reads the file).

    Why: a series is read twice (registration, then writing), and for the plain grey TIFFs
    cameras write tifffile takes 0.4 ms a 512^2 frame where libvips' load and copy to numpy take
    4 ms: a fifth of a whole 50-frame run. Anything unusual (a palette, inverted grey, planar
    samples, a compression tifffile cannot decode, a damaged file) goes to libvips, which also
    gives the one-line error naming the file."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            if not isinstance(page, tifffile.TiffPage):
                return None
            if page.photometric != tifffile.PHOTOMETRIC.MINISBLACK or page.samplesperpixel != 1:
                return None
            pixels = page.asarray()
    except Exception:  # noqa: BLE001  (any failure: libvips reads it or names the problem)
        return None
    return pixels if pixels.ndim == 2 else None


class StackFrames:
    """The pages of one multi-page TIFF / OME-TIFF, with axes T (time) and optionally C."""

    def __init__(self, path: Path) -> None:
        import tifffile

        self.path = path
        try:
            self._file = tifffile.TiffFile(path)
            series = self._file.series[0]
            axes = series.axes
            shape = tuple(int(n) for n in series.shape)
            self.ome_xml: str | None = self._file.ome_metadata if self._file.is_ome else None
            self.imagej: dict[str, Any] | None = self._file.imagej_metadata
        except Exception as error:  # tifffile raises TiffFileError, ValueError, OSError...
            raise ImageReadError(
                f"cannot read {path} as a TIFF stack: {error}; give a multi-page TIFF or a "
                "folder of frames"
            ) from None
        self._pages = series.pages
        if "S" in axes or not axes.endswith("YX"):
            raise InputError(
                f"{path} has axes {axes}; ofs drift reads grey stacks with axes T, Y, X "
                "(optionally C): convert RGB to grey first"
            )
        outer = axes[:-2]
        self.axes = axes
        time_axes = [a for a in outer if a in _TIME_AXES]
        others = [a for a in outer if a not in _TIME_AXES and a != "C"]
        if len(time_axes) > 1 or others or outer.count("C") > 1:
            raise InputError(
                f"{path} has axes {axes}; ofs drift needs one time axis (T) and at most one "
                "channel axis (C)"
            )
        self._outer_shape = shape[:-2]
        self._time_axis = outer.index(time_axes[0]) if time_axes else None
        self._channel_axis = outer.index("C") if "C" in outer else None
        frames = shape[self._time_axis] if self._time_axis is not None else 1
        self.channels = shape[self._channel_axis] if self._channel_axis is not None else 1
        self.shape = (shape[-2], shape[-1])
        self.dtype = np.dtype(series.dtype)
        _check_dtype(self.dtype, str(path))
        self.names = tuple(f"{path.name}[{t}]" for t in range(frames))
        self._lock = threading.Lock()  # one file handle, seeked per page

    def __len__(self) -> int:
        return len(self.names)

    def read(self, index: int, channel: int | None = None) -> np.ndarray:
        channels = range(self.channels) if channel is None else (channel,)
        planes = [self._page(index, c) for c in channels]
        return planes[0] if channel is not None else np.stack(planes)

    def _page(self, index: int, channel: int) -> np.ndarray:
        position = [0] * len(self._outer_shape)
        if self._time_axis is not None:
            position[self._time_axis] = index
        if self._channel_axis is not None:
            position[self._channel_axis] = channel
        page_number = int(np.ravel_multi_index(position, self._outer_shape)) if position else 0
        try:
            with self._lock:
                page = self._pages[page_number]
                pixels = page.asarray()  # type: ignore[union-attr]
        except Exception as error:
            raise ImageReadError(
                f"cannot read frame {index} of {self.path}: {error}; re-copy the file"
            ) from None
        return np.asarray(pixels).reshape(self.shape)

    def close(self) -> None:
        self._file.close()


def open_frames(source: Path | str | np.ndarray | Frames) -> Frames:
    """A series from a folder, a TIFF stack, an array or a source already open."""
    if isinstance(source, np.ndarray):
        return ArrayFrames.of(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return FolderFrames(path)
        if not path.exists():
            raise InputError(f"input {path} does not exist; give a folder of frames or a TIFF")
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise InputError(
                f"input {path} is neither a folder nor a TIFF stack; give a folder of "
                "TIFF/PNG frames or one multi-page TIFF"
            )
        return StackFrames(path)
    return source


def check_channel(frames: Frames, channel: int | None) -> int:
    """The channel to register (default 0), checked against the series."""
    chosen = 0 if channel is None else channel
    if not 0 <= chosen < frames.channels:
        raise InputError(
            f"--channel {chosen} does not exist: the series has {frames.channels} channel"
            f"{'s' if frames.channels != 1 else ''} (0..{frames.channels - 1})"
        )
    return chosen


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if np.dtype(dtype) not in SAMPLE_TYPES and np.dtype(dtype).kind != "f":
        raise InputError(
            f"{what} have samples of type {dtype}; ofs drift reads 8-bit, 16-bit or float grey"
        )
