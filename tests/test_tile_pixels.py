"""Decoded tile pixels to the float32 grey that registration correlates."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch import _core
from ofs_stitch.tile_pixels import grey_region


def numpy_grey(pixels: np.ndarray) -> np.ndarray:
    """The definition: mean of the first three bands when there are three or more, else band 0."""
    values = pixels.astype(np.float64)
    if values.ndim == 2:
        return values
    if values.shape[2] < 3:
        return values[:, :, 0]
    return values[:, :, :3].sum(axis=2) / 3.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("bands", [None, 1, 2, 3, 4])
def test_grey_matches_the_definition_on_a_strided_region(dtype: type, bands: int | None) -> None:
    rng = np.random.default_rng(bands or 0)
    top = np.iinfo(dtype).max
    shape = (37, 53) if bands is None else (37, 53, bands)
    tile = rng.integers(0, top, size=shape, endpoint=True).astype(dtype)
    region = (slice(5, 30), slice(7, 50, 2))  # a column stride of two pixels
    grey = grey_region(tile, region)
    assert grey.dtype == np.float32 and grey.flags.c_contiguous
    np.testing.assert_allclose(grey, numpy_grey(tile[region]), rtol=1e-6)


def test_grey_of_reversed_views_and_extremes() -> None:
    tile = np.zeros((4, 6, 3), dtype=np.uint16)
    tile[0, 0] = 65535  # white: the integer sum must not overflow
    tile[3, 5] = (1, 2, 4)
    grey = _core.grey_float32(tile[::-1, ::-1])
    assert grey[3, 5] == pytest.approx(65535.0)
    assert grey[0, 0] == pytest.approx(7 / 3)
    assert grey.sum() == pytest.approx(65535.0 + 7 / 3)


def test_other_sample_types_fall_back_to_numpy_or_are_refused() -> None:
    floats = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    np.testing.assert_allclose(
        grey_region(floats, (slice(None), slice(None))), numpy_grey(floats), rtol=1e-6
    )
    with pytest.raises(ValueError, match="uint8 or uint16"):
        _core.grey_float32(floats)
    with pytest.raises(ValueError, match="rows, cols"):
        _core.grey_float32(np.zeros(5, dtype=np.uint8))


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_block_mean_matches_the_definition_on_a_strided_view(factor: int) -> None:
    # The coarse level of the coarse-to-fine search; partial blocks at the edges are left out.
    image = np.random.default_rng(factor).random((83, 61), dtype=np.float32) * 255
    for view in (image, image[3:, ::-1][:, 1:], image[::2, :]):
        rows, cols = (view.shape[0] // factor) * factor, (view.shape[1] // factor) * factor
        blocks = view[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
        expected = blocks.astype(np.float64).mean(axis=(1, 3))
        np.testing.assert_allclose(_core.block_mean(view, factor), expected, atol=1e-4)


def test_block_mean_refuses_other_pixels_and_factors() -> None:
    with pytest.raises(ValueError, match="float32"):
        _core.block_mean(np.zeros((8, 8), np.float64), 2)
    with pytest.raises(ValueError, match="factor"):
        _core.block_mean(np.zeros((8, 8), np.float32), 0)
