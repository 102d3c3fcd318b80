"""Pixels to the float32 grey that registration correlates: the one grey conversion.

Grey is the mean of the first three bands when there are three or more (RGB, RGBA, CMYK and
other multi-band images: a fourth band, alpha or K, is ignored), else the first band (grey,
grey + alpha). Equal weights, not luminance weights: registration needs structure, not colour
fidelity, and the plain mean averages the noise of all three channels down.
"""

from __future__ import annotations

import numpy as np

from .. import _core


def grey_float32(pixels: np.ndarray) -> np.ndarray:
    """(rows, cols) or (rows, cols, bands) pixels of any strides as contiguous float32 grey.

    8- and 16-bit pixels go through the compiled kernel (one pass over the interleaved bands,
    where numpy needs four); other sample types through numpy, with the same definition.
    """
    if pixels.dtype in (np.uint8, np.uint16):
        return _core.image.grey_float32(pixels)
    if pixels.ndim == 2:
        return np.ascontiguousarray(pixels, dtype=np.float32)
    if pixels.shape[2] < 3:
        return np.ascontiguousarray(pixels[:, :, 0], dtype=np.float32)
    return pixels[:, :, :3].mean(axis=2, dtype=np.float32)
