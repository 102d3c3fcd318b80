"""Writing the aligned series in the input's form: the same file names in ``aligned/`` for a
folder of frames, one multi-page TIFF ``<stem>_aligned.tif`` for a stack (OME-XML kept).

Frames are written as they come (the stack through tifffile's page iterator), so writing holds
one frame at a time. tifffile writes TIFF of any sample type and OME-TIFF; Pillow the PNGs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .alignment import Canvas
from .frames import Frames, StackFrames

# Past this many bytes a classic TIFF's 32-bit offsets overflow: write BigTIFF.
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25


def aligned_name(frames: Frames) -> str:
    """The output entry under OUT: ``aligned`` (a folder) or ``<stem>_aligned.tif``."""
    if isinstance(frames, StackFrames):
        stem = frames.path.name
        for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        return f"{stem}_aligned.tif"
    return "aligned"


def write_aligned(
    frames: Frames, canvas: Canvas, aligned: Iterator[np.ndarray], target: Path
) -> None:
    """Write every aligned frame (channels, rows, cols) to ``target`` (a file or folder)."""
    if isinstance(frames, StackFrames):
        _write_stack(frames, canvas, aligned, target)
        return
    target.mkdir()
    for name, frame in zip(frames.names, aligned, strict=False):
        _write_frame(target / name, frame[0])


def _write_frame(path: Path, pixels: np.ndarray) -> None:
    if path.suffix.lower() == ".png":
        from PIL import Image

        if pixels.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{path.name}: PNG holds 8- or 16-bit samples, not {pixels.dtype}")
        Image.fromarray(pixels).save(path)
        return
    import tifffile

    tifffile.imwrite(path, pixels, photometric="minisblack")


def _write_stack(
    frames: StackFrames, canvas: Canvas, aligned: Iterator[np.ndarray], target: Path
) -> None:
    import tifffile

    count, channels = len(frames), frames.channels
    shape = (
        (count, channels, canvas.rows, canvas.cols)
        if channels > 1
        else (
            count,
            canvas.rows,
            canvas.cols,
        )
    )
    axes = "TCYX" if channels > 1 else "TYX"
    size = int(np.prod(shape)) * frames.dtype.itemsize

    def pages() -> Iterator[np.ndarray]:
        for frame in aligned:
            yield from frame

    description = _kept_ome_xml(frames, canvas)
    with tifffile.TiffWriter(
        target, bigtiff=size > _CLASSIC_TIFF_LIMIT, ome=description is None
    ) as tiff:
        if description is not None:
            tiff.write(
                pages(),
                shape=shape,
                dtype=frames.dtype,
                photometric="minisblack",
                description=description,
                metadata=None,
            )
        else:
            tiff.write(
                pages(),
                shape=shape,
                dtype=frames.dtype,
                photometric="minisblack",
                metadata={"axes": axes},
            )


def _kept_ome_xml(frames: StackFrames, canvas: Canvas) -> str | None:
    """The input's own OME-XML with the new plane size, where the pages keep their order
    (time outermost, as written here); else None and tifffile writes fresh OME-XML."""
    xml = frames.ome_xml
    if xml is None or xml.count("<Pixels ") != 1 or not _time_outermost(frames.axes):
        return None
    xml = re.sub(r'(<Pixels\b[^>]*?\bSizeX=")\d+(")', rf"\g<1>{canvas.cols}\2", xml)
    return re.sub(r'(<Pixels\b[^>]*?\bSizeY=")\d+(")', rf"\g<1>{canvas.rows}\2", xml)


def _time_outermost(axes: str) -> bool:
    outer = axes[:-2]
    return "C" not in outer or outer.index("C") == len(outer) - 1
