"""Independent references for the affine warp (python/ofs_stitch/core/warp.py), shared by
the tests and benchmarks of the warp: scipy's affine_transform channel by
channel, Keys' cubic convolution written out in numpy, and OpenCV's warpAffine in (row, col)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def centred_affine(
    shape: tuple[int, ...],
    angle_deg: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    shear: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """A 3x3 (row, col) output -> input map that turns, scales and shears about the centre."""
    centre = (np.array(shape[:2], dtype=np.float64) - 1) / 2
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(scale)
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = centre - linear @ centre + np.asarray(shift)
    return m


def source_positions(m: np.ndarray, top: int, left: int, rows: int, cols: int):
    """Input (row, col) of every output pixel, with the kernels' own float64 operation order."""
    r = np.arange(top, top + rows, dtype=np.float64)[:, None]
    c = np.arange(left, left + cols, dtype=np.float64)[None, :]
    return (m[0, 2] + m[0, 0] * r) + m[0, 1] * c, (m[1, 2] + m[1, 0] * r) + m[1, 1] * c


def per_channel(image: np.ndarray, warp) -> np.ndarray:
    if image.ndim == 2:
        return warp(image)
    return np.stack([warp(image[..., k]) for k in range(image.shape[2])], axis=-1)


def scipy_reference(
    image: np.ndarray, m: np.ndarray, order: int, fill: float, shape: tuple[int, int]
) -> np.ndarray:
    """scipy's warp in float64 (no rounding), channel by channel."""
    return per_channel(
        image,
        lambda plane: ndimage.affine_transform(
            plane.astype(np.float64),
            m,
            order=order,
            mode="constant",
            cval=fill,
            output_shape=shape,
            output=np.float64,
        ),
    )


def near_a_tie(m: np.ndarray, image_shape, out_shape, order: int) -> np.ndarray:
    """Pixels whose position lies within 1e-7 px of a domain edge or (nearest) of a rounding
    tie: scipy's float64 sums may land on the other side, so they are left out."""
    y, x = source_positions(m, 0, 0, *out_shape)
    close = np.zeros(out_shape, dtype=bool)
    for p, n in ((y, image_shape[0]), (x, image_shape[1])):
        close |= (np.abs(p) < 1e-7) | (np.abs(p - (n - 1)) < 1e-7)
        if order == 0:
            close |= np.abs(p + 0.5 - np.round(p + 0.5)) < 1e-7
    return close


def assert_matches_float_reference(ours: np.ndarray, reference: np.ndarray, where=None) -> None:
    """Integer samples: correctly rounded and saturated to within float32 error; float32
    samples: equal to within float32 error of the image's range."""
    if where is None:
        where = np.ones(ours.shape[:2], dtype=bool)
    if np.issubdtype(ours.dtype, np.integer):
        top = np.iinfo(ours.dtype).max
        expected = np.clip(reference, 0, top)
        slack = 0.5 + 1e-6 * top + 1e-3
    else:
        expected = reference
        slack = 1e-5 * max(1.0, float(np.max(np.abs(reference))))
    error = np.abs(ours.astype(np.float64) - expected)[where]
    assert error.size > 0
    assert float(error.max()) <= slack, float(error.max())


def keys_weights(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel at distances t (float64, written from the formula)."""
    t = np.abs(t)
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def keys_reference(image: np.ndarray, m: np.ndarray, a: float, fill: float, shape) -> np.ndarray:
    """Cubic convolution in float64 with this module's edge rules: fill outside
    [0, n - 1]^2, edge samples repeated for taps off the image."""
    y, x = source_positions(m, 0, 0, *shape)
    rows, cols = image.shape[:2]
    fy, fx = np.floor(y), np.floor(x)
    values = np.zeros(shape + image.shape[2:], dtype=np.float64)
    for i in range(-1, 3):
        wy = keys_weights(y - (fy + i), a)
        ty = np.clip(fy + i, 0, rows - 1).astype(np.int64)
        for j in range(-1, 3):
            wx = keys_weights(x - (fx + j), a)
            tx = np.clip(fx + j, 0, cols - 1).astype(np.int64)
            w = wy * wx
            taps = image[ty, tx].astype(np.float64)
            values += (w[..., None] if image.ndim == 3 else w) * taps
    inside = (y >= 0) & (y <= rows - 1) & (x >= 0) & (x <= cols - 1)
    values[~inside] = fill
    return values


def opencv_warp(cv2, image: np.ndarray, m: np.ndarray, shape, flags) -> np.ndarray:
    """OpenCV's warpAffine with our (row, col) matrix: it works in (x, y) = (col, row)."""
    xy = np.array([[m[1, 1], m[1, 0], m[1, 2]], [m[0, 1], m[0, 0], m[0, 2]]])
    return cv2.warpAffine(
        image,
        xy,
        (shape[1], shape[0]),
        flags=flags | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
