"""Laplacian pyramid fusion (Burt and Kolczynski's selection with a consistency check).

Two passes over the stack, each holding one frame at a time:

1. Choice. Each frame's luminance gets a Laplacian pyramid; at every level, each pixel keeps
   the frame whose coefficients have the most energy in a small window (``window``). The
   choice maps are then median filtered (``consistency``): a lone pixel choosing a frame its
   neighbours did not is noise winning by chance, and a median of frame indexes keeps the
   edges of in-focus regions where they are. The residual takes the choice of the coarsest
   band level.
2. Gathering. Each frame's full-colour pyramid is built again and every coefficient taken where
   the frame was chosen; the fused pyramid is collapsed into the image.

Choosing on luminance costs a third of choosing on colour, and both passes build one pyramid
per frame, so the cost is about 1.3 colour pyramids per frame, and memory is a few frames'
worth whatever the number of frames.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._core import focus
from . import pyramid
from .frames import Frames, luminance
from .fusion import Fused, FusionSettings, confidence_from


def _valid_levels(valid: np.ndarray | None, levels: int, threads: int) -> list[np.ndarray | None]:
    """Per level, where every tap of the pyramid saw valid pixels (None: everywhere)."""
    if valid is None:
        return [None] * (levels + 1)
    current = valid.astype(np.float32)
    masks: list[np.ndarray | None] = [current > 0.999]
    for _ in range(levels):
        rows, cols = current.shape
        smaller = np.empty(((rows + 1) // 2, (cols + 1) // 2), np.float32)
        focus.reduce(current, smaller, threads)
        masks.append(smaller > 0.999)
        current = smaller
    return masks


def fuse_pyramid(frames: Frames, settings: FusionSettings) -> Fused:
    threads = settings.thread_count()
    rows, cols, channels = frames.shape
    levels = pyramid.level_count((rows, cols), settings.levels)
    shapes = pyramid.level_shapes((rows, cols), levels)
    best_energy = [np.full(shape, -1.0, np.float32) for shape in shapes[:-1]]
    chosen = [np.zeros(shape, np.int32) for shape in shapes[:-1]]
    total_energy = np.zeros(shapes[0], np.float32)
    for index in range(len(frames)):
        frame = frames.frame(index)
        grey = luminance(frame.pixels)
        # A grey frame's luminance is its own pixels, which the frame still holds.
        bands = pyramid.build(grey, levels, threads, in_place=frame.pixels.shape[2] > 1)
        masks = _valid_levels(frame.valid, levels, threads)
        for level, band in enumerate(bands[:-1]):
            energy = np.empty(band.shape, np.float32)
            focus.local_energy(band, energy, settings.window, threads)
            mask = masks[level]
            if mask is not None:
                energy[~mask] = -0.5
            if level == 0:
                total_energy += np.maximum(energy, 0.0)
            focus.select_max(energy, band, best_energy[level], chosen[level], None, index, threads)
    confidence = confidence_from(best_energy[0], total_energy, len(frames))
    if settings.consistency > 0:
        size = 2 * settings.consistency + 1
        chosen = [ndimage.median_filter(choice, size=size, mode="mirror") for choice in chosen]
    if levels:
        coarsest = chosen[-1]
        residual_choice = np.ascontiguousarray(coarsest[::2, ::2])
    else:
        residual_choice = chosen[0] if chosen else np.zeros(shapes[0], np.int32)
    choices = [*chosen, residual_choice]
    fused = [np.zeros((*shape, channels), np.float32) for shape in shapes]
    for index in range(len(frames)):
        # Every frame handed out is a fresh array (frames.Frames): it becomes the finest level.
        bands = pyramid.build(frames.frame(index).pixels, levels, threads, in_place=True)
        for band, choice, target in zip(bands, choices, fused, strict=True):
            focus.gather(band, choice, index, target, threads)
    image = pyramid.collapse(fused, threads)
    depth = chosen[0].astype(np.float32) if levels else residual_choice.astype(np.float32)
    return Fused(image, depth, confidence)
