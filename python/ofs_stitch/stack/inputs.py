"""The command's input: a folder of frames or one multi-page TIFF, in focus order.

A folder's JPEG, PNG and TIFF frames are taken in natural name order (``p2`` before ``p10``),
or, when every frame carries an OpenFlexure UserComment with a stage z, in order of z (which is
then also the unit ``depth.tif`` is given in). A multi-page TIFF gives one frame per page.
``reverse`` turns the order round. Every frame must have the first frame's size, band count and
sample type (8 or 16 bit); anything else is one error naming the file and the fix. Pixels are
decoded only when a stage asks for a frame (`FileFrames`), never all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from ..errors import ImageReadError, InputError
from ..io.decode import read_pixels
from ..io.discovery import is_image_name, natural_sort_key
from ..io.header import ImageHeader, read_header
from ..openflexure.metadata import parse_stage_metadata
from .frames import Frame, as_float

STACK_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
SAMPLE_TYPES: dict[str, np.dtype] = {"uchar": np.dtype(np.uint8), "ushort": np.dtype(np.uint16)}


@dataclass(frozen=True)
class FrameFile:
    """One frame on disk: a file, and the page of a multi-page TIFF (0 otherwise)."""

    path: Path
    page: int = 0

    @property
    def name(self) -> str:
        return self.path.name if self.page == 0 and not self.multipage else f"page {self.page}"

    multipage: bool = False


@dataclass(frozen=True)
class StackInput:
    """The frames of one stack, in order, with what the outputs need to know about them."""

    source: Path
    files: tuple[FrameFile, ...]
    shape: tuple[int, int, int]
    dtype: np.dtype
    suffix: str  # the output's: ".jpg", ".png" or ".tif"
    z: tuple[float, ...] | None  # stage z of each frame (OpenFlexure), when every frame has one
    headers: tuple[ImageHeader, ...]

    def __len__(self) -> int:
        return len(self.files)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]

    @property
    def stem(self) -> str:
        return self.source.stem if self.source.is_file() else self.source.name


class FileFrames:
    """`frames.Frames` read from the files of a `StackInput`, one frame per call."""

    def __init__(self, stack: StackInput) -> None:
        self.stack = stack

    def __len__(self) -> int:
        return len(self.stack)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.stack.shape

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded: (rows, cols, bands) of the file's sample type."""
        item = self.stack.files[index]
        if item.multipage:
            try:
                pixels = pyvips.Image.new_from_file(str(item.path), page=item.page).numpy()
            except pyvips.Error as error:
                raise ImageReadError(
                    f"cannot read page {item.page} of {item.path}: {_first_line(error)}"
                ) from None
        else:
            pixels = read_pixels(item.path)
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        if pixels.shape != self.stack.shape or pixels.dtype != self.stack.dtype:
            raise InputError(
                f"{item.path}{'' if not item.multipage else f' page {item.page}'} decodes to "
                f"{pixels.shape} {pixels.dtype}, not {self.stack.shape} {self.stack.dtype} "
                "like the first frame; give frames of one size and type"
            )
        return pixels

    def frame(self, index: int) -> Frame:
        return Frame(as_float(self.raw(index)))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def read_stack(source: Path | str, *, reverse: bool = False) -> StackInput:
    """The frames of ``source`` (a folder or a multi-page TIFF), checked and ordered."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"input {path} does not exist: check the path")
    if path.is_file():
        stack = _multipage(path)
    else:
        stack = _folder(path)
    if reverse:
        stack = StackInput(
            stack.source,
            stack.files[::-1],
            stack.shape,
            stack.dtype,
            stack.suffix,
            None if stack.z is None else stack.z[::-1],
            stack.headers[::-1],
        )
    return stack


def _folder(folder: Path) -> StackInput:
    paths = sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and is_image_name(p.name) and p.suffix.lower() in STACK_EXTENSIONS
        ),
        key=lambda p: natural_sort_key(p.name),
    )
    if len(paths) < 2:
        raise InputError(
            f"input folder {folder} holds {len(paths)} frame{'s' if len(paths) != 1 else ''} "
            f"({', '.join(STACK_EXTENSIONS)}); a focus stack needs at least 2"
        )
    headers = [read_header(p) for p in paths]
    first = headers[0]
    dtype = _sample_type(first)
    for header in headers[1:]:
        if (header.height, header.width, header.bands) != (first.height, first.width, first.bands):
            raise InputError(
                f"{header.path.name} is {header.width}x{header.height} with {header.bands} "
                f"band(s) but {first.path.name} is {first.width}x{first.height} with "
                f"{first.bands}; every frame of a stack must have the same size"
            )
        if _sample_type(header) != dtype:
            raise InputError(
                f"{header.path.name} has {header.pixel_format} samples but {first.path.name} "
                f"{first.pixel_format}; give frames of one bit depth"
            )
    z = _stage_z(headers)
    if z is not None:
        depth = z
        order = sorted(range(len(paths)), key=lambda i: (depth[i], natural_sort_key(paths[i].name)))
        paths = [paths[i] for i in order]
        headers = [headers[i] for i in order]
        z = [z[i] for i in order]
    return StackInput(
        folder,
        tuple(FrameFile(p) for p in paths),
        (first.height, first.width, _bands(first)),
        dtype,
        _suffix(first.path.suffix),
        None if z is None else tuple(z),
        tuple(headers),
    )


def _multipage(path: Path) -> StackInput:
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"input {path} is a file; give a folder of frames or one multi-page TIFF")
    header = read_header(path)
    try:
        pages = int(pyvips.Image.new_from_file(str(path)).get("n-pages"))
    except pyvips.Error as error:
        raise ImageReadError(f"cannot read {path}: {_first_line(error)}") from None
    if pages < 2:
        raise InputError(
            f"{path} has {pages} page; a focus stack needs at least 2 (a multi-page TIFF, or "
            "a folder of frames)"
        )
    return StackInput(
        path,
        tuple(FrameFile(path, page, multipage=True) for page in range(pages)),
        (header.height, header.width, _bands(header)),
        _sample_type(header),
        ".tif",
        None,
        (header,),
    )


def _bands(header: ImageHeader) -> int:
    # An alpha band is dropped by nothing here: frames with alpha are refused by _sample_type's
    # caller below, since fusing transparency has no meaning for a focus stack.
    if header.bands not in (1, 3):
        raise InputError(
            f"{header.path.name} has {header.bands} bands; give grey (1) or RGB (3) frames "
            "(remove the alpha channel)"
        )
    return header.bands


def _sample_type(header: ImageHeader) -> np.dtype:
    dtype: np.dtype | None = SAMPLE_TYPES.get(header.pixel_format)
    if dtype is None:
        raise InputError(
            f"{header.path.name} has {header.pixel_format} samples; give 8-bit or 16-bit frames"
        )
    return dtype


def _suffix(suffix: str) -> str:
    lower = suffix.lower()
    return ".jpg" if lower in (".jpg", ".jpeg") else (".png" if lower == ".png" else ".tif")


def _stage_z(headers: list[ImageHeader]) -> list[float] | None:
    """Every frame's stage z from its OpenFlexure UserComment, when all have one and they differ."""
    values: list[float] = []
    for header in headers:
        position = parse_stage_metadata(header.exif.user_comment_json()).position
        if position is None or len(position) < 3:
            return None
        values.append(float(position[2]))
    return values if len(set(values)) == len(values) else None
