"""The one grey conversion: decoded pixels to the float32 grey that registration correlates."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch import _core
from ofs_stitch.core.grey import grey_float32
from ofs_stitch.core.registration import register_pair


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
    grey = grey_float32(tile[region])
    assert grey.dtype == np.float32 and grey.flags.c_contiguous
    np.testing.assert_allclose(grey, numpy_grey(tile[region]), rtol=1e-6)
    # 8- and 16-bit pixels go through the compiled kernel, bit for bit.
    np.testing.assert_array_equal(grey, _core.image.grey_float32(tile[region]))


def test_grey_of_reversed_views_and_extremes() -> None:
    tile = np.zeros((4, 6, 3), dtype=np.uint16)
    tile[0, 0] = 65535  # white: the integer sum must not overflow
    tile[3, 5] = (1, 2, 4)
    grey = _core.image.grey_float32(tile[::-1, ::-1])
    assert grey[3, 5] == pytest.approx(65535.0)
    assert grey[0, 0] == pytest.approx(7 / 3)
    assert grey.sum() == pytest.approx(65535.0 + 7 / 3)
    np.testing.assert_array_equal(grey_float32(tile[::-1, ::-1]), grey)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint32])
@pytest.mark.parametrize("bands", [None, 2, 3, 4])
def test_other_sample_types_fall_back_to_numpy(dtype: type, bands: int | None) -> None:
    shape = (6, 8) if bands is None else (6, 8, bands)
    pixels = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    grey = grey_float32(pixels[:, ::-1])
    assert grey.dtype == np.float32 and grey.flags.c_contiguous
    np.testing.assert_allclose(grey, numpy_grey(pixels[:, ::-1]), rtol=1e-6)
    if bands is not None and bands >= 3:
        # What registration always did for such images: numpy's float32 mean.
        np.testing.assert_array_equal(grey, pixels[:, ::-1, :3].mean(axis=2, dtype=np.float32))


def test_the_kernel_refuses_what_numpy_takes() -> None:
    with pytest.raises(ValueError, match="uint8 or uint16"):
        _core.image.grey_float32(np.zeros((2, 2, 3), np.float64))
    with pytest.raises(ValueError, match="rows, cols"):
        _core.image.grey_float32(np.zeros(5, dtype=np.uint8))


def test_register_pair_correlates_the_same_grey_as_the_pipeline() -> None:
    # RGB and its grey (as the pipeline makes it from decoded tiles) register identically.
    rng = np.random.default_rng(3)
    scene = rng.integers(0, 256, (90, 120, 3)).astype(np.uint8)
    a, b = scene[:64, :96], scene[7:71, 11:107]
    colour = register_pair(a, b)
    grey = register_pair(grey_float32(a), grey_float32(b))
    assert colour == grey
    assert colour.shift == pytest.approx((7.0, 11.0), abs=0.05)
