"""Decoding tile pixels (once per tile) for registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips
from PIL import Image, ImageFile

from .. import _core
from ..errors import decode_error
from .discovery import JPEG_EXTENSIONS

# Small JPEG tiles are decoded by Pillow, larger ones and every other kind by libvips. libvips
# hands each image to its worker threads, about a millisecond of thread switching per image,
# which dominates small tiles: 640x480 takes 1.4 ms of CPU with Pillow against 2.7 ms, 820x616
# 3.0 against 4.6 ms. From about two megapixels libvips' decoder is the faster (1640x1232: 12
# against 15-18 ms). Both decode with libjpeg-turbo's default settings: the pixels are identical.
PILLOW_JPEG_MAX_PIXELS = 1_500_000


def read_tile(path: Path, scale: float = 1.0) -> np.ndarray:
    """Decode ``path`` to a numpy array, (rows, cols) or (rows, cols, bands), optionally resized.

    Truncated or corrupt files raise ImageReadError naming the file: libvips would otherwise
    fill the missing part with grey and let a half-decoded tile through.
    """
    if scale == 1.0 and Path(path).suffix.lower() in JPEG_EXTENSIONS:
        pixels = _small_jpeg(path)
        if pixels is not None:
            return pixels
    try:
        # Sequential access: the whole tile is read top to bottom once, so libvips can skip
        # the random-access cache (about 15 % less CPU per decode).
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")
        if scale != 1.0:
            image = image.resize(scale)
        return image.numpy()
    except pyvips.Error as error:
        raise decode_error(path, error) from None


def _small_jpeg(path: Path) -> np.ndarray | None:
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
            image.load()
            return np.asarray(image)
    except (OSError, SyntaxError, ValueError):
        return None


def grey_region(pixels: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """The region as contiguous float32 grey: colour bands averaged, alpha ignored."""
    crop = pixels[region]
    if crop.dtype in (np.uint8, np.uint16):
        # One compiled pass over the interleaved bands (numpy needs four).
        return _core.image.grey_float32(crop)
    if crop.ndim == 2:
        return np.ascontiguousarray(crop, dtype=np.float32)
    if crop.shape[2] < 3:  # grey + alpha
        return np.ascontiguousarray(crop[:, :, 0], dtype=np.float32)
    return crop[:, :, :3].mean(axis=2, dtype=np.float32)
