"""Depth-map and contrast-weighted fusion: one focus measure per frame and pixel, one pass.

Focus measures (on the frame's luminance, squared so they read as energy, then smoothed by a
Gaussian of ``smoothing`` px so that a measure speaks for a neighbourhood, not a noisy pixel):

- ``laplacian``: the discrete Laplacian (4-neighbour); responds to fine detail, the usual choice.
- ``sobel``: the gradient magnitude by Sobel filters; steadier on noisy frames.
- ``variance``: the local variance in the smoothing window; what a texture's contrast gives.

``depthmap`` with ``hard`` selection keeps, pixel by pixel, the frame with the highest measure
(running: the best frame's pixels so far); ``weighted`` blends every frame with weights
``measure ** (sharpness / 2)``, normalised. ``average`` is the same blend with weights
proportional to the smoothed Laplacian magnitude (``sharpness`` 1), the gentlest choice.

Every measure is local, so both run tile by tile (``tiles``): each frame is read over a tile
and the measure's reach around it (`margin`), and the tile's inside is the whole frame's result.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._core import focus
from .frames import Frame, Frames, luminance
from .fusion import Fused, FusionSettings, confidence_from
from .tiles import Tile, plan, read_region

# Keeps a weight from being zero where every frame is flat.
_WEIGHT_FLOOR = 1e-12


def focus_measure(frame: Frame, energy: str, smoothing: float) -> np.ndarray:
    """The smoothed focus measure of one frame (see the module docstring); 0 where invalid."""
    pixels = frame.pixels
    grey = luminance(pixels)
    if energy == "laplacian":
        measure = ndimage.laplace(grey, mode="mirror")
        measure *= measure
    elif energy == "sobel":
        along_rows = ndimage.sobel(grey, axis=0, mode="mirror")
        along_cols = ndimage.sobel(grey, axis=1, mode="mirror")
        measure = along_rows * along_rows + along_cols * along_cols
    else:
        sigma = max(smoothing, 1.0)
        mean = ndimage.gaussian_filter(grey, sigma, mode="mirror")
        measure = ndimage.gaussian_filter(grey * grey, sigma, mode="mirror") - mean * mean
        np.maximum(measure, 0.0, out=measure)
    if smoothing > 0 and energy != "variance":
        measure = ndimage.gaussian_filter(measure, smoothing, mode="mirror")
    measure = np.ascontiguousarray(measure, dtype=np.float32)
    if frame.valid is not None:
        measure[~frame.valid] = -1.0
    return measure


def margin(energy: str, smoothing: float) -> int:
    """Pixels a tile reads around itself so that its measures are the whole frame's: the
    Gaussian's reach (scipy's, 4 sigma) and the Laplacian's or Sobel's 1 px."""
    sigma = max(smoothing, 1.0) if energy == "variance" else smoothing
    reach = int(4.0 * sigma + 0.5) if sigma > 0 else 0
    return reach + (0 if energy == "variance" else 1)


def tiles_for(shape: tuple[int, int], energy: str, settings: FusionSettings) -> list[Tile]:
    return plan(shape, settings.tile, margin(energy, settings.smoothing))


def fuse_depthmap(frames: Frames, settings: FusionSettings) -> Fused:
    if settings.selection == "weighted":
        return _blend(frames, settings.energy, settings.smoothing, settings.sharpness / 2, settings)
    threads = settings.thread_count()
    result = _Result(frames.shape)
    for tile in tiles_for(frames.shape[:2], settings.energy, settings):
        rows, cols = tile.region.shape
        best_energy = np.full((rows, cols), -2.0, np.float32)
        chosen = np.zeros((rows, cols), np.int32)
        image = np.zeros((rows, cols, frames.shape[2]), np.float32)
        total = np.zeros((rows, cols), np.float32)
        for index in range(len(frames)):
            frame = read_region(frames, index, tile.region)
            measure = focus_measure(frame, settings.energy, settings.smoothing)
            total += np.maximum(measure, 0.0)
            focus.select_max(measure, frame.pixels, best_energy, chosen, image, index, threads)
            del frame, measure  # before the next frame is read
        confidence = confidence_from(np.maximum(best_energy, 0.0), total, len(frames))
        result.put(tile, image, chosen.astype(np.float32), confidence)
    return result.fused()


def fuse_average(frames: Frames, settings: FusionSettings) -> Fused:
    return _blend(frames, "laplacian", settings.smoothing, 0.5, settings)


class _Result:
    """The output, filled tile by tile with each tile's inside."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.image = np.empty(shape, np.float32)
        self.depth = np.empty(shape[:2], np.float32)
        self.confidence = np.empty(shape[:2], np.float32)

    def put(self, tile: Tile, image: np.ndarray, depth: np.ndarray, confidence: np.ndarray) -> None:
        inside = tile.inside.within(tile.region)
        self.image[tile.inside.slices] = image[inside]
        self.depth[tile.inside.slices] = depth[inside]
        self.confidence[tile.inside.slices] = confidence[inside]

    def fused(self) -> Fused:
        return Fused(self.image, self.depth, self.confidence)


def _blend(
    frames: Frames, energy: str, smoothing: float, power: float, settings: FusionSettings
) -> Fused:
    """Frames blended with weights measure ** power (see the module docstring)."""
    threads = settings.thread_count()
    result = _Result(frames.shape)
    for tile in tiles_for(frames.shape[:2], energy, settings):
        rows, cols = tile.region.shape
        image = np.zeros((rows, cols, frames.shape[2]), np.float32)
        weights = np.zeros((rows, cols), np.float32)
        depth = np.zeros((rows, cols), np.float32)
        best = np.zeros((rows, cols), np.float32)
        for index in range(len(frames)):
            frame = read_region(frames, index, tile.region)
            measure = focus_measure(frame, energy, smoothing)
            weight = np.power(np.maximum(measure, 0.0) + _WEIGHT_FLOOR, power, dtype=np.float32)
            if frame.valid is not None:
                weight[~frame.valid] = 0.0
            focus.accumulate_weighted(frame.pixels, weight, image, threads)
            weights += weight
            depth += weight * np.float32(index)
            np.maximum(best, weight, out=best)
            del frame, measure, weight  # before the next frame is read
        np.maximum(weights, np.float32(_WEIGHT_FLOOR), out=weights)
        image /= weights[:, :, np.newaxis]
        depth /= weights
        result.put(tile, image, depth, confidence_from(best, weights, len(frames)))
    return result.fused()
