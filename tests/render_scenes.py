"""Generated scans with exact ground truth, for the rendering tests.

Tiles are cut from a known canvas (whole-pixel positions, lossless files) or sampled from a
smooth analytic image at sub-pixel positions, so every rendered pixel can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips
from scipy.ndimage import gaussian_filter

from ofs_stitch.render.geometry import MosaicGeometry, layout_from_arrays


@dataclass(frozen=True)
class Scene:
    layout: MosaicGeometry
    truth: np.ndarray  # the canvas the tiles were cut from, in layout coordinates


def smooth_canvas(shape: tuple[int, int], bands: int, dtype: type, seed: int) -> np.ndarray:
    """Blurred noise: texture at every scale a seam could hide in."""
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
    rng = np.random.default_rng(seed)
    pos = np.array([[r * step[0], c * step[1]] for r in range(rows) for c in range(cols)])
    pos = pos + rng.integers(-jitter, jitter + 1, pos.shape)
    return pos - pos.min(0)


def save_tile(pixels: np.ndarray, path: Path) -> Path:
    image = pyvips.Image.new_from_array(pixels)
    if pixels.shape[-1] == 1 or pixels.ndim == 2:
        image = image.copy(interpretation="grey16" if pixels.dtype == np.uint16 else "b-w")
    suffix = path.suffix.lower()
    if suffix == ".png":
        image.pngsave(str(path), compression=1)
    elif suffix in (".tif", ".tiff"):
        image.tiffsave(str(path))
    else:
        image.jpegsave(str(path), Q=92)
    return path


def cut_scene(
    folder: Path,
    canvas: np.ndarray,
    positions: np.ndarray,
    tile_shape: tuple[int, int],
    suffix: str = ".png",
) -> Scene:
    """Tiles cut from ``canvas`` at whole-pixel (row, col) ``positions`` (minimum 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = tile_shape
    if (positions.max(0) + tile_shape > canvas.shape[:2]).any():
        raise ValueError("the canvas is too small for these tile positions")
    paths = [
        save_tile(canvas[r : r + h, c : c + w], folder / f"tile_{k:03d}{suffix}")
        for k, (r, c) in enumerate(positions)
    ]
    layout = layout_from_arrays(paths, positions, np.tile([h, w], (len(paths), 1)))
    return Scene(layout, canvas[: layout.height, : layout.width])


class Waves:
    """A smooth analytic image: a sum of plane waves below 0.12 cycles per pixel."""

    def __init__(self, seed: int, waves: int = 12) -> None:
        rng = np.random.default_rng(seed)
        self.freqs = rng.uniform(-0.12, 0.12, (waves, 2))
        self.phases = rng.uniform(0, 2 * np.pi, waves)
        self.amps = rng.uniform(0.5, 1.0, waves)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        total = sum(
            a * np.cos(2 * np.pi * (fr * rows + fc * cols) + ph)
            for (fr, fc), ph, a in zip(self.freqs, self.phases, self.amps)
        )
        return 128 + 100 * total / self.amps.sum()


def subpixel_scene(
    folder: Path, rows: int, cols: int, tile_shape: tuple[int, int], seed: int
) -> tuple[MosaicGeometry, Waves, np.ndarray]:
    """Tiles sampled from `Waves` at random sub-pixel positions; returns the layout, the
    image and the true float positions."""
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


def psnr(image: np.ndarray, truth: np.ndarray, mask: np.ndarray, peak: float = 255.0) -> float:
    error = (image.astype(float) - truth)[mask] ** 2
    return float(10 * np.log10(peak**2 / error.mean()))
