"""Small image files of every pixel kind the decoder meets: 8/16-bit, grey/RGB, with and without
alpha, CMYK, palettes; JPEG, PNG and TIFF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyvips
from PIL import Image


def photo(shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    """Smooth content with detail, like a micrograph, spanning most of the sample range."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    wave = 0.5 + 0.3 * np.sin(rows / 7.0) * np.cos(cols / 11.0) + 0.15 * np.sin((rows + cols) / 3.0)
    top = np.iinfo(dtype).max
    planes = [wave, wave[::-1], 1 - wave, 0.25 + wave / 2][: shape[2] if len(shape) == 3 else 1]
    stacked = np.stack(planes, axis=2) if len(shape) == 3 else planes[0]
    return np.clip(stacked * top, 0, top).astype(dtype)


def _vips(pixels: np.ndarray, interpretation: str) -> pyvips.Image:
    return pyvips.Image.new_from_array(pixels, interpretation=interpretation)


def _palette(path: Path, shape: tuple[int, int], transparent: bool) -> None:
    image = Image.fromarray(photo((*shape, 3))).quantize(48)
    if transparent:
        image.save(path, transparency=0)
    else:
        image.save(path)


# name -> how to write it (the suffix is the file's format).
WRITERS: dict[str, Callable[[Path, tuple[int, int]], None]] = {
    "grey8.jpg": lambda p, s: _vips(photo(s), "b-w").jpegsave(str(p), Q=90),
    "rgb8.jpg": lambda p, s: _vips(photo((*s, 3)), "srgb").jpegsave(str(p), Q=90),
    "cmyk8.jpg": lambda p, s: (
        _vips(photo((*s, 3)), "srgb").colourspace("cmyk").jpegsave(str(p), Q=90)
    ),
    "grey16.png": lambda p, s: _vips(photo(s, np.uint16), "grey16").pngsave(str(p)),
    "greyalpha8.png": lambda p, s: _vips(photo((*s, 2)), "b-w").pngsave(str(p)),
    "greyalpha16.png": lambda p, s: _vips(photo((*s, 2), np.uint16), "grey16").pngsave(str(p)),
    "rgb16.png": lambda p, s: _vips(photo((*s, 3), np.uint16), "rgb16").pngsave(str(p)),
    "rgba8.png": lambda p, s: _vips(photo((*s, 4)), "srgb").pngsave(str(p)),
    "palette.png": lambda p, s: _palette(p, s, transparent=False),
    "palettealpha.png": lambda p, s: _palette(p, s, transparent=True),
    "grey16.tif": lambda p, s: _vips(photo(s, np.uint16), "grey16").tiffsave(str(p)),
    "rgb16.tif": lambda p, s: _vips(photo((*s, 3), np.uint16), "rgb16").tiffsave(str(p)),
    "rgba16.tif": lambda p, s: _vips(photo((*s, 4), np.uint16), "rgb16").tiffsave(str(p)),
}
KINDS = tuple(WRITERS)


def write_sample(folder: Path, kind: str, shape: tuple[int, int] = (37, 53)) -> Path:
    """Write an image of ``kind`` (a key of WRITERS) into ``folder``; returns its path."""
    path = folder / kind
    WRITERS[kind](path, shape)
    return path


def old_file_normaliser(image: pyvips.Image, fmt: Any) -> pyvips.Image:
    """The renderer's normaliser for tiles decoded from files, as it was before io.pixel_format
    (the reference the differential tests hold the new code to)."""
    if image.interpretation == "cmyk":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.bands > fmt.bands:
        image = image.extract_band(0, n=fmt.bands)
    if image.format == "uchar" and fmt.dtype == np.uint16:
        image = (image.cast("ushort") * 257).cast("ushort")
    if image.bands < fmt.bands:
        image = image.bandjoin([image] * (fmt.bands - image.bands))
    return image
