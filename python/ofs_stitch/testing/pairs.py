"""Image pairs with an exactly known relative shift, for registration tests and benchmarks.

Truth: the shift d = (d_row, d_col) with ``b[y, x] == a[y + d_row, x + d_col]`` (the convention
of ``register_pair``), exact by construction. Three constructions:

* ``make_pair``: two photographs of the scene (``testing.camera``) at a random sub-pixel origin
  and that origin + d: band-limited, exact to float32 rounding, any dtype, grey or RGB.
* ``fourier_pair``: a scikit-image photograph shifted with ``scipy.ndimage.fourier_shift`` (the
  band-limited shift scikit-image's own registration tests use), then both images cropped far
  from the borders. The photograph is mirror-padded before the shift so that its periodic
  extension has no jumps, whose ringing would otherwise reach into the crops.
* ``tile_pair`` and ``neighbour_pairs``: tile-sized pairs cut at sub-pixel positions from one
  canvas by cubic-spline sampling (``testing.scene.sample_spline``); ``neighbour_pairs`` places
  them as a scan's horizontal and vertical neighbours with a noisy stage guess of the shift.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import InputError
from .grids import make_tiles
from .scene import SPLINE_MARGIN, make_canvas, sample_spline

# Photographs bundled inside scikit-image with texture at many scales (nothing is downloaded).
TEXTURES = ("camera", "astronaut", "brick", "gravel")
# Mirror padding before the Fourier shift, and the distance every crop keeps from the border.
_MIRROR_PAD = 64
_CROP_MARGIN = 48
# The canvas every tile pair is cut from.
_TILE_PAIR_CANVAS = (2000, 2400)


def make_pair(
    shape: tuple[int, int],
    shift: tuple[float, float],
    *,
    noise_sigma: float = 0.0,
    seed: int = 0,
    dtype: Any = np.float32,
    rgb: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Two images of ``shape`` whose true relative shift is ``shift`` = (d_row, d_col).

    ``b[y, x] == a[y + d_row, x + d_col]`` (b's origin sits at ``shift`` in a's frame), exactly
    for the band-limited scene both are sampled from. a's own origin has a random sub-pixel
    part, so neither image is a plain copy of canvas pixels. ``noise_sigma`` (fraction of full
    scale) adds independent Gaussian noise to each. ``dtype``: float32/float64 in [0, 1], uint8
    or uint16.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9A1, 1]))
    origin_a = rng.random(2)
    origin_b = origin_a + (float(shift[0]), float(shift[1]))
    a, b = make_tiles(
        [origin_a, origin_b], shape, seed=seed, rgb=rgb, noise_sigma=noise_sigma, dtype=dtype
    )
    return a, b


def random_shifts(rng: np.random.Generator, count: int, max_shift: float) -> np.ndarray:
    """``count`` (d_row, d_col) shifts uniform in +-``max_shift`` with random fractional parts."""
    return rng.uniform(-max_shift, max_shift, size=(count, 2))


@functools.lru_cache(maxsize=8)
def texture(name: str) -> np.ndarray:
    """A scikit-image photograph as float64 grey in [0, 1] (read-only, cached)."""
    from skimage import color, data, util

    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    grey = util.img_as_float64(image)
    grey.setflags(write=False)
    return np.asarray(grey)


@functools.lru_cache(maxsize=8)
def _padded_spectrum(name: str) -> np.ndarray:
    padded = np.pad(texture(name), _MIRROR_PAD, mode="symmetric")
    return np.fft.fft2(padded)


def fourier_shifted(name: str, shift: tuple[float, float]) -> np.ndarray:
    """The texture moved so ``result[y, x] == texture[y + d_row, x + d_col]`` (band-limited)."""
    from scipy import ndimage

    # fourier_shift moves content by +shift (output[x] = input[x - shift]); we want the opposite.
    spectrum = ndimage.fourier_shift(_padded_spectrum(name), (-shift[0], -shift[1]))
    moved = np.fft.ifft2(spectrum).real
    return np.asarray(moved[_MIRROR_PAD:-_MIRROR_PAD, _MIRROR_PAD:-_MIRROR_PAD])


def fourier_pair(
    name: str,
    shift: tuple[float, float],
    crop_shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    noise_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Crops a, b (float64) of the texture with ``b[y, x] == a[y + d_row, x + d_col]``.

    The crop origin is random but keeps ``_CROP_MARGIN`` pixels (plus the shift) from the border.
    ``noise_fraction``: independent Gaussian noise of that fraction of the texture's range.
    """
    image = texture(name)
    moved = fourier_shifted(name, shift)
    low = _CROP_MARGIN + int(np.ceil(max(abs(shift[0]), abs(shift[1]))))
    high_row = image.shape[0] - crop_shape[0] - low
    high_col = image.shape[1] - crop_shape[1] - low
    if high_row < low or high_col < low:
        raise InputError(f"crop {crop_shape} with shift {shift} does not fit in {name}")
    row = int(rng.integers(low, high_row + 1))
    col = int(rng.integers(low, high_col + 1))
    window = (slice(row, row + crop_shape[0]), slice(col, col + crop_shape[1]))
    a, b = image[window].copy(), moved[window].copy()
    if noise_fraction > 0:
        sigma = noise_fraction * float(image.max() - image.min())
        a += rng.normal(0.0, sigma, a.shape)
        b += rng.normal(0.0, sigma, b.shape)
    return a, b


@functools.lru_cache(maxsize=1)
def _tile_pair_canvas() -> np.ndarray:
    """The grey canvas tile pairs are cut from (read-only, cached)."""
    pixels = make_canvas(_TILE_PAIR_CANVAS, seed=0)
    pixels.setflags(write=False)
    return pixels


def tile_pair(
    shift: tuple[float, float],
    rng: np.random.Generator,
    *,
    tile_shape: tuple[int, int] = (480, 640),
    noise_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two grey float32 tiles, ``b`` at ``shift`` from ``a``, at a random place on one canvas.

    ``noise_fraction``: independent Gaussian noise per tile, as a fraction of full scale.
    """
    pixels = _tile_pair_canvas()
    m = SPLINE_MARGIN
    low = np.array([m + max(0.0, -shift[0]), m + max(0.0, -shift[1])])
    high = np.array(pixels.shape) - m - 1 - np.array(tile_shape) - np.maximum(0.0, shift)
    origin = rng.uniform(low, high)
    a = sample_spline(pixels, (origin[0], origin[1]), tile_shape)
    b = sample_spline(pixels, (origin[0] + shift[0], origin[1] + shift[1]), tile_shape)
    if noise_fraction > 0:
        a = a + rng.normal(0.0, noise_fraction, a.shape).astype(np.float32)
        b = b + rng.normal(0.0, noise_fraction, b.shape).astype(np.float32)
    return a, b


def neighbour_pairs(
    count: int,
    *,
    tile_shape: tuple[int, int] = (480, 640),
    overlap: float = 0.3,
    stage_error: float = 10.0,
    noise_fraction: float = 0.0,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(a, b, true shift, stage guess) for ``count`` neighbours in a scan, alternately side by
    side and one above the other at ``overlap``, each off the nominal pitch by up to +-3 px.

    The guess is the truth plus a uniform error of +-``stage_error`` px per axis.
    """
    rng = np.random.default_rng(seed)
    pitch = (tile_shape[0] * (1 - overlap), tile_shape[1] * (1 - overlap))
    cases = []
    for k in range(count):
        nominal = np.array([0.0, pitch[1]]) if k % 2 == 0 else np.array([pitch[0], 0.0])
        truth = nominal + rng.uniform(-3.0, 3.0, 2)
        guess = truth + rng.uniform(-stage_error, stage_error, 2)
        a, b = tile_pair(
            (truth[0], truth[1]), rng, tile_shape=tile_shape, noise_fraction=noise_fraction
        )
        cases.append((a, b, truth, guess))
    return cases
