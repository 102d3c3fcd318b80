"""Decoding tile pixels (once per tile) for registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips

from . import _core
from .errors import decode_error


def read_tile(path: Path, scale: float = 1.0) -> np.ndarray:
    """Decode ``path`` to a numpy array, (rows, cols) or (rows, cols, bands), optionally resized.

    Truncated or corrupt files raise ImageReadError naming the file: libvips would otherwise
    fill the missing part with grey and let a half-decoded tile through.
    """
    try:
        # Sequential access: the whole tile is read top to bottom once, so libvips can skip
        # the random-access cache (about 15 % less CPU per decode).
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")
        if scale != 1.0:
            image = image.resize(scale)
        return image.numpy()
    except pyvips.Error as error:
        raise decode_error(path, error) from None


def grey_region(pixels: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """The region as contiguous float32 grey: colour bands averaged, alpha ignored."""
    crop = pixels[region]
    if crop.dtype in (np.uint8, np.uint16):
        # One compiled pass over the interleaved bands (numpy needs four).
        return _core.grey_float32(crop)
    if crop.ndim == 2:
        return np.ascontiguousarray(crop, dtype=np.float32)
    if crop.shape[2] < 3:  # grey + alpha
        return np.ascontiguousarray(crop[:, :, 0], dtype=np.float32)
    return crop[:, :, :3].mean(axis=2, dtype=np.float32)
