"""The affine warp kernels (``core.warp``, ``_core.resample``) against independent references.

nearest and linear against ``scipy.ndimage.affine_transform(order=0 / 1, mode="constant")``,
cubic against OpenCV's ``warpAffine(INTER_CUBIC | WARP_INVERSE_MAP)`` (when cv2 is installed)
and against a numpy implementation of Keys' kernel written here; the whole-pixel copy path,
windows, the validity mask, threads, strided inputs, property tests and the bad-input contract.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from ofs_stitch._core import resample
from ofs_stitch.core.warp import affine_matrix, warp_affine
from ofs_stitch.errors import InputError
from ofs_stitch.testing.warp_reference import (
    assert_matches_float_reference,
    centred_affine,
    keys_reference,
    near_a_tie,
    opencv_warp,
    per_channel,
    scipy_reference,
    source_positions,
)

DTYPES = (np.uint8, np.uint16, np.float32)
ORDERS = {"nearest": 0, "linear": 1}


# -- references and helpers -------------------------------------------------------------------


def random_image(rng, shape, dtype) -> np.ndarray:
    if dtype == np.float32:
        return (rng.standard_normal(shape) * 100).astype(np.float32)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=shape, dtype=dtype)


@functools.lru_cache(maxsize=4)
def photograph(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()[100:260, 120:320]
    image.setflags(write=False)
    return image


def as_dtype(image_u8: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.uint8:
        return image_u8
    if dtype == np.uint16:
        return image_u8.astype(np.uint16) * 257
    return image_u8.astype(np.float32) / 255


TRANSFORMS = {
    "rotation": dict(angle_deg=23.0, shift=(0.31, -0.47)),
    "scale down": dict(scale=(1.37, 1.21), shift=(0.13, 0.29)),
    "scale up": dict(angle_deg=-7.0, scale=(0.61, 0.73), shift=(-0.2, 0.45)),
    "shear": dict(angle_deg=4.0, shear=0.17, shift=(1.3, -2.6)),
    "sub-pixel shift": dict(shift=(0.37, -0.81)),
}


# -- nearest and linear against scipy ---------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_random_images_match_scipy(interpolation, dtype, channels, transform) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{interpolation} {transform}".encode()))
    shape = (47, 61) if channels is None else (47, 61, channels)
    image = random_image(rng, shape, dtype)
    m = centred_affine(shape, **TRANSFORMS[transform])
    fill = 7
    out_shape = (53, 58)
    ours = warp_affine(image, m, output_shape=out_shape, interpolation=interpolation, fill=fill)
    order = ORDERS[interpolation]
    reference = scipy_reference(image, m, order, fill, out_shape)
    assert ours.dtype == image.dtype and ours.shape == out_shape + image.shape[2:]
    assert_matches_float_reference(ours, reference, ~near_a_tie(m, shape, out_shape, order))
    if interpolation == "nearest" or dtype == np.uint8:
        # No arithmetic, or 8-bit samples where float32 holds the blend exactly enough: equal
        # to scipy's own integer output.
        expected = per_channel(
            image,
            lambda plane: ndimage.affine_transform(
                plane, m, order=order, mode="constant", cval=fill, output_shape=out_shape
            ),
        )
        keep = ~near_a_tie(m, shape, out_shape, order)
        if interpolation == "nearest":
            np.testing.assert_array_equal(ours[keep], expected[keep])
        else:
            assert np.abs(ours[keep].astype(int) - expected[keep]).max() <= 1


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_photographs_match_scipy(interpolation, dtype, name) -> None:
    image = as_dtype(photograph(name), dtype)
    m = centred_affine(image.shape, angle_deg=11.0, scale=(0.83, 0.9), shift=(0.4, -0.3))
    ours = warp_affine(image, m, interpolation=interpolation)
    order = ORDERS[interpolation]
    reference = scipy_reference(image, m, order, 0.0, image.shape[:2])
    keep = ~near_a_tie(m, image.shape, image.shape[:2], order)
    assert_matches_float_reference(ours, reference, keep)


def test_integer_rounding_is_half_away_from_zero_and_saturating() -> None:
    image = np.array([[0, 10, 200, 255]], dtype=np.uint8)
    halves = warp_affine(image, np.array([[1, 0, 0], [0, 1, 0.5]]), fill=0)
    # (0 + 10) / 2 = 5, (10 + 200) / 2 = 105, (200 + 255) / 2 = 227.5 -> 228; the last pixel's
    # position, 3.5, is past the last sample: fill.
    np.testing.assert_array_equal(halves, [[5, 105, 228, 0]])
    spike = np.zeros((5, 5), dtype=np.uint16)
    spike[2, 2] = 65535
    ringing = warp_affine(spike, np.array([[1, 0, 0.5], [0, 1, 0.5]]), interpolation="cubic")
    # Cubic lobes undershoot: clamped to 0, never wrapped round to 65535.
    reference = keys_reference(
        spike, affine_matrix(np.array([[1, 0, 0.5], [0, 1, 0.5]])), -0.5, 0, (5, 5)
    )
    assert reference.min() < 0
    np.testing.assert_array_equal(ringing, np.clip(np.floor(reference + 0.5), 0, 65535))


# -- cubic ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 3, 4])
@pytest.mark.parametrize("a", [-0.5, -0.75])
def test_cubic_matches_keys_kernel_everywhere(dtype, channels, a) -> None:
    rng = np.random.default_rng(3)
    shape = (33, 41) if channels is None else (33, 41, channels)
    image = random_image(rng, shape, dtype)
    m = centred_affine(shape, angle_deg=-17.0, scale=(1.1, 0.85), shift=(0.23, 0.61))
    ours = warp_affine(image, m, interpolation="cubic", cubic_a=a, fill=3, output_shape=(40, 44))
    reference = keys_reference(image, m, a, 3.0, (40, 44))
    assert_matches_float_reference(ours, reference, ~near_a_tie(m, shape, (40, 44), 1))


def test_cubic_with_keys_a_reproduces_quadratics() -> None:
    rows, cols = np.mgrid[0:40, 0:40].astype(np.float64)
    quadratic = (0.05 * rows**2 - 0.03 * rows * cols + 0.02 * cols**2 + rows).astype(np.float32)
    m = centred_affine(quadratic.shape, angle_deg=9.0, shift=(0.3, 0.2))
    y, x = source_positions(m, 0, 0, 40, 40)
    expected = 0.05 * y**2 - 0.03 * y * x + 0.02 * x**2 + y
    keys, valid = warp_affine(quadratic, m, interpolation="cubic", mask=True)
    opencv_kernel = warp_affine(quadratic, m, interpolation="cubic", cubic_a=-0.75)
    assert valid.sum() > 1000
    np.testing.assert_allclose(keys[valid], expected[valid], atol=2e-3)
    assert np.abs(opencv_kernel[valid] - expected[valid]).max() > 0.01


def opencv():
    return pytest.importorskip("cv2", reason="cv2 (opencv-python-headless) is not installed")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_cubic_matches_opencv_on_its_position_grid(dtype, name) -> None:
    """OpenCV rounds positions to 1/32 px; on a map whose positions all lie on that grid the
    two agree to the last unit (8-bit: OpenCV's fixed-point weights)."""
    cv2 = opencv()
    image = as_dtype(photograph(name), dtype)
    m = np.array([[0.75, 0.0, 5.125], [0.0, 1.25, -3.5625], [0, 0, 1]])
    shape = (150, 170)
    ours, valid = warp_affine(
        image, m, output_shape=shape, interpolation="cubic", cubic_a=-0.75, mask=True
    )
    theirs = opencv_warp(cv2, image, m, shape, cv2.INTER_CUBIC)
    # BORDER_REPLICATE is this module's edge rule inside the image; outside it we fill.
    y, x = source_positions(m, 0, 0, *shape)
    inside = (y >= 0) & (y <= image.shape[0] - 1) & (x >= 0) & (x <= image.shape[1] - 1)
    assert valid.sum() > 10000
    difference = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))[inside]
    if dtype == np.float32:
        assert difference.max() < 1e-5
    else:
        assert difference.max() <= 1
        assert np.mean(difference > 0) < 0.01


@pytest.mark.parametrize("dtype", DTYPES)
def test_cubic_close_to_opencv_under_rotation(dtype) -> None:
    cv2 = opencv()
    image = as_dtype(photograph("astronaut"), dtype)
    m = centred_affine(image.shape, angle_deg=31.0, scale=(0.9, 1.1), shift=(0.3, 0.1))
    ours, valid = warp_affine(image, m, interpolation="cubic", cubic_a=-0.75, mask=True)
    keys = warp_affine(image, m, interpolation="cubic", cubic_a=-0.5)
    theirs = opencv_warp(cv2, image, m, image.shape[:2], cv2.INTER_CUBIC)
    scale = 1.0 if dtype == np.float32 else float(np.iinfo(dtype).max)

    def difference(warped: np.ndarray) -> np.ndarray:
        return np.abs(warped.astype(np.float64) - theirs.astype(np.float64))[valid] / scale

    # OpenCV 4 rounds positions to 1/32 px (OpenCV 5: a last-unit difference is all that is
    # left); Keys' own kernel (a = -0.5) is farther off than that.
    assert np.percentile(difference(ours), 99) < 0.005
    assert difference(ours).mean() < 0.0005
    assert difference(keys).mean() > 0.001


# -- the whole-pixel copy path ----------------------------------------------------------------


def test_integer_translations_are_detected() -> None:
    assert resample.is_integer_translation((1.0, 0.0, 3.0, 0.0, 1.0, -7.0))
    assert resample.is_integer_translation((1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    assert not resample.is_integer_translation((1.0, 0.0, 3.5, 0.0, 1.0, -7.0))
    assert not resample.is_integer_translation((1.0, 1e-12, 3.0, 0.0, 1.0, -7.0))
    assert not resample.is_integer_translation((-1.0, 0.0, 3.0, 0.0, 1.0, -7.0))


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 3, 2])
def test_integer_translation_is_a_bit_exact_copy(interpolation, dtype, channels) -> None:
    rng = np.random.default_rng(5)
    shape = (30, 40) if channels is None else (30, 40, channels)
    image = random_image(rng, shape, dtype)
    if dtype == np.float32:
        image[3, 4] = np.nan
        image[10, 11] = np.inf
        image[12, 13] = -0.0
    m = np.array([[1, 0, 4], [0, 1, -6]], dtype=np.float64)
    out, valid = warp_affine(image, m, interpolation=interpolation, fill=9, mask=True)
    expected = np.full_like(image, 9)
    expected[:26, 6:] = image[4:, :34]
    # Compared bit for bit, so NaN == NaN and -0.0 != 0.0.
    np.testing.assert_array_equal(
        out.view(np.uint8 if dtype == np.uint8 else f"u{np.dtype(dtype).itemsize}"),
        expected.view(np.uint8 if dtype == np.uint8 else f"u{np.dtype(dtype).itemsize}"),
    )
    margin = 1 if interpolation == "cubic" else 0
    y, x = source_positions(affine_matrix(m), 0, 0, 30, 40)
    np.testing.assert_array_equal(
        valid,
        (y >= margin) & (y <= 29 - margin) & (x >= margin) & (x <= 39 - margin),
    )


def test_copy_path_keeps_nan_from_spreading() -> None:
    """Interpolating at an integer position would weigh a NaN neighbour by 0 and still get
    NaN (0 * NaN); the copy path does not interpolate."""
    image = np.ones((6, 6), dtype=np.float32)
    image[2, 3] = np.nan
    copied = warp_affine(image, np.array([[1, 0, 1], [0, 1, 0]]), interpolation="linear")
    nudged = warp_affine(image, np.array([[1, 0, 1], [0, 1, 1e-9]]), interpolation="linear")
    assert np.isnan(copied).sum() == 1
    assert np.isnan(nudged).sum() > 1


# -- windows, masks, threads, layouts ---------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("channels", [None, 3])
def test_windows_are_cuts_of_the_whole_output(interpolation, channels) -> None:
    rng = np.random.default_rng(7)
    shape = (60, 70) if channels is None else (60, 70, channels)
    image = random_image(rng, shape, np.uint16)
    m = centred_affine(shape, angle_deg=13.0, scale=(1.2, 0.9), shift=(0.4, 0.2))
    whole, whole_valid = warp_affine(
        image, m, window=(-20, -30, 110, 130), interpolation=interpolation, fill=5, mask=True
    )
    for y0, x0, rows, cols in [
        (-20, -30, 1, 1),
        (-7, 3, 40, 17),
        (0, 0, 60, 70),
        (45, 60, 45, 40),
        (80, -30, 10, 130),
    ]:
        part, valid = warp_affine(
            image, m, window=(y0, x0, rows, cols), interpolation=interpolation, fill=5, mask=True
        )
        cut = (slice(y0 + 20, y0 + 20 + rows), slice(x0 + 30, x0 + 30 + cols))
        np.testing.assert_array_equal(part, whole[cut])
        np.testing.assert_array_equal(valid, whole_valid[cut])
    # output_shape is the window at the origin.
    np.testing.assert_array_equal(
        warp_affine(image, m, output_shape=(60, 70), interpolation=interpolation, fill=5),
        whole[20:80, 30:100],
    )


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
def test_mask_marks_footprints_inside_the_image(interpolation) -> None:
    image = np.full((25, 35, 3), 100, dtype=np.uint8)
    m = centred_affine(image.shape, angle_deg=40.0, scale=(1.3, 1.3), shift=(0.5, 0.25))
    out, valid = warp_affine(image, m, interpolation=interpolation, fill=3, mask=True)
    y, x = source_positions(m, 0, 0, 25, 35)
    inside = (y >= 0) & (y <= 24) & (x >= 0) & (x <= 34)
    margin = 1 if interpolation == "cubic" else 0
    expected = (y >= margin) & (y <= 24 - margin) & (x >= margin) & (x <= 34 - margin)
    assert valid.dtype == np.bool_
    np.testing.assert_array_equal(valid, expected)
    assert 0 < valid.sum() < valid.size
    # Outside: the fill; inside: a flat image stays flat, edges included.
    assert np.all(out[~inside] == 3)
    assert np.all(out[inside] == 100)


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_the_same_result(interpolation, dtype) -> None:
    rng = np.random.default_rng(11)
    image = random_image(rng, (301, 257, 3), dtype)
    m = centred_affine(image.shape, angle_deg=-29.0, scale=(0.7, 0.8), shift=(0.1, 0.9))
    one = warp_affine(image, m, interpolation=interpolation, threads=1, output_shape=(333, 290))
    for threads in (2, 3, 8, 0):
        many = warp_affine(
            image, m, interpolation=interpolation, threads=threads, output_shape=(333, 290)
        )
        np.testing.assert_array_equal(many.view(np.uint8), one.view(np.uint8))


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_are_read_in_place(interpolation, dtype) -> None:
    rng = np.random.default_rng(13)
    base = random_image(rng, (80, 90, 4), dtype)
    m = centred_affine((40, 45), angle_deg=21.0, shift=(0.3, 0.6))
    views = {
        "every other pixel, flipped": base[::2, ::-2, :3],
        "one channel": base[5:45, 3:48, 1],
        "channels reversed": base[:40, :45, ::-1],
        "transposed": base[:45, :40, :3].transpose(1, 0, 2),
    }
    for view in views.values():
        ours = warp_affine(view, m, interpolation=interpolation, fill=1)
        packed = warp_affine(np.ascontiguousarray(view), m, interpolation=interpolation, fill=1)
        np.testing.assert_array_equal(ours.view(np.uint8), packed.view(np.uint8))


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernels_write_into_a_view_of_a_larger_canvas(interpolation, dtype) -> None:
    """_core.resample writes any strides in place: here a window of a canvas, channels
    reversed, and a mask that is a column of a larger array."""
    rng = np.random.default_rng(29)
    image = random_image(rng, (50, 60, 3), dtype)
    m = centred_affine(image.shape, angle_deg=12.0, scale=(1.1, 0.9), shift=(0.3, 0.4))
    expected, expected_valid = warp_affine(
        image, m, window=(-4, 5, 40, 45), interpolation=interpolation, fill=6, mask=True
    )
    canvas = np.zeros((60, 70, 3), dtype=dtype)
    flags = np.zeros((40, 45, 2), dtype=np.uint8)
    target = canvas[10:50, 20:65, ::-1]
    resample.warp_affine(
        image, tuple(m[:2].ravel()), target, flags[:, :, 1], interpolation, 6.0, -0.5, -4, 5, 2
    )
    np.testing.assert_array_equal(
        np.ascontiguousarray(target).view(np.uint8), expected.view(np.uint8)
    )
    np.testing.assert_array_equal(flags[:, :, 1].astype(bool), expected_valid)
    # Nothing outside the window was touched.
    canvas[10:50, 20:65] = 0
    flags[:, :, 1] = 0
    assert not canvas.any() and not flags.any()


@pytest.mark.parametrize("channels", [2, 5])
def test_other_channel_counts(channels) -> None:
    rng = np.random.default_rng(17)
    image = random_image(rng, (30, 32, channels), np.float32)
    m = centred_affine(image.shape, angle_deg=8.0, shift=(0.2, 0.3))
    for interpolation, order in ORDERS.items():
        ours = warp_affine(image, m, interpolation=interpolation)
        reference = scipy_reference(image, m, order, 0.0, (30, 32))
        assert_matches_float_reference(
            ours, reference, ~near_a_tie(m, image.shape, (30, 32), order)
        )


def test_accepts_an_object_with_a_matrix_and_2x3_or_3x3() -> None:
    class Placed:
        matrix = np.array([[1.0, 0.1, 2.5], [-0.1, 1.0, 0.25], [0.0, 0.0, 1.0]])

    image = np.arange(400, dtype=np.float32).reshape(20, 20)
    expected = warp_affine(image, Placed.matrix)
    np.testing.assert_array_equal(warp_affine(image, Placed()), expected)
    np.testing.assert_array_equal(warp_affine(image, Placed.matrix[:2]), expected)
    np.testing.assert_array_equal(warp_affine(image, Placed.matrix.tolist()), expected)


def guarded_buffer(nbytes: int):
    """A writable byte array of ``nbytes`` that ends right before an unreadable page (and
    starts a page after another): a read past either end crashes the test run."""
    page = mmap.PAGESIZE
    pages = -(-nbytes // page) + 2
    memory = mmap.mmap(-1, pages * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    whole = np.frombuffer(memory, dtype=np.uint8)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    for guard in (0, pages - 1):
        assert libc.mprotect(whole.ctypes.data + guard * page, page, 0) == 0
    return memory, whole[(pages - 1) * page - nbytes : (pages - 1) * page]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect guard pages: Linux")
@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_reads_stay_inside_the_image(interpolation, dtype, channels) -> None:
    """The interior kernels read whole runs of samples, rounded up to a power of two bytes;
    next to an unreadable page they must not."""
    shape = (21, 26) if channels is None else (21, 26, channels)
    rng = np.random.default_rng(19)
    reference = random_image(rng, shape, dtype)
    memory, raw = guarded_buffer(reference.nbytes)
    image = raw.view(dtype).reshape(shape)
    image[...] = reference
    # Positions reaching the last and the first sample in memory, straight and flipped.
    for view in (image, image[::-1], image[:, ::-1], image[::-1, ::-1]):
        for m in (
            np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]),
            np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5]]),
            centred_affine(shape, angle_deg=3.0, scale=(0.97, 0.98), shift=(0.2, 0.3)),
        ):
            out = warp_affine(view, m, interpolation=interpolation)
            copy = warp_affine(np.ascontiguousarray(view), m, interpolation=interpolation)
            np.testing.assert_array_equal(out.view(np.uint8), copy.view(np.uint8))
    del image, raw, view
    memory.close()


KERNEL_CASES = """
import sys
import numpy as np
from ofs_stitch._core import resample
from ofs_stitch.core.warp import warp_affine

rng = np.random.default_rng(23)
results = {"variant": np.array(resample.kernel_variant())}
m = np.array([[0.93, -0.31, 5.2], [0.29, 1.07, -3.9]])
for dtype in (np.uint8, np.uint16, np.float32):
    for shape in ((70, 90), (70, 90, 3), (70, 90, 4)):
        if dtype == np.float32:
            image = rng.standard_normal(shape).astype(np.float32)
        else:
            image = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
        for interpolation in ("nearest", "linear", "cubic"):
            out = warp_affine(image, m, interpolation=interpolation, output_shape=(80, 85))
            results[f"{np.dtype(dtype).name} {len(shape)} {interpolation}"] = out
np.savez(sys.argv[1], **results)
"""


def test_avx2_and_baseline_kernels_agree(tmp_path: Path) -> None:
    """On x86-64 the interior kernels are compiled twice (baseline and AVX2, chosen at run
    time); both must give the same bits. OFS_NO_AVX2=1 selects the baseline."""
    outputs = {}
    for name, switch in (("default", "0"), ("baseline", "1")):
        path = tmp_path / f"{name}.npz"
        subprocess.run(
            [sys.executable, "-c", KERNEL_CASES, str(path)],
            check=True,
            env={**os.environ, "OFS_NO_AVX2": switch},
        )
        outputs[name] = dict(np.load(path))
    assert str(outputs["baseline"].pop("variant")) == "baseline"
    variant = str(outputs["default"].pop("variant"))
    assert variant in ("avx2", "baseline")
    assert outputs["default"].keys() == outputs["baseline"].keys()
    for key, default in outputs["default"].items():
        np.testing.assert_array_equal(
            default.view(np.uint8), outputs["baseline"][key].view(np.uint8)
        )


def test_input_is_left_untouched() -> None:
    image = np.arange(600, dtype=np.uint16).reshape(20, 30)
    before = image.copy()
    image.setflags(write=False)
    warp_affine(image, centred_affine(image.shape, angle_deg=5.0), interpolation="cubic")
    np.testing.assert_array_equal(image, before)


# -- property tests ---------------------------------------------------------------------------


@st.composite
def warp_cases(draw):
    rows = draw(st.integers(1, 24))
    cols = draw(st.integers(1, 24))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (rows, cols) if channels is None else (rows, cols, channels)
    image = random_image(rng, shape, dtype)
    linear = rng.uniform(-1.6, 1.6, size=(2, 2))
    if abs(np.linalg.det(linear)) < 0.05:
        linear = linear + np.eye(2)
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = rng.uniform(-8, 8, size=2) + np.array([rows, cols]) / 2
    window = (
        draw(st.integers(-10, 20)),
        draw(st.integers(-10, 20)),
        draw(st.integers(1, 30)),
        draw(st.integers(1, 30)),
    )
    return image, m, window


@settings(max_examples=60, deadline=None)
@given(case=warp_cases(), interpolation=st.sampled_from(["nearest", "linear"]))
def test_property_matches_scipy(case, interpolation) -> None:
    image, m, (y0, x0, rows, cols) = case
    ours, valid = warp_affine(
        image, m, window=(y0, x0, rows, cols), interpolation=interpolation, fill=2, mask=True
    )
    shifted = m @ np.array([[1.0, 0, y0], [0, 1.0, x0], [0, 0, 1]])
    order = ORDERS[interpolation]
    reference = scipy_reference(image, shifted, order, 2.0, (rows, cols))
    keep = ~near_a_tie(shifted, image.shape, (rows, cols), order)
    if keep.any():
        assert_matches_float_reference(ours, reference, keep)
    y, x = source_positions(m, y0, x0, rows, cols)
    inside = (y >= 0) & (y <= image.shape[0] - 1) & (x >= 0) & (x <= image.shape[1] - 1)
    np.testing.assert_array_equal(valid, inside)


@settings(max_examples=60, deadline=None)
@given(case=warp_cases(), interpolation=st.sampled_from(["nearest", "linear", "cubic"]))
def test_property_windows_and_value_bounds(case, interpolation) -> None:
    image, m, (y0, x0, rows, cols) = case
    whole = warp_affine(
        image, m, window=(y0 - 3, x0 - 2, rows + 5, cols + 4), interpolation=interpolation, fill=2
    )
    part = warp_affine(image, m, window=(y0, x0, rows, cols), interpolation=interpolation, fill=2)
    np.testing.assert_array_equal(
        part.view(np.uint8), whole[3 : 3 + rows, 2 : 2 + cols].view(np.uint8)
    )
    values = part.astype(np.float64)
    low = min(float(image.min()), 2.0)
    high = max(float(image.max()), 2.0)
    if interpolation == "nearest":
        assert set(np.unique(values)) <= set(np.unique(image.astype(np.float64))) | {2.0}
    elif interpolation == "linear":
        # Non-negative weights that sum to one: never outside the samples' range.
        slack = 1e-4 * max(1.0, abs(low), abs(high))
        assert values.min() >= low - slack and values.max() <= high + slack


# -- the bad-input contract -------------------------------------------------------------------

GOOD = np.zeros((8, 9), dtype=np.uint8)
SHIFT = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: warp_affine(GOOD.astype(np.float64), SHIFT),
            r"dtype float64 .*astype\(np.float32\)",
        ),
        (lambda: warp_affine(GOOD.astype(np.int32), SHIFT), "dtype int32"),
        (lambda: warp_affine(GOOD.astype(bool), SHIFT), "dtype bool"),
        (lambda: warp_affine(GOOD.astype(">u2"), SHIFT), "dtype >u2"),
        (lambda: warp_affine(GOOD.tolist(), SHIFT), r"numpy array.*np.asarray"),
        (lambda: warp_affine(GOOD[0], SHIFT), r"\(rows, cols\)"),
        (lambda: warp_affine(GOOD[None, :, :, None], SHIFT), r"\(rows, cols\)"),
        (lambda: warp_affine(GOOD[:0], SHIFT), "empty"),
        (lambda: warp_affine(GOOD, np.eye(2)), "2x3 or 3x3"),
        (lambda: warp_affine(GOOD, "a matrix"), "2x3 or 3x3"),
        (lambda: warp_affine(GOOD, [[1, 0, np.nan], [0, 1, 0]]), "NaN or infinite"),
        (lambda: warp_affine(GOOD, [[1, 0, 0], [0, 1, 0], [0.1, 0, 1]]), "projective"),
        (lambda: warp_affine(GOOD, [[1, 2, 0], [2, 4, 0]]), "singular"),
        (lambda: warp_affine(GOOD, [[0, 0, 0], [0, 0, 0]]), "singular"),
        (lambda: warp_affine(GOOD, SHIFT, window=(0, 0, 4)), r"\(y0, x0, rows, cols\)"),
        (lambda: warp_affine(GOOD, SHIFT, window=(0, 0, 0, 4)), "empty"),
        (lambda: warp_affine(GOOD, SHIFT, window=(0.5, 0, 4, 4)), "whole number"),
        (lambda: warp_affine(GOOD, SHIFT, window=(True, 0, 4, 4)), "whole number"),
        (lambda: warp_affine(GOOD, SHIFT, window=(2**40, 0, 4, 4)), "2\\*\\*31"),
        (lambda: warp_affine(GOOD, SHIFT, window=(0, 0, 4, 4), output_shape=(4, 4)), "not both"),
        (lambda: warp_affine(GOOD, SHIFT, output_shape=(0, 4)), "at least"),
        (lambda: warp_affine(GOOD, SHIFT, output_shape=(4,)), r"\(rows, cols\)"),
        (lambda: warp_affine(GOOD, SHIFT, interpolation="bicubic"), "nearest, linear, cubic"),
        (lambda: warp_affine(GOOD, SHIFT, fill=-1), "0 to 255"),
        (lambda: warp_affine(GOOD, SHIFT, fill=256), "0 to 255"),
        (lambda: warp_affine(GOOD, SHIFT, fill=1.5), "whole number"),
        (lambda: warp_affine(GOOD, SHIFT, fill="black"), "fill must be a number"),
        (lambda: warp_affine(GOOD.astype(np.float32), SHIFT, fill=1e39), "float32"),
        (lambda: warp_affine(GOOD, SHIFT, threads=-1), "threads"),
        (lambda: warp_affine(GOOD, SHIFT, threads=1.5), "threads"),
        (lambda: warp_affine(GOOD, SHIFT, cubic_a=0.5), r"\[-1, 0\]"),
    ],
)
def test_bad_input_says_what_to_change(call, message) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_unaligned_samples_are_refused() -> None:
    raw = np.zeros(8 * 9 * 2 + 1, dtype=np.uint8)[1:]
    unaligned = raw.view(np.uint16).reshape(8, 9)
    assert not unaligned.flags.aligned
    with pytest.raises(InputError, match="ascontiguousarray"):
        warp_affine(unaligned, SHIFT)


def test_float32_fill_may_be_nan() -> None:
    out = warp_affine(np.ones((4, 4), dtype=np.float32), [[1, 0, 2.5], [0, 1, 0]], fill=np.nan)
    # Rows 0 and 1 read rows 2.5 and 3.5: the second is past the last row.
    assert np.isnan(out[1:]).all() and not np.isnan(out[:1]).any()


def test_binding_refuses_unsafe_outputs() -> None:
    image = np.zeros((6, 6), dtype=np.uint16)
    matrix = (1.0, 0.0, 0.5, 0.0, 1.0, 0.5)
    args = ("linear", 0.0, -0.5, 0, 0, 1)
    with pytest.raises(ValueError, match="dtype"):
        resample.warp_affine(image, matrix, np.zeros((6, 6), np.uint8), None, *args)
    with pytest.raises(ValueError, match="share memory"):
        resample.warp_affine(image, matrix, image, None, *args)
    with pytest.raises(ValueError, match="share memory"):
        resample.warp_affine(
            image, matrix, np.zeros_like(image), image.view(np.uint8)[:, :6], *args
        )
    frozen = np.zeros_like(image)
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        resample.warp_affine(image, matrix, frozen, None, *args)
    with pytest.raises(ValueError, match="channels"):
        resample.warp_affine(image, matrix, np.zeros((6, 6, 1), np.uint16), None, *args)
    with pytest.raises(ValueError, match="interpolation"):
        resample.warp_affine(image, matrix, np.zeros_like(image), None, "area", 0.0, -0.5, 0, 0, 1)
    with pytest.raises(ValueError, match="threads"):
        resample.warp_affine(
            image, matrix, np.zeros_like(image), None, "linear", 0.0, -0.5, 0, 0, 0
        )
