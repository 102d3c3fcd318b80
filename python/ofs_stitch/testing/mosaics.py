"""Tile files cut from a known image: the truth is the mosaic itself, for the renderer.

Truth: every pixel the renderer must produce. Tiles are cut from a known canvas at whole-pixel
positions into lossless files (``cut_scene``: the mosaic equals the canvas wherever a tile
covers it), or sampled from a smooth analytic image at sub-pixel positions (``subpixel_scene``:
``Waves`` gives the true value anywhere). The canvases are blurred noise, which has texture at
every scale a seam could hide in. ``make_jpeg_scan`` writes the rendering benchmarks' scans:
JPEG tiles of blurred noise, kept in libvips so that a benchmark-sized canvas costs no numpy
array, and named after their position as openflexure-stitch reads it.

Registration truth (tile positions known to the sub-pixel in real texture) is ``testing.scans``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .files import write_tile

if TYPE_CHECKING:
    from ..render.geometry import MosaicGeometry


@dataclass(frozen=True)
class CutMosaic:
    """Tiles cut from a canvas: their layout, and the canvas over the layout's extent."""

    layout: MosaicGeometry
    truth: np.ndarray  # the canvas the tiles were cut from, in layout coordinates


def smooth_canvas(shape: tuple[int, int], bands: int, dtype: type, seed: int) -> np.ndarray:
    """Blurred noise of ``bands`` bands filling ``dtype``'s range around its middle."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    layers = []
    for _ in range(bands):
        layer = gaussian_filter(rng.normal(size=shape), 2.0)
        layers.append(np.clip(top / 2 + layer / layer.std() * top / 6, 0, top))
    return np.stack(layers, axis=-1).astype(dtype)


def grid_positions(
    rows: int, cols: int, step: tuple[int, int], jitter: int, seed: int
) -> np.ndarray:
    """(rows * cols, 2) whole-pixel (row, col) positions of a raster, row-major: ``step`` apart,
    each moved by up to +-``jitter`` px per axis, the smallest at 0."""
    rng = np.random.default_rng(seed)
    pos = np.array([[r * step[0], c * step[1]] for r in range(rows) for c in range(cols)])
    pos = pos + rng.integers(-jitter, jitter + 1, pos.shape)
    return np.asarray(pos - pos.min(0))


def save_tile(pixels: np.ndarray, path: Path) -> Path:
    """One tile file for the renderer, by suffix (JPEG at quality 92, lossless otherwise)."""
    return write_tile(path, pixels, jpeg_quality=92)


def cut_scene(
    folder: Path,
    canvas: np.ndarray,
    positions: np.ndarray,
    tile_shape: tuple[int, int],
    suffix: str = ".png",
) -> CutMosaic:
    """Tiles cut from ``canvas`` at whole-pixel (row, col) ``positions`` (minimum 0)."""
    from ..render.geometry import layout_from_arrays

    folder.mkdir(parents=True, exist_ok=True)
    h, w = tile_shape
    if (positions.max(0) + tile_shape > canvas.shape[:2]).any():
        raise InputError("the canvas is too small for these tile positions")
    paths = [
        save_tile(canvas[r : r + h, c : c + w], folder / f"tile_{k:03d}{suffix}")
        for k, (r, c) in enumerate(positions)
    ]
    layout = layout_from_arrays(paths, positions, np.tile([h, w], (len(paths), 1)))
    return CutMosaic(layout, canvas[: layout.height, : layout.width])


class Waves:
    """A smooth analytic image: a sum of plane waves below 0.12 cycles per pixel."""

    def __init__(self, seed: int, waves: int = 12) -> None:
        rng = np.random.default_rng(seed)
        self.freqs = rng.uniform(-0.12, 0.12, (waves, 2))
        self.phases = rng.uniform(0, 2 * np.pi, waves)
        self.amps = rng.uniform(0.5, 1.0, waves)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The image's values (about 28 to 228) at real (row, col) coordinates."""
        total = sum(
            a * np.cos(2 * np.pi * (fr * rows + fc * cols) + ph)
            for (fr, fc), ph, a in zip(self.freqs, self.phases, self.amps, strict=True)
        )
        return np.asarray(128 + 100 * total / self.amps.sum())


def subpixel_scene(
    folder: Path, rows: int, cols: int, tile_shape: tuple[int, int], seed: int
) -> tuple[MosaicGeometry, Waves, np.ndarray]:
    """Tiles sampled from `Waves` at random sub-pixel positions; returns the layout, the
    image and the true float positions."""
    from ..render.geometry import layout_from_arrays

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = tile_shape
    step = (int(h * 0.75), int(w * 0.75))
    positions = np.array(
        [[r * step[0], c * step[1]] for r in range(rows) for c in range(cols)], float
    ) + rng.uniform(-6, 6, (rows * cols, 2))
    waves = Waves(seed)
    paths = []
    a, b = np.mgrid[0:h, 0:w]
    for k, (pr, pc) in enumerate(positions):
        tile = np.clip(np.rint(waves(pr + a, pc + b)), 0, 255).astype(np.uint8)
        paths.append(save_tile(tile, folder / f"tile_{k:03d}.png"))
    layout = layout_from_arrays(paths, positions, np.tile([h, w], (len(paths), 1)))
    return layout, waves, positions


def make_jpeg_scan(
    folder: Path,
    rows: int,
    cols: int,
    tile_shape: tuple[int, int],
    *,
    overlap: float = 0.3,
    jitter: int = 15,
    seed: int = 0,
) -> tuple[list[Path], np.ndarray]:
    """A scan of RGB JPEG tiles cut from blurred noise, named ``img_<col>_<row>.jpg`` after
    their whole-pixel position; returns the paths and the (n, 2) (row, col) positions (minimum
    0) as floats. Tiles already in ``folder`` are kept, so a benchmark can reuse a scan."""
    import pyvips

    folder.mkdir(parents=True, exist_ok=True)
    h, w = tile_shape
    step = (round(h * (1 - overlap)), round(w * (1 - overlap)))
    positions = grid_positions(rows, cols, step, jitter, seed)
    height, width = (positions.max(0) + tile_shape).tolist()
    # libvips makes the texture without holding it all in numpy.
    noise = pyvips.Image.gaussnoise(width, height, sigma=60, mean=128, seed=seed).gaussblur(2)
    grey = noise.cast("uchar")
    canvas = grey.bandjoin([grey.flip("horizontal"), grey.flip("vertical")])
    canvas = canvas.copy(interpretation="srgb").copy_memory()
    paths = []
    for r, c in positions:
        path = folder / f"img_{c}_{r}.jpg"
        if not path.exists():
            canvas.crop(int(c), int(r), w, h).jpegsave(str(path), Q=90)
        paths.append(path)
    return paths, positions.astype(float)


def psnr(image: np.ndarray, truth: np.ndarray, mask: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio (dB) of ``image`` against ``truth`` over ``mask``."""
    error = (image.astype(float) - truth)[mask] ** 2
    return float(10 * np.log10(peak**2 / error.mean()))
