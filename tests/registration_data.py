"""Image pairs and tile grids with an exactly known shift, for registration tests and benchmarks.

Two sources of ground truth, both exact by construction:

* ``fourier_pair``: a scikit-image photograph shifted with ``scipy.ndimage.fourier_shift`` (the
  band-limited shift scikit-image's own registration tests use), then both images are cropped far
  from the borders. The photograph is mirror-padded before the shift so that its periodic
  extension has no jumps, whose ringing would otherwise reach into the crops.
* ``tile_pair`` and ``tile_grid``: tiles cut at sub-pixel positions from one large canvas of real
  texture (``ofs_stitch.testing.synthetic.make_canvas``) by cubic-spline sampling, so every tile samples
  the same continuous image.

Convention throughout (as ``register_pair``): ``b[y, x] == a[y + d_row, x + d_col]``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Photographs bundled inside scikit-image with texture at many scales (nothing is downloaded).
TEXTURES = ("camera", "astronaut", "brick", "gravel")
# Mirror padding before the Fourier shift, and the distance every crop keeps from the border.
_MIRROR_PAD = 64
_CROP_MARGIN = 48


@functools.lru_cache(maxsize=8)
def texture(name: str) -> np.ndarray:
    """A scikit-image photograph as float64 grey in [0, 1] (read-only, cached)."""
    from skimage import color, data, util

    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    grey = util.img_as_float64(image)
    grey.setflags(write=False)
    return grey


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
    return moved[_MIRROR_PAD:-_MIRROR_PAD, _MIRROR_PAD:-_MIRROR_PAD]


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
        raise ValueError(f"crop {crop_shape} with shift {shift} does not fit in {name}")
    row = int(rng.integers(low, high_row + 1))
    col = int(rng.integers(low, high_col + 1))
    window = (slice(row, row + crop_shape[0]), slice(col, col + crop_shape[1]))
    a, b = image[window].copy(), moved[window].copy()
    if noise_fraction > 0:
        sigma = noise_fraction * float(image.max() - image.min())
        a += rng.normal(0.0, sigma, a.shape)
        b += rng.normal(0.0, sigma, b.shape)
    return a, b


def random_shifts(rng: np.random.Generator, count: int, max_shift: float) -> np.ndarray:
    """``count`` (d_row, d_col) shifts uniform in +-``max_shift`` with random fractional parts."""
    return rng.uniform(-max_shift, max_shift, size=(count, 2))


@dataclass(frozen=True)
class TileGrid:
    """Tiles of a raster scan with their exact positions and a noisy stage's guess of them."""

    tiles: list[np.ndarray]  # float32 grey, row-major over the grid
    true_positions: np.ndarray  # (n, 2) top-left corners (row, col), exact
    stage_positions: np.ndarray  # (n, 2) true positions plus the stage's error
    grid_shape: tuple[int, int]
    tile_shape: tuple[int, int]
    pitch: tuple[float, float]  # nominal spacing (rows, cols) between neighbours

    def index(self, row: int, col: int) -> int:
        return row * self.grid_shape[1] + col

    def neighbour_pairs(self) -> list[tuple[int, int]]:
        """(i, j) of every horizontal, then every vertical, pair of neighbours."""
        rows, cols = self.grid_shape
        across = [
            (self.index(r, c), self.index(r, c + 1)) for r in range(rows) for c in range(cols - 1)
        ]
        down = [
            (self.index(r, c), self.index(r + 1, c)) for r in range(rows - 1) for c in range(cols)
        ]
        return across + down


@functools.lru_cache(maxsize=2)
def canvas(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A large real-texture canvas (float32 grey in [0, 1], read-only, cached)."""
    from ofs_stitch.testing.synthetic import make_canvas

    pixels = make_canvas(shape, seed=seed)
    pixels.setflags(write=False)
    return pixels


# The cubic-spline prefilter's influence falls below 1e-9 after 16 px: cut regions with a margin.
_SPLINE_MARGIN = 24


def sample_tile(
    pixels: np.ndarray, origin: tuple[float, float], shape: tuple[int, int]
) -> np.ndarray:
    """The canvas's cubic-spline interpolant sampled at ``origin + (i, j)`` (float32).

    Every tile samples the same continuous image, so two tiles at origins o1, o2 satisfy
    ``tile2[y, x] == tile1[y + d_row, x + d_col]`` with d = o2 - o1 exactly.
    """
    from scipy import ndimage

    base = (int(np.floor(origin[0])), int(np.floor(origin[1])))
    m = _SPLINE_MARGIN
    if (
        base[0] < m
        or base[1] < m
        or base[0] + shape[0] + m > pixels.shape[0]
        or base[1] + shape[1] + m > pixels.shape[1]
    ):
        raise ValueError(f"tile at {origin} of {shape} does not fit in the canvas {pixels.shape}")
    region = pixels[base[0] - m : base[0] + shape[0] + m, base[1] - m : base[1] + shape[1] + m]
    # ndimage.shift(x, s)[p] = x[p - s]: sampling at p + frac needs s = -frac.
    moved = ndimage.shift(
        region, (base[0] - origin[0], base[1] - origin[1]), order=3, mode="mirror"
    )
    return np.ascontiguousarray(moved[m : m + shape[0], m : m + shape[1]], dtype=np.float32)


def tile_pair(
    shift: tuple[float, float],
    rng: np.random.Generator,
    *,
    tile_shape: tuple[int, int] = (480, 640),
    noise_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two tiles, ``b`` at ``shift`` from ``a``, at a random place on a shared canvas."""
    pixels = canvas((2000, 2400))
    m = _SPLINE_MARGIN
    low = np.array([m + max(0.0, -shift[0]), m + max(0.0, -shift[1])])
    high = np.array(pixels.shape) - m - 1 - np.array(tile_shape) - np.maximum(0.0, shift)
    origin = rng.uniform(low, high)
    a = sample_tile(pixels, tuple(origin), tile_shape)
    b = sample_tile(pixels, (origin[0] + shift[0], origin[1] + shift[1]), tile_shape)
    if noise_fraction > 0:
        a = a + rng.normal(0.0, noise_fraction, a.shape).astype(np.float32)
        b = b + rng.normal(0.0, noise_fraction, b.shape).astype(np.float32)
    return a, b


def tile_grid(
    grid_shape: tuple[int, int],
    *,
    tile_shape: tuple[int, int] = (480, 640),
    overlap: float = 0.3,
    jitter: float = 1.5,
    stage_error: float = 10.0,
    noise_fraction: float = 0.0,
    seed: int = 0,
) -> TileGrid:
    """A ``grid_shape`` raster of tiles cut from a real-texture canvas at sub-pixel positions.

    Each tile sits at its nominal grid position plus a uniform jitter of +-``jitter`` px per
    axis; the stage reports each position with a uniform error of +-``stage_error`` px per axis.
    ``noise_fraction``: independent Gaussian noise per tile, as a fraction of full scale.
    """
    rng = np.random.default_rng(seed)
    rows, cols = grid_shape
    height, width = tile_shape
    pitch = (height * (1.0 - overlap), width * (1.0 - overlap))
    grid = np.array([(r, c) for r in range(rows) for c in range(cols)], dtype=float)
    start = _SPLINE_MARGIN + jitter
    true_positions = start + grid * pitch + rng.uniform(-jitter, jitter, grid.shape)
    stage_positions = true_positions + rng.uniform(-stage_error, stage_error, grid.shape)
    canvas_shape = (
        int(np.ceil(true_positions[:, 0].max())) + height + _SPLINE_MARGIN + 1,
        int(np.ceil(true_positions[:, 1].max())) + width + _SPLINE_MARGIN + 1,
    )
    from ofs_stitch.testing.synthetic import make_canvas

    pixels = make_canvas(canvas_shape, seed=seed)
    tiles = []
    for origin in true_positions:
        tile = sample_tile(pixels, tuple(origin), tile_shape)
        if noise_fraction > 0:
            tile = tile + rng.normal(0.0, noise_fraction, tile.shape).astype(np.float32)
        tiles.append(tile)
    return TileGrid(
        tiles=tiles,
        true_positions=true_positions,
        stage_positions=stage_positions,
        grid_shape=(rows, cols),
        tile_shape=(height, width),
        pitch=pitch,
    )
