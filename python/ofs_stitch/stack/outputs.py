"""What ``ofs stack`` writes, every file staged under a temporary name and renamed into place.

- ``<input name>_stacked.<ext>``: the fused image in the input's format (JPEG, PNG or TIFF)
  and sample type (8 or 16 bit; grey stays grey). A JPEG carries the reference frame's EXIF.
- ``depth.tif``: float32, per pixel the frame it came from (0 = the first frame in focus
  order), or its stage z when the frames' OpenFlexure metadata gives one; ``depth.png``: the
  same as 8-bit grey for viewing (black = first frame, white = last).
- ``confidence.png``: 8-bit, how clearly one frame stood out (white) or none did (black).
- ``alignment.csv``: the shared transform table (``io.tables``), one row per frame,
  ``frame_k[p] ~ reference[M @ p]``, with ``gain`` and ``offset`` columns (the luminance or
  first channel's; ``gain_<c>``/``offset_<c>`` per channel when balanced by channel).
- with ``--bunches``: ``bunches/bunch_000.<ext>``... each fusing a run of frames;
  with ``--layers``: ``layers.tif``, a multi-page TIFF of the fused image then every aligned
  frame, for retouching.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyvips

from ..io.atomic import staged_output
from ..io.tables import write_table_csv
from .alignment import Alignment
from .exposure import Balance
from .inputs import StackInput

JPEG_QUALITY = 95


def to_samples(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float [0, 1] pixels as ``dtype`` (uint8 or uint16), rounded and clipped; grey as 2-D."""
    top = np.float32(255.0 if dtype == np.uint8 else 65535.0)
    out = np.empty(image.shape, dtype)
    # In blocks of rows: the float temporaries of a whole image would be four times the
    # fused image's own size, and the largest thing the command holds.
    for start in range(0, image.shape[0], _ROWS_AT_ONCE):
        rows = slice(start, start + _ROWS_AT_ONCE)
        block = image[rows] * top
        np.rint(block, out=block)
        np.clip(block, 0, top, out=block)
        out[rows] = block
    return out[:, :, 0] if out.ndim == 3 and out.shape[2] == 1 else out


_ROWS_AT_ONCE = 256


def _vips(pixels: np.ndarray) -> pyvips.Image:
    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels))
    if pixels.dtype == np.uint16:
        image = image.copy(interpretation="rgb16" if image.bands == 3 else "grey16")
    return image


def reference_exif(stack: StackInput, reference: int) -> bytes | None:
    """The raw EXIF block of the reference frame's file, when it has one."""
    item = stack.files[reference]
    try:
        image = pyvips.Image.new_from_file(str(item.path))
        if "exif-data" in image.get_fields():
            return bytes(image.get("exif-data"))
    except pyvips.Error:
        return None
    return None


def write_image(path: Path, pixels: np.ndarray, exif: bytes | None = None) -> None:
    """Write 8/16-bit pixels by suffix (JPEG quality 95; PNG; TIFF, deflate)."""
    image = _vips(pixels)
    suffix = path.suffix.lower()
    with staged_output(path) as temporary:
        if suffix in (".jpg", ".jpeg"):
            if exif is not None:
                image = image.copy()
                image.set_type(pyvips.GValue.blob_type, "exif-data", exif)
            image.jpegsave(str(temporary), Q=JPEG_QUALITY)
        elif suffix == ".png":
            image.pngsave(str(temporary), compression=3)
        else:
            image.tiffsave(str(temporary), compression="deflate")


def write_float_tiff(path: Path, values: np.ndarray) -> None:
    image = pyvips.Image.new_from_array(np.ascontiguousarray(values, dtype=np.float32))
    with staged_output(path) as temporary:
        image.tiffsave(str(temporary), compression="deflate")


def write_depth(folder: Path, depth: np.ndarray, z: Sequence[float] | None, count: int) -> None:
    values = depth.astype(np.float32)
    if z is not None:
        values = np.interp(depth, np.arange(len(z)), np.asarray(z, dtype=float)).astype(np.float32)
    write_float_tiff(folder / "depth.tif", values)
    view = np.clip(np.rint(depth / max(count - 1, 1) * 255.0), 0, 255).astype(np.uint8)
    write_image(folder / "depth.png", view)


def write_confidence(folder: Path, confidence: np.ndarray) -> None:
    view = np.clip(np.rint(confidence * 255.0), 0, 255).astype(np.uint8)
    write_image(folder / "confidence.png", view)


def write_alignment(path: Path, alignment: Alignment, balance: Balance) -> None:
    columns: dict[str, Sequence[float]] = {}
    if balance.mode == "channels" and balance.gains.shape[1] > 1:
        for c in range(balance.gains.shape[1]):
            columns[f"gain_{c}"] = list(balance.gains[:, c])
            columns[f"offset_{c}"] = list(balance.offsets[:, c])
    else:
        columns["gain"] = list(balance.gains[:, 0])
        columns["offset"] = list(balance.offsets[:, 0])
    write_table_csv(path, alignment.table, columns)


def write_page(path: Path, pixels: np.ndarray) -> Path:
    """One page of ``layers.tif`` kept on disk until it is written (libvips' own format,
    uncompressed: fast to write and to stream back)."""
    _vips(pixels).write_to_file(str(path))
    return path


def write_layers(path: Path, pages: Sequence[np.ndarray | Path]) -> None:
    """One multi-page TIFF: the pages in order (all of one size, bands and sample type), each
    an array or a file from `write_page`, which is streamed top to bottom, never held whole."""
    images = [
        pyvips.Image.new_from_file(str(p), access="sequential") if isinstance(p, Path) else _vips(p)
        for p in pages
    ]
    joined = pyvips.Image.arrayjoin(images, across=1)
    joined = joined.copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", images[0].height)
    with staged_output(path) as temporary:
        joined.tiffsave(str(temporary), compression="deflate")
