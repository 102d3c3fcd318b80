"""The pyramid's 2 x 2 means, against numpy, on every layout the kernel takes."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.fusion.pyramid import halve


def _means(pixels: np.ndarray) -> np.ndarray:
    """2 x 2 means rounded half up; at an odd last row or column, of the pixels that exist."""
    rows, cols = pixels.shape[:2]
    pad = ((0, rows % 2), (0, cols % 2))
    sums = np.pad(pixels.astype(np.uint64), (*pad, (0, 0)))
    counts = np.pad(np.ones((rows, cols), np.uint64), pad)
    total = sums[0::2, 0::2] + sums[1::2, 0::2] + sums[0::2, 1::2] + sums[1::2, 1::2]
    count = counts[0::2, 0::2] + counts[1::2, 0::2] + counts[0::2, 1::2] + counts[1::2, 1::2]
    return ((total + count[:, :, None] // 2) // count[:, :, None]).astype(pixels.dtype)


@pytest.mark.parametrize("shape", [(64, 64, 1), (37, 51, 1), (30, 23, 3), (1, 1, 1), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_halving_is_the_rounded_mean_of_each_2x2(shape: tuple[int, ...], dtype: type) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    np.testing.assert_array_equal(halve(pixels), _means(pixels))
    # Columns with a stride (the kernel's general loop) give the same means.
    spaced = np.zeros((shape[0], 2 * shape[1], shape[2]), dtype)
    spaced[:, ::2] = pixels
    np.testing.assert_array_equal(halve(spaced[:, ::2]), _means(pixels))
    # Rows with a stride (a chunk's view of a wider block) take the interleaved path too.
    wide = np.zeros((shape[0], shape[1] + 5, shape[2]), dtype)
    wide[:, : shape[1]] = pixels
    np.testing.assert_array_equal(halve(wide[:, : shape[1]]), _means(pixels))
