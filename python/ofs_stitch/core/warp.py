"""Affine warps of 8-bit, 16-bit and float32 images, grey or multi-channel, in C++.

Convention (the same as ``scipy.ndimage.affine_transform(image, matrix=M)``): output pixel
``p = (row, col)`` takes the image's value at ``M @ (row, col, 1)``, pixel centres at integers.
``M`` maps output coordinates to input coordinates, so a pure shift ``(d_row, d_col)`` gives
``out[p] = image[p + shift]``, the convention of a registered pair (``b[p] ~ a[M @ p]``).

- ``nearest``: the sample at ``floor(position + 0.5)``; ``linear``: bilinear; ``cubic``:
  separable Keys cubic convolution, ``cubic_a=-0.5`` by default (Keys' own choice: exact for
  quadratics); ``cubic_a=-0.75`` reproduces OpenCV's ``INTER_CUBIC``. scipy's ``order=3`` is a
  B-spline with a prefilter, a different interpolator.
- Edges as scipy's ``mode="constant"``: a pixel whose input position lies outside
  ``[0, rows - 1] x [0, cols - 1]`` takes ``fill``; inside it, cubic taps that fall off the
  image repeat its edge samples. The optional mask is True where every tap with a non-zero
  weight lies inside the image (nearest and linear: exactly the pixels not filled; cubic: one
  more pixel in from each edge).
- Integer outputs are rounded half away from zero and clamped to the dtype's range (as scipy
  does); float32 outputs are neither. Weights and blending are float32, positions float64.
- The identity plus a whole-pixel shift copies samples (bit-exact, NaN and -0.0 included).
- Rows are split between ``threads`` threads (0: every core this process may use); the
  result does not depend on the thread count.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from typing import Literal, Protocol, overload

import numpy as np

from .._core import resample
from ..errors import InputError

Interpolation = Literal["nearest", "linear", "cubic"]
INTERPOLATIONS: tuple[str, ...] = ("nearest", "linear", "cubic")
SAMPLE_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
# Positions are computed in int32 pixels inside the kernels; windows stay well inside that.
_MAX_COORDINATE = 2**31 - 1


class HasMatrix(Protocol):
    """Anything carrying a 3x3 homogeneous (row, col) matrix, as ``core.transform.Transform``."""

    @property
    def matrix(self) -> object: ...


MatrixLike = np.ndarray | HasMatrix


@overload
def warp_affine(
    image: np.ndarray,
    matrix: MatrixLike,
    *,
    output_shape: tuple[int, int] | None = ...,
    window: tuple[int, int, int, int] | None = ...,
    interpolation: Interpolation = ...,
    fill: float = ...,
    mask: Literal[False] = ...,
    threads: int = ...,
    cubic_a: float = ...,
) -> np.ndarray: ...


@overload
def warp_affine(
    image: np.ndarray,
    matrix: MatrixLike,
    *,
    output_shape: tuple[int, int] | None = ...,
    window: tuple[int, int, int, int] | None = ...,
    interpolation: Interpolation = ...,
    fill: float = ...,
    mask: Literal[True],
    threads: int = ...,
    cubic_a: float = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


def warp_affine(
    image: np.ndarray,
    matrix: MatrixLike,
    *,
    output_shape: tuple[int, int] | None = None,
    window: tuple[int, int, int, int] | None = None,
    interpolation: Interpolation = "linear",
    fill: float = 0,
    mask: bool = False,
    threads: int = 0,
    cubic_a: float = -0.5,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``image`` warped through ``matrix`` (2x3 or 3x3, or an object with ``.matrix``).

    The output covers ``output_shape`` (default: the image's rows and columns) from output
    pixel (0, 0), or ``window = (y0, x0, rows, cols)``: any block of the unbounded output plane,
    so tiles of one large output can be computed separately and agree exactly with it. Returns
    an array of the image's dtype and channels, and with ``mask=True`` also a bool array of
    (rows, cols) marking the pixels whose interpolation footprint lay inside the image.
    """
    pixels = _checked_image(image)
    affine = affine_matrix(matrix)
    top, left, rows, cols = _output_window(pixels.shape, output_shape, window)
    if interpolation not in INTERPOLATIONS:
        raise InputError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}"
        )
    fill_value = _checked_fill(fill, pixels.dtype)
    a = _checked_cubic_a(cubic_a)
    workers = _thread_count(threads)

    out = np.empty((rows, cols) + pixels.shape[2:], dtype=pixels.dtype)
    valid = np.empty((rows, cols), dtype=np.bool_) if mask else None
    resample.warp_affine(
        pixels,
        tuple(float(v) for v in affine[:2].ravel()),
        out,
        None if valid is None else valid.view(np.uint8),
        interpolation,
        fill_value,
        a,
        top,
        left,
        workers,
    )
    return (out, valid) if valid is not None else out


def affine_matrix(matrix: MatrixLike) -> np.ndarray:
    """The 3x3 float64 homogeneous (row, col) matrix of a 2x3 / 3x3 array or a ``.matrix``
    holder, checked: finite, affine (last row 0, 0, 1) and invertible."""
    values = getattr(matrix, "matrix", matrix)
    try:
        m = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"matrix must be a 2x3 or 3x3 array of numbers (or have a .matrix): {error}"
        ) from None
    if m.shape == (2, 3):
        m = np.array([*m.tolist(), [0.0, 0.0, 1.0]])
    elif m.shape != (3, 3):
        raise InputError(
            f"matrix must be 2x3 or 3x3 (homogeneous, in (row, col)), not of shape {m.shape}"
        )
    # Plain floats: these checks run on every call, and numpy's are slow on nine numbers.
    (a, b, _), (c, d, _), last_row = m.tolist()
    if not all(math.isfinite(v) for v in m.flat):
        raise InputError("matrix has NaN or infinite entries: pass a finite matrix")
    if max(abs(last_row[0]), abs(last_row[1]), abs(last_row[2] - 1.0)) > 1e-12:
        raise InputError(
            f"matrix's last row is {last_row}, not [0, 0, 1]: projective warps are not "
            "supported; pass an affine matrix"
        )
    if abs(a * d - b * c) <= 1e-12 * math.hypot(a, b) * math.hypot(c, d):
        raise InputError(
            f"matrix is singular (its 2x2 part {[[a, b], [c, d]]} has no inverse): it would "
            "squash the image onto a line; pass an invertible matrix"
        )
    return m


def _checked_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"image must be a numpy array, not {type(image).__name__}: pass np.asarray(image)"
        )
    if image.dtype not in SAMPLE_TYPES or not image.dtype.isnative:
        raise InputError(
            f"image dtype {image.dtype} is not supported: pass uint8, uint16 or float32 "
            "samples, for example image.astype(np.float32)"
        )
    if image.ndim not in (2, 3):
        raise InputError(
            f"image must be (rows, cols) or (rows, cols, channels), not of shape {image.shape}"
        )
    if image.size == 0:
        raise InputError(f"image of shape {image.shape} is empty: pass at least one pixel")
    if max(image.shape[:2]) > _MAX_COORDINATE:
        raise InputError(f"image of shape {image.shape} is too large: split it into tiles")
    if not image.flags.aligned:
        raise InputError(
            "image's samples are not aligned in memory: pass np.ascontiguousarray(image)"
        )
    return image


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name} must be a whole number, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name} must be a whole number, not {value!r}") from None


def _output_window(
    image_shape: tuple[int, ...],
    output_shape: tuple[int, int] | None,
    window: tuple[int, int, int, int] | None,
) -> tuple[int, int, int, int]:
    """(top, left, rows, cols) of the output block to compute."""
    if window is not None and output_shape is not None:
        raise InputError(
            "give output_shape or window, not both: window (y0, x0, rows, cols) already says "
            "the output's size"
        )
    if window is not None:
        if len(window) != 4:
            raise InputError(f"window must be (y0, x0, rows, cols), not {window!r}")
        y0, x0, rows, cols = (
            _whole(v, f"window[{i}] ({n})")
            for i, (v, n) in enumerate(zip(window, ("y0", "x0", "rows", "cols"), strict=True))
        )
        if rows < 1 or cols < 1:
            raise InputError(f"window {tuple(window)} is empty: rows and cols must be at least 1")
        if max(abs(y0), abs(x0), abs(y0 + rows), abs(x0 + cols)) > _MAX_COORDINATE:
            raise InputError(f"window {tuple(window)} reaches beyond +-2**31 pixels")
        return y0, x0, rows, cols
    if output_shape is None:
        return 0, 0, int(image_shape[0]), int(image_shape[1])
    if len(output_shape) != 2:
        raise InputError(f"output_shape must be (rows, cols), not {output_shape!r}")
    rows, cols = (_whole(v, "output_shape") for v in output_shape)
    if rows < 1 or cols < 1 or max(rows, cols) > _MAX_COORDINATE:
        raise InputError(f"output_shape {tuple(output_shape)} must be at least (1, 1)")
    return 0, 0, rows, cols


def _checked_fill(fill: object, dtype: np.dtype) -> float:
    if isinstance(fill, bool | np.bool_) or not isinstance(fill, numbers.Real):
        raise InputError(f"fill must be a number, not {fill!r}")
    value = float(fill)
    if dtype.kind == "u":
        top = (1 << (8 * dtype.itemsize)) - 1
        if not (value.is_integer() and 0 <= value <= top):
            raise InputError(
                f"fill {fill!r} does not fit {dtype} samples: pass a whole number from 0 to {top}"
            )
    elif np.isfinite(value) and abs(value) > float(np.finfo(np.float32).max):
        raise InputError(f"fill {fill!r} does not fit float32 samples")
    return value


def _checked_cubic_a(cubic_a: object) -> float:
    if isinstance(cubic_a, bool | np.bool_) or not isinstance(cubic_a, numbers.Real):
        raise InputError(f"cubic_a must be a number, not {cubic_a!r}")
    value = float(cubic_a)
    if not -1.0 <= value <= 0.0:
        raise InputError(
            f"cubic_a {cubic_a!r} is outside [-1, 0]: Keys' kernel uses -0.5, OpenCV -0.75"
        )
    return value


def _thread_count(threads: object) -> int:
    count = _whole(threads, "threads")
    if count < 0:
        raise InputError(f"threads must be 0 (every core) or more, not {count}")
    if count == 0:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    return count
