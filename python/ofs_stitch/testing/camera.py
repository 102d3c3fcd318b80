"""The synthetic camera: photographs of the scene (``testing.scene``) taken at known positions.

Truth: where each photograph was taken, to the sub-pixel, and what the camera did to it. The
image model, in order: a blank area (no sample, just the slide's brightness) replaces scene
content; the scene is sampled band-limited at the position, with an optional Gaussian defocus
folded into the sampling kernel so photographs stay consistent with each other; radial
vignetting; independent Gaussian noise; clipping and quantisation. Every generator that
photographs the texture scene (scans, grids, pairs, and series and stacks to come) goes through
here, so they share one camera.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .scene import (
    MAX_BLUR_SIGMA,
    SAMPLING_MARGIN,
    TextureCanvas,
    blur_margin,
    sample_subpixel,
    texture_canvas,
)

# Room around the tiles for the widest sampling kernel (the largest blur). It does not depend on
# the blur actually asked for, so the same positions always give the same scene.
CANVAS_MARGIN = SAMPLING_MARGIN + blur_margin(MAX_BLUR_SIGMA) + 1


def check_blur(blur_sigma: float) -> None:
    if not 0.0 <= blur_sigma <= MAX_BLUR_SIGMA:
        raise InputError(f"blur_sigma={blur_sigma} must be in [0, {MAX_BLUR_SIGMA}] px")


def canvas_covering(
    origins: np.ndarray, shape: tuple[int, int], seed: int
) -> tuple[TextureCanvas, np.ndarray]:
    """A canvas holding tiles of ``shape`` at ``origins`` (n, 2) with their sampling margins.

    Returns the canvas and the position of its pixel (0, 0) in the frame of ``origins``.
    """
    low = np.floor(origins.min(axis=0)).astype(int) - CANVAS_MARGIN
    high = np.floor(origins.max(axis=0)).astype(int) + np.array(shape) + CANVAS_MARGIN + 1
    size = high - low
    return texture_canvas((int(size[0]), int(size[1])), int(seed)), low


def _sample(
    canvas: TextureCanvas,
    origin: np.ndarray,
    shape: tuple[int, int],
    *,
    rgb: bool,
    blur_sigma: float,
    blank_from_col: float | None,
    blank_level: float,
) -> np.ndarray:
    """The scene sampled at origin + (i, j), canvas coordinates (see ``testing.scene``).

    RGB comes channels-first, (3, rows, cols).

    Canvas columns at or right of ``blank_from_col`` are replaced by ``blank_level`` before
    sampling, so the blank area is part of the scene (band-limited and blurred with it).
    """
    base = np.floor(origin).astype(int)
    frac = (float(origin[0] - base[0]), float(origin[1] - base[1]))
    pad = SAMPLING_MARGIN + blur_margin(blur_sigma)
    region = canvas.render(
        int(base[0]) - pad,
        int(base[1]) - pad,
        shape[0] + 2 * pad,
        shape[1] + 2 * pad,
        rgb=rgb,
        channels_first=True,
    )
    if blank_from_col is not None:
        first_blank = int(np.ceil(blank_from_col)) - (int(base[1]) - pad)
        region[..., max(first_blank, 0) :] = blank_level
    return sample_subpixel(region, frac, pad, blur_sigma=blur_sigma)


def photograph(
    canvas: TextureCanvas,
    origin: np.ndarray,
    tile_shape: tuple[int, int],
    *,
    rgb: bool,
    rng: np.random.Generator,
    blur_sigma: float = 0.0,
    blank_from_col: float | None = None,
    blank_level: float = 0.0,
    blank_noise_sigma: float = 0.0,
    gain: np.ndarray | None = None,
    noise_sigma: float = 0.0,
) -> np.ndarray:
    """One tile as float32 [0, 1]-ish (before clipping), at canvas position ``origin``.

    RGB comes channels-first, (3, rows, cols). ``blank_noise_sigma``: camera noise over the blank
    area only (a real empty field has it, and it must not correlate between tiles); ``gain``:
    a (rows, cols) brightness map such as ``vignetting_gain``; ``noise_sigma``: Gaussian noise
    over the whole tile, fraction of full scale. ``rng`` draws the noise.
    """
    image = _sample(
        canvas,
        origin,
        tile_shape,
        rgb=rgb,
        blur_sigma=blur_sigma,
        blank_from_col=blank_from_col,
        blank_level=blank_level,
    )
    if blank_from_col is not None and blank_noise_sigma > 0:
        first_blank = int(np.ceil(blank_from_col - origin[1]))
        if first_blank < tile_shape[1]:
            blank = image[..., max(first_blank, 0) :]
            blank += rng.standard_normal(blank.shape, dtype=np.float32) * np.float32(
                blank_noise_sigma
            )
    if gain is not None:
        image *= gain  # broadcasts over the channels-first planes
    if noise_sigma > 0:
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise_sigma)
    return image


def vignetting_gain(tile_shape: tuple[int, int], vignetting: float) -> np.ndarray:
    """Radial gain 1 - v (r / r_corner)^2: 1 at the centre, 1 - v at the corners."""
    rows = np.arange(tile_shape[0], dtype=np.float32) - (tile_shape[0] - 1) / 2
    cols = np.arange(tile_shape[1], dtype=np.float32) - (tile_shape[1] - 1) / 2
    r2 = rows[:, None] ** 2 + cols[None, :] ** 2
    return np.asarray(1.0 - vignetting * r2 / r2.max(), dtype=np.float32)


def quantise(image: np.ndarray, dtype: Any) -> np.ndarray:
    """float [0, 1] -> dtype. Clipping is pointwise, so tiles stay consistent with each other."""
    dtype = np.dtype(dtype)
    np.clip(image, 0.0, 1.0, out=image)
    if dtype.kind == "f":
        return image.astype(dtype, copy=False)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise InputError(f"dtype {dtype} is not supported; use float32, uint8 or uint16")
    full_scale = np.float32(np.iinfo(dtype).max)
    image *= full_scale
    image += np.float32(0.5)
    return image.astype(dtype)


def channels_last(image: np.ndarray) -> np.ndarray:
    """(3, rows, cols) -> contiguous (rows, cols, 3); done after quantising, on the small dtype."""
    return np.ascontiguousarray(np.moveaxis(image, 0, 2)) if image.ndim == 3 else image
