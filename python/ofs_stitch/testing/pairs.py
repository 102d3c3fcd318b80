"""Image pairs with an exactly known relative shift, for registration tests and benchmarks.

Truth: the shift d = (d_row, d_col) with ``b[y, x] == a[y + d_row, x + d_col]`` (the convention
of ``register_pair``), exact by construction. Three constructions:

* ``make_pair``: two photographs of the scene (``testing.camera``) at a random sub-pixel origin
  and that origin + d: band-limited, exact to float32 rounding, any dtype, grey or RGB.
* ``fourier_pair``: a scikit-image photograph shifted with ``scipy.ndimage.fourier_shift`` (the
  band-limited shift scikit-image's own registration tests use), then both images cropped far
  from the borders. The photograph is mirror-padded before the shift so that its periodic
  extension has no jumps, whose ringing would otherwise reach into the crops.
* ``noisy_crop_pairs``: many small noisy ``fourier_pair``-like crops of scikit-image's
  retina, immunohistochemistry and hubble images, for registration without a hint: the retina's
  large dark, smooth areas are where a search that trusts small overlaps goes wrong.
* ``affine_pair``: a crop of a scikit-image photograph and the same scene under a known
  rotation, scale and shift, made with ``scipy.ndimage.affine_transform`` (cubic spline), with
  optional photon and read noise: truth for rigid, similarity and affine registration.
* ``tile_pair`` and ``neighbour_pairs``: tile-sized pairs cut at sub-pixel positions from one
  canvas by cubic-spline sampling (``testing.scene.sample_spline``); ``neighbour_pairs`` places
  them as a scan's horizontal and vertical neighbours with a noisy stage guess of the shift.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .grids import make_tiles
from .scene import SPLINE_MARGIN, luma, make_canvas, sample_spline

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
    from skimage import data, util

    grey = util.img_as_float64(getattr(data, name)())
    if grey.ndim == 3:  # skimage.color.rgb2gray's weights, summed the same on every machine
        grey = luma(grey[..., :3], dtype=np.float64)
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


# Images of noisy_crop_pairs: smooth with little texture (retina), dense texture
# (immunohistochemistry), sparse points on dark (hubble).
NOISY_CROP_TEXTURES = ("retina", "immunohistochemistry", "hubble_deep_field")


@dataclass(frozen=True)
class ShiftedPair:
    """Two images with ``b[y, x] == a[y + d_row, x + d_col]`` for ``shift`` = (d_row, d_col)."""

    name: str  # the texture both were cut from
    a: np.ndarray
    b: np.ndarray
    shift: tuple[float, float]


def noisy_crop_pairs(
    per_texture: int = 12,
    *,
    crop_shape: tuple[int, int] = (200, 240),
    max_shift: float = 40.0,
    noise_fraction: float = 0.05,
    seed: int = 0,
) -> list[ShiftedPair]:
    """``per_texture`` pairs from each of ``NOISY_CROP_TEXTURES``: float64 crops of
    ``crop_shape``, shifts uniform in +-``max_shift`` per axis (random fractional parts),
    independent Gaussian noise of ``noise_fraction`` of the texture's range on each image.

    Each pair is cut from a random window of the texture, mirror-padded and moved with
    ``scipy.ndimage.fourier_shift`` (band-limited, as ``fourier_pair``), the crops taken from
    the window's middle, far from the ringing of its periodic extension.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED, 3]))
    margin = _CROP_MARGIN + int(np.ceil(max_shift))
    window_shape = (crop_shape[0] + 2 * margin, crop_shape[1] + 2 * margin)
    pairs = []
    for name in NOISY_CROP_TEXTURES:
        image = texture(name)
        sigma = noise_fraction * float(image.max() - image.min())
        for _ in range(per_texture):
            shift = (
                float(rng.uniform(-max_shift, max_shift)),
                float(rng.uniform(-max_shift, max_shift)),
            )
            row = int(rng.integers(0, image.shape[0] - window_shape[0] + 1))
            col = int(rng.integers(0, image.shape[1] - window_shape[1] + 1))
            window = image[row : row + window_shape[0], col : col + window_shape[1]]
            moved = _fourier_moved(window, shift)
            inner = (slice(margin, margin + crop_shape[0]), slice(margin, margin + crop_shape[1]))
            a = window[inner] + rng.normal(0.0, sigma, crop_shape)
            b = moved[inner] + rng.normal(0.0, sigma, crop_shape)
            pairs.append(ShiftedPair(name, a, b, shift))
    return pairs


def _fourier_moved(window: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``window`` moved so ``result[y, x] == window[y + d_row, x + d_col]`` (band-limited)."""
    from scipy import ndimage

    padded = np.pad(window, _MIRROR_PAD, mode="symmetric")
    spectrum = ndimage.fourier_shift(np.fft.fft2(padded), (-shift[0], -shift[1]))
    moved = np.fft.ifft2(spectrum).real
    return np.asarray(moved[_MIRROR_PAD:-_MIRROR_PAD, _MIRROR_PAD:-_MIRROR_PAD])


# Mirror padding around a photograph for affine_pair: the scene extends past the photograph's
# edge by reflection, so a rotated, shifted crop is still a crop of the same scene.
_AFFINE_PAD = 192


@dataclass(frozen=True)
class AffinePair:
    """Two images with ``b[p] == a[matrix @ p]`` (the scene's cubic spline between samples)."""

    name: str
    a: np.ndarray
    b: np.ndarray
    matrix: np.ndarray  # (3, 3) in (row, col)

    def endpoint_error(self, estimate: np.ndarray) -> tuple[float, float]:
        """Mean and largest distance (px) between ``estimate @ p`` and ``matrix @ p`` over the
        pixels p of b whose true position lies inside a (every 4th pixel each way: the error
        is an affine function of p, so its mean over them is the mean over all)."""
        rows, cols = self.b.shape
        grid_rows, grid_cols = np.meshgrid(
            np.arange(0, rows, 4.0), np.arange(0, cols, 4.0), indexing="ij"
        )
        grid = np.column_stack([grid_rows.ravel(), grid_cols.ravel()])
        true = grid @ self.matrix[:2, :2].T + self.matrix[:2, 2]
        inside = (true >= 0).all(axis=1) & (true[:, 0] <= rows - 1) & (true[:, 1] <= cols - 1)
        points = grid[inside]
        error = points @ (np.asarray(estimate)[:2, :2] - self.matrix[:2, :2]).T + (
            np.asarray(estimate)[:2, 2] - self.matrix[:2, 2]
        )
        distance = np.hypot(error[:, 0], error[:, 1])
        return float(distance.mean()), float(distance.max())


def affine_pair(
    name: str,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int] = (512, 512),
    max_angle_deg: float = 5.0,
    max_shift: float = 60.0,
    max_scale_change: float = 0.0,
    max_shear: float = 0.0,
    photons: float | None = None,
    read_noise: float = 0.0,
) -> AffinePair:
    """A ``shape`` crop ``a`` of texture ``name`` and ``b``, the scene under a random similarity
    about b's centre: rotation uniform in +-``max_angle_deg``, scale 1 +- ``max_scale_change``,
    shift uniform in +-``max_shift`` per axis, then (for affine truth) a shear of the column
    axis along rows uniform in +-``max_shear`` about the same centre. ``photons``: Poisson
    noise with that many photons at the texture's brightest; ``read_noise``: Gaussian noise of
    that fraction of full scale.
    """
    from scipy import ndimage

    from ..core.transform import Transform

    scene = np.pad(texture(name), _AFFINE_PAD, mode="symmetric")
    angle = float(rng.uniform(-max_angle_deg, max_angle_deg))
    scale = 1.0 + float(rng.uniform(-max_scale_change, max_scale_change))
    shift = rng.uniform(-max_shift, max_shift, 2)
    centre = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    matrix = Transform.similarity(angle, scale, shift, centre).matrix.copy()
    if max_shear > 0:
        shear = np.eye(3)
        shear[0, 1] = float(rng.uniform(-max_shear, max_shear))
        shear[0, 2] = -shear[0, 1] * centre[1]  # about the centre: it stays where it is
        matrix = matrix @ shear
    reach = _AFFINE_PAD - 8
    origin = np.array(
        [rng.uniform(reach, scene.shape[k] - shape[k] - reach) for k in (0, 1)]
    ).round()
    window = (
        slice(int(origin[0]), int(origin[0]) + shape[0]),
        slice(int(origin[1]), int(origin[1]) + shape[1]),
    )
    a = scene[window].copy()
    # b[p] = scene[origin + M p]: affine_transform samples input[matrix @ o + offset].
    b = ndimage.affine_transform(
        scene,
        matrix[:2, :2],
        offset=matrix[:2, 2] + origin,
        output_shape=shape,
        order=3,
        mode="mirror",
    )
    if photons is not None:
        peak = float(scene.max())
        a = rng.poisson(np.clip(a, 0, None) / peak * photons) / photons * peak
        b = rng.poisson(np.clip(b, 0, None) / peak * photons) / photons * peak
    if read_noise > 0:
        a = a + rng.normal(0.0, read_noise * float(scene.max()), shape)
        b = b + rng.normal(0.0, read_noise * float(scene.max()), shape)
    return AffinePair(name, np.asarray(a, np.float32), np.asarray(b, np.float32), matrix)


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
