"""Decoding images: the one way every stage and family reads pixels from a file.

`read_pixels` gives a numpy array of the file's own samples (uint8, uint16, ...; bands as
libvips presents them: grey, grey + alpha, RGB, RGBA, CMYK, palettes expanded), optionally
decoded smaller, resized, cropped to a region and converted to float32 grey. `open_image` gives
the same pixels as a lazily decoded libvips image, for callers that stream rows (the renderer).
Bringing pixels into a mosaic's bands and depth is `pixel_format`'s job, not the decoder's.

Truncated or corrupt files raise ImageReadError naming the file (``decode_error``): libvips
would otherwise fill the missing part with grey and let a half-decoded image through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips
from PIL import Image, ImageFile

from ..core.grey import grey_float32
from ..errors import InputError, decode_error
from .header import JPEG_LOADER, ImageFacts

# Small JPEG tiles are decoded by Pillow, larger ones and every other kind by libvips. libvips
# hands each image to its worker threads, about a millisecond of thread switching per image,
# which dominates small tiles: 640x480 takes 1.4 ms of CPU with Pillow against 2.7 ms, 820x616
# 3.0 against 4.6 ms. From about two megapixels libvips' decoder is the faster (1640x1232: 12
# against 15-18 ms). Both decode with libjpeg-turbo's default settings: the pixels are identical,
# at full size and shrunk on load alike. The limit is on the file's size: shrinking on load
# saves inverse-transform work, but every coefficient is still entropy-decoded.
PILLOW_JPEG_MAX_PIXELS = 1_500_000
# The factors by which libjpeg can shrink while decoding (scaled inverse DCT).
JPEG_SHRINK_FACTORS = (8, 4, 2)

Region = tuple[slice, slice]


def read_pixels(
    path: Path | str,
    *,
    shrink: int = 1,
    scale: float = 1.0,
    region: Region | None = None,
    grey: bool = False,
    loader: str | None = None,
) -> np.ndarray:
    """The pixels of ``path`` as (rows, cols) or (rows, cols, bands) of the file's sample type.

    In this order, each step optional:

    - ``shrink`` (1, 2, 4 or 8): decode a JPEG at 1/shrink of its size (scaled inverse DCT,
      sides rounded down); other formats ignore it and decode at full size.
    - ``scale``: then resize by this factor (libvips resize: area averaging, then Lanczos3
      for the fractional rest).
    - ``region``: then keep these (rows, cols) slices (numpy-style, step 1).
    - ``grey``: then convert to float32 grey (`core.grey.grey_float32`).

    ``loader``: the file's libvips loader when its header was already read
    (`ImageHeader.loader`); saves a second look at the file when shrinking.
    Raises ImageReadError naming the file when it cannot be decoded.
    """
    _check_shrink(shrink)
    pixels = _small_jpeg(Path(path), shrink) if scale == 1.0 else None
    if pixels is not None:
        if region is not None:
            top, left, rows, cols = _window(region, pixels.shape[0], pixels.shape[1])
            pixels = pixels[top : top + rows, left : left + cols]
    else:
        image = open_image(path, shrink=shrink, loader=loader)
        try:
            if scale != 1.0:
                image = image.resize(scale)
            if region is not None:
                image = image.crop(*_crop_box(_window(region, image.height, image.width)))
            pixels = image.numpy()
        except pyvips.Error as error:
            raise decode_error(path, error) from None
    return grey_float32(pixels) if grey else pixels


def open_image(
    path: Path | str, *, shrink: int = 1, loader: str | None = None, access: str = "sequential"
) -> pyvips.Image:
    """``path`` as a lazily decoded libvips image, read top to bottom once.

    ``shrink`` and ``loader`` as in `read_pixels`. Decoding happens as rows are asked for;
    a truncated file raises pyvips.Error then (callers turn it into ``decode_error``).
    ``access="random"``: any region may be asked for, in any order; a tiled or striped TIFF
    then decodes only the tiles or strips of that region (the chunked fusion's tile reads).
    """
    _check_shrink(shrink)
    try:
        if shrink > 1 and loader is None:
            # Only JPEG loaders take a shrink: learn which loader the file needs (header only).
            loader = str(pyvips.Image.new_from_file(str(path)).get("vips-loader"))
        options = {"shrink": shrink} if shrink > 1 and _is_jpeg(loader) else {}
        # Sequential access: the image is read top to bottom once, so libvips can skip the
        # random-access cache (about 15 % less CPU per decode).
        return pyvips.Image.new_from_file(str(path), access=access, fail_on="truncated", **options)
    except pyvips.Error as error:
        raise decode_error(path, error) from None


def shrink_on_load(image: ImageFacts, shape: tuple[int, int]) -> int:
    """The largest shrink-on-load factor that still decodes ``image`` to at least ``shape``
    (height, width): 8, 4 or 2 for JPEGs that allow it, else 1 (decode at full size)."""
    if not _is_jpeg(image.loader):
        return 1
    factor = min(image.width / shape[1], image.height / shape[0])
    return max((s for s in JPEG_SHRINK_FACTORS if s <= factor), default=1)


def _is_jpeg(loader: str | None) -> bool:
    return loader is not None and loader.startswith(JPEG_LOADER)


def _check_shrink(shrink: int) -> None:
    if shrink != 1 and shrink not in JPEG_SHRINK_FACTORS:
        raise InputError(f"shrink={shrink}: use 1, 2, 4 or 8")


def _small_jpeg(path: Path, shrink: int) -> np.ndarray | None:
    """The pixels of a small 8-bit grey or RGB JPEG, decoded by Pillow; None for libvips to
    decode (larger images, other modes, and any file Pillow fails on, so that errors are
    reported one way)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone in this process told Pillow to pad truncated files with grey.
        return None
    try:
        with Image.open(path, formats=["JPEG"]) as image:
            width, height = image.size
            if image.mode not in ("L", "RGB") or width * height > PILLOW_JPEG_MAX_PIXELS:
                return None
            if shrink == 1:
                image.load()
                return np.asarray(image)
            # libvips rounds shrunk sides down (and refuses to shrink to nothing); libjpeg
            # rounds them up, so the last row and column are dropped to match.
            rows, cols = height // shrink, width // shrink
            if rows < 1 or cols < 1:
                return None
            image.draft(image.mode, (cols, rows))
            if image.size != (-(-width // shrink), -(-height // shrink)):
                return None  # Pillow could not scale this file: leave it to libvips
            image.load()
            return np.asarray(image)[:rows, :cols]
    except (OSError, SyntaxError, ValueError):
        return None


def _window(region: Region, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, rows, cols) of numpy-style (rows, cols) slices of a height x width image."""
    rows, cols = region
    top, bottom, row_step = rows.indices(height)
    left, right, col_step = cols.indices(width)
    if row_step != 1 or col_step != 1:
        raise InputError(f"region {region} has a step; read the region, then slice it")
    if bottom <= top or right <= left:
        raise InputError(f"region {region} of a {width} x {height} image is empty")
    return top, left, bottom - top, right - left


def _crop_box(window: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """libvips' (left, top, width, height) of a (top, left, rows, cols) window."""
    top, left, rows, cols = window
    return left, top, cols, rows
