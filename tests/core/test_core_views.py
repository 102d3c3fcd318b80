"""How every compiled kernel sees a numpy array: one view of the array's own memory.

Each image a kernel reads crosses into C++ as pointer + shape + byte strides (cpp/include/ofs/
image/image_view.hpp), so any numpy view (flipped, sliced, a channel subset) is read in place and
gives exactly what a contiguous copy gives. Arrays the view cannot describe in whole, aligned
samples of the kernel's own type are refused with an error naming the argument, never converted;
arrays a kernel writes into are never converted either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ofs_stitch import _core
from ofs_stitch.core.warp import warp_affine

RNG = np.random.default_rng(11)
FLOATS = RNG.normal(size=(48, 40)).astype(np.float32)
PIXELS = RNG.integers(0, 255, size=(30, 36, 4), dtype=np.uint8)


def spectrum_values(region: np.ndarray) -> np.ndarray:
    spectrum = _core.register.compute_spectrum(region, (64, 64), 2.0, 1.0, 0.5, 3)
    return np.array(_core.register.cross_correlate(spectrum, spectrum).values)


def registration(a: np.ndarray, b: np.ndarray) -> tuple[float, ...]:
    spectra = [_core.register.compute_spectrum(x, (64, 64), 2.0, 1.0, 0.5, 3) for x in (a, b)]
    result = _core.register.register_spectra(spectra[0], spectra[1], a, b)
    return (result.peak.row, result.peak.col, result.peak.peak_ratio, result.pearson_r)


def row_sums(pixels: np.ndarray) -> np.ndarray:
    sums = np.zeros(pixels.shape[1:], np.uint64)
    _core.compose.add_rows(pixels, sums)
    return sums


def painted(strip: np.ndarray) -> np.ndarray:
    colour = np.zeros((strip.shape[0], strip.shape[1] + 4, strip.shape[2]), strip.dtype)
    covered = np.zeros(colour.shape[:2], bool)
    _core.compose.paint_nearest(
        colour, covered, 0, [(0, 0, 2, strip.shape[0], strip.shape[1], 0, 2, strip)]
    )
    return colour


# (kernel, the view it reads): a view of every kind the kernels meet.
READS_IN_PLACE: list[tuple[str, Callable[[np.ndarray], object], np.ndarray]] = [
    ("compute_spectrum", spectrum_values, FLOATS[::-1, 3::2]),
    (
        "overlap_pearson",
        lambda a: _core.register.overlap_pearson(a, FLOATS[:20, :16], 3, 2),
        FLOATS.T[::2],
    ),
    ("register_spectra", lambda b: registration(FLOATS[:40, :32], b), FLOATS[5:45, 35:3:-1]),
    ("block_mean", lambda image: _core.image.block_mean(image, 3), FLOATS[::-1, ::-1]),
    ("grey_float32 (BGR)", _core.image.grey_float32, PIXELS[:, ::-1, 2::-1]),
    ("grey_float32 (one channel)", _core.image.grey_float32, PIXELS[::2, :, 1]),
    ("grey_float32 (16-bit)", _core.image.grey_float32, PIXELS.astype(np.uint16)[:, 1::3, :3]),
    ("add_rows", row_sums, PIXELS[::-1, ::2, 1:]),
    ("paint_nearest", painted, PIXELS[3:, :, :3]),
    ("paint_nearest (BGR)", painted, PIXELS[:, :, 2::-1]),
]


@pytest.mark.parametrize(
    ("kernel", "view"),
    [(k, v) for _, k, v in READS_IN_PLACE],
    ids=[n for n, _, _ in READS_IN_PLACE],
)
def test_kernels_read_numpy_views_in_place(
    kernel: Callable[[np.ndarray], object], view: np.ndarray
) -> None:
    assert not view.flags.c_contiguous
    from_view, from_copy = kernel(view), kernel(np.ascontiguousarray(view))
    np.testing.assert_array_equal(np.asarray(from_view), np.asarray(from_copy))


def test_a_grey_image_reads_alike_whatever_stride_numpy_gave_its_channel_axis() -> None:
    # A channel axis of length 1 added by [..., None] has stride 0; the view treats one channel
    # as packed whatever its stride, so the kernels take their fast paths for it.
    grey = PIXELS[:, :, 1].astype(np.uint16)
    added = grey[:, :, None]
    assert added.strides[2] == 0
    packed = np.ndarray(added.shape, added.dtype, grey, strides=(*grey.strides, 2))
    # A sub-pixel shift: the warp's interpolation, not a copy.
    shifted = warp_affine(grey, [[1, 0, 0.3], [0, 1, -0.6]], interpolation="linear")
    for strip in (added, packed, PIXELS.astype(np.uint16)[:, :, 1:2]):
        np.testing.assert_array_equal(painted(strip)[:, 2:-2], packed)
        np.testing.assert_array_equal(row_sums(strip), grey.sum(axis=0, dtype=np.uint64)[:, None])
        warped = warp_affine(strip, [[1, 0, 0.3], [0, 1, -0.6]], interpolation="linear")
        np.testing.assert_array_equal(warped, shifted[:, :, None])


def misaligned(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """An array whose first sample starts one byte past an aligned address."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.zeros(size + 1, np.uint8)[1:].view(dtype).reshape(shape)


def odd_strides(dtype: type, shape: tuple[int, int]) -> np.ndarray:
    """Rows that start an odd number of bytes apart: not a whole number of samples."""
    itemsize = np.dtype(dtype).itemsize
    row_bytes = shape[1] * itemsize + 1
    buffer = np.zeros(shape[0] * row_bytes, np.uint8)
    return np.ndarray(shape, dtype, buffer, strides=(row_bytes, itemsize))


# (kernel, a numpy array it must refuse, the error's words)
REFUSED: list[tuple[str, Callable[[np.ndarray], object], np.ndarray, str]] = [
    ("float64 region", spectrum_values, FLOATS.astype(np.float64), "region must be float32"),
    ("big-endian region", spectrum_values, FLOATS.astype(">f4"), "region must be float32"),
    (
        "misaligned region",
        spectrum_values,
        misaligned(np.float32, (16, 16)),
        "region is not aligned",
    ),
    ("odd region strides", spectrum_values, odd_strides(np.float32, (16, 16)), "whole samples"),
    ("3-D region", spectrum_values, FLOATS[:, :, None], "region must be a 2-D"),
    (
        "misaligned b",
        lambda b: _core.register.overlap_pearson(FLOATS, b, 0, 0),
        misaligned(np.float32, (8, 8)),
        "b is not aligned",
    ),
    (
        "odd image strides",
        lambda image: _core.image.block_mean(image, 2),
        odd_strides(np.float32, (8, 8)),
        "image has strides",
    ),
    (
        "misaligned 16-bit pixels",
        _core.image.grey_float32,
        misaligned(np.uint16, (8, 8, 3)),
        "pixels is not aligned",
    ),
    (
        "odd 16-bit strides",
        _core.image.grey_float32,
        odd_strides(np.uint16, (8, 8)),
        "pixels has strides",
    ),
    (
        "no channels",
        _core.image.grey_float32,
        np.zeros((4, 4, 0), np.uint8),
        "at least one channel",
    ),
    (
        "misaligned row sums pixels",
        row_sums,
        misaligned(np.uint16, (4, 6, 3)),
        "pixels is not aligned",
    ),
    (
        "misaligned strip",
        painted,
        misaligned(np.uint16, (6, 8, 3)),
        "tile 0's strip is not aligned",
    ),
]


@pytest.mark.parametrize(
    ("kernel", "array", "words"),
    [(k, a, w) for _, k, a, w in REFUSED],
    ids=[n for n, _, _, _ in REFUSED],
)
def test_kernels_refuse_arrays_a_view_cannot_describe(
    kernel: Callable[[np.ndarray], object], array: np.ndarray, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        kernel(array)


def test_arrays_written_into_are_never_converted() -> None:
    pixels = PIXELS[:, :, :3]
    # A list would become a temporary array whose sums nobody sees.
    with pytest.raises(TypeError):
        _core.compose.add_rows(pixels, np.zeros((36, 3), np.uint64).tolist())
    read_only = np.zeros((36, 3), np.uint64)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="sums must be a writable"):
        _core.compose.add_rows(pixels, read_only)
    colour = np.zeros((30, 36, 3), np.uint8)
    colour.flags.writeable = False
    with pytest.raises(ValueError, match="colour must be a writable"):
        _core.compose.paint_nearest(colour, np.zeros((30, 36), bool), 0, [])
