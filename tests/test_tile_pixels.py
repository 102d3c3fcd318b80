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
