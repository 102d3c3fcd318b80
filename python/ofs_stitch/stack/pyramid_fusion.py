"""Laplacian pyramid fusion (Burt and Kolczynski's selection with a consistency check), in tiles.

For each tile (``tiles``), two passes over the stack, each holding one frame's region at a time:

1. Choice. Each frame's luminance gets a Laplacian pyramid; at every level, each pixel keeps
   the frame whose coefficients have the most energy in a small window (``window``). The
   choice maps are then median filtered (``consistency``): a lone pixel choosing a frame its
   neighbours did not is noise winning by chance, and a median of frame indexes keeps the
   edges of in-focus regions where they are. The residual takes the choice of the coarsest
   band level.
2. Gathering. Each frame's full-colour pyramid is built again and every coefficient taken where
   the frame was chosen; the fused pyramid is collapsed into the image.

A frame larger than one tile is fused in two scales. The finest ``TILE_LEVELS`` levels are
fused tile by tile, each tile read with a margin (`margin`) wide enough that its levels are
the whole frame's; the tile's result is collapsed with a zero residual. Each frame's Gaussian
level below them (2 ** TILE_LEVELS = 8 times smaller on each side, 1/64 of the frame) is kept
from the gathering pass, and those small frames are fused whole, as a stack of their own, for the
coarser levels; their fused image, expanded back tile by tile, is added to the output. Since
collapsing is linear, this is the whole-frame result to float rounding (tested).

Choosing on luminance costs a third of choosing on colour, and both passes build one pyramid
per frame, so the cost is about 1.3 colour pyramids per frame plus the margins; memory is the
output, a few pyramids of one tile, and the small frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from .._core import focus
from . import pyramid
from .frames import Frame, Frames, luminance
from .fusion import Fused, FusionSettings, confidence_from
from .tiles import Box, Tile, plan, read_region

# Levels fused tile by tile when a frame spans several tiles: the margin doubles with each
# level: 3 keeps it at 48 px (a 512 px tile reads 1.2 times its area at the frame edge, 1.4
# inside) while each coarse frame is 1/64 of a frame.
TILE_LEVELS = 3

# A frame's pixels and its coverage (the validity mask as float32, None where all valid):
# coarser levels of the coverage are its reductions, valid where they stay near 1.
Layer = tuple[np.ndarray, np.ndarray | None]


def margin(tile_levels: int, settings: FusionSettings) -> int:
    """Pixels a tile must read around itself so that its finest ``tile_levels`` levels (1 or
    more) and its residual are the whole frame's.

    A band coefficient of level k of the output depends on that level's coefficients within
    ``consistency + window + 2`` (the median, the energy window, the collapse) of it, each on
    the level's Gaussian within 4 more; level k's Gaussian reaches 2 ** k times that, plus the
    reductions' own 2 (2 ** k - 1), at full resolution. The residual's expansion reaches less.
    """
    finest_coarse = 2 ** (tile_levels - 1)
    return finest_coarse * (settings.consistency + settings.window + 6) + 2**tile_levels


def tiles_for(shape: tuple[int, int], settings: FusionSettings) -> tuple[list[Tile], int, int]:
    """The tiles, the levels fused in them and the levels fused on the coarse frames."""
    # One level at least: the choice is made on band levels (a frame too small for one still
    # gets one, reduced to a single pixel).
    levels = max(1, pyramid.level_count(shape, settings.levels))
    tile_levels = min(levels, TILE_LEVELS)
    tiles = plan(shape, settings.tile, margin(tile_levels, settings), 2**tile_levels)
    if len(tiles) == 1:
        return tiles, levels, 0
    return tiles, tile_levels, levels - tile_levels


def fuse_pyramid(frames: Frames, settings: FusionSettings) -> Fused:
    threads = settings.thread_count()
    rows, cols, channels = frames.shape
    tiles, tile_levels, coarse_levels = tiles_for((rows, cols), settings)
    image = np.empty((rows, cols, channels), np.float32)
    depth = np.empty((rows, cols), np.float32)
    confidence = np.empty((rows, cols), np.float32)
    coarse = None
    if coarse_levels:
        coarse = _CoarseFrames(len(frames), (rows, cols, channels), tile_levels)
    for tile in tiles:
        fused = _fuse_layers(
            _region_reader(frames, tile.region),
            len(frames),
            (*tile.region.shape, channels),
            tile_levels,
            settings,
            threads,
            coarse.keeper(tile) if coarse is not None else None,
        )
        inside = tile.inside.within(tile.region)
        image[tile.inside.slices] = fused.image[inside]
        depth[tile.inside.slices] = fused.depth[inside]
        confidence[tile.inside.slices] = fused.confidence[inside]
    if coarse is not None:
        # The coarse levels of the whole frames, fused as a stack of their own; their image is
        # the residual every tile was collapsed without.
        residual = _fuse_layers(
            coarse.layer, len(frames), coarse.shape, coarse_levels, settings, threads
        ).image
        for tile in tiles:
            _add_expanded(residual, tile, tile_levels, image, threads)
    return Fused(image, depth, confidence)


def _region_reader(frames: Frames, box: Box) -> Callable[[int], Layer]:
    def read(index: int) -> Layer:
        return _layer(read_region(frames, index, box))

    return read


def _layer(frame: Frame) -> Layer:
    coverage = None if frame.valid is None else frame.valid.astype(np.float32)
    return frame.pixels, coverage


class _CoarseFrames:
    """Every frame's Gaussian level ``levels`` (and coverage), filled tile by tile."""

    def __init__(self, count: int, shape: tuple[int, int, int], levels: int) -> None:
        self.factor = 2**levels
        rows, cols = pyramid.level_shapes(shape[:2], levels)[-1]
        self.shape = (rows, cols, shape[2])
        self.pixels = [np.zeros(self.shape, np.float32) for _ in range(count)]
        self.coverage: list[np.ndarray | None] = [None] * count

    def keeper(self, tile: Tile) -> Callable[[int, np.ndarray, np.ndarray | None], None]:
        """Stores frame k's coarse level of ``tile``'s region (its inside only)."""
        target = tile.inside.scaled(self.factor)
        source = target.within(tile.region.scaled(self.factor))

        def keep(index: int, level: np.ndarray, coverage: np.ndarray | None) -> None:
            self.pixels[index][target.slices] = level[source]
            if coverage is not None:
                if self.coverage[index] is None:
                    self.coverage[index] = np.ones(self.pixels[index].shape[:2], np.float32)
                self.coverage[index][target.slices] = coverage[source]  # type: ignore[index]

        return keep

    def layer(self, index: int) -> Layer:
        coverage = self.coverage[index]
        return self.pixels[index].copy(), None if coverage is None else coverage.copy()


def _coverage_levels(
    coverage: np.ndarray | None, levels: int, threads: int
) -> tuple[list[np.ndarray | None], np.ndarray | None]:
    """Per level, where every tap of the pyramid saw valid pixels (None: everywhere), and the
    coverage of the coarsest level."""
    if coverage is None:
        return [None] * (levels + 1), None
    current = np.ascontiguousarray(coverage, dtype=np.float32)
    masks: list[np.ndarray | None] = [current > 0.999]
    for _ in range(levels):
        rows, cols = current.shape
        smaller = np.empty(((rows + 1) // 2, (cols + 1) // 2), np.float32)
        focus.reduce(current, smaller, threads)
        masks.append(smaller > 0.999)
        current = smaller
    return masks, current


def _fuse_layers(
    read: Callable[[int], Layer],
    count: int,
    shape: tuple[int, int, int],
    levels: int,
    settings: FusionSettings,
    threads: int,
    keep_coarse: Callable[[int, np.ndarray, np.ndarray | None], None] | None = None,
) -> Fused:
    """Pyramid fusion of ``count`` layers of ``shape`` (a tile's region of every frame, or the
    coarse frames). With ``keep_coarse``, the residual is left out of the result (zero) and
    handed, with its coverage, to ``keep_coarse(index, residual, coverage)`` instead."""
    rows, cols, channels = shape
    shapes = pyramid.level_shapes((rows, cols), levels)
    best_energy = [np.full(level, -1.0, np.float32) for level in shapes[:-1]]
    chosen = [np.zeros(level, np.int32) for level in shapes[:-1]]
    total_energy = np.zeros(shapes[0], np.float32)
    coarse_coverage: list[np.ndarray | None] = [None] * count
    for index in range(count):
        pixels, coverage = read(index)
        grey = luminance(pixels)
        # A grey frame's luminance is its own pixels, which the frame still holds.
        bands = pyramid.build(grey, levels, threads, in_place=pixels.shape[2] > 1)
        masks, coarse_coverage[index] = _coverage_levels(coverage, levels, threads)
        for level, band in enumerate(bands[:-1]):
            energy = np.empty(band.shape, np.float32)
            focus.local_energy(band, energy, settings.window, threads)
            mask = masks[level]
            if mask is not None:
                energy[~mask] = -0.5
            if level == 0:
                total_energy += np.maximum(energy, 0.0)
            focus.select_max(energy, band, best_energy[level], chosen[level], None, index, threads)
        # Let go of this frame before the next is read: two frames' pyramids at once would
        # double what a tile holds.
        del pixels, coverage, grey, bands, energy, masks
    confidence = confidence_from(best_energy[0], total_energy, count)
    del best_energy, total_energy
    if settings.consistency > 0:
        size = 2 * settings.consistency + 1
        chosen = [ndimage.median_filter(choice, size=size, mode="mirror") for choice in chosen]
    residual_choice = np.ascontiguousarray(chosen[-1][::2, ::2])
    choices = [*chosen, residual_choice]
    fused = [np.zeros((*level, channels), np.float32) for level in shapes]
    for index in range(count):
        # Every layer handed out is a fresh array (frames.Frames): it becomes the finest level.
        bands = pyramid.build(read(index)[0], levels, threads, in_place=True)
        if keep_coarse is not None:
            keep_coarse(index, bands[-1], coarse_coverage[index])
            bands, gathered = bands[:-1], choices[:-1]
        else:
            gathered = choices
        for band, choice, target in zip(bands, gathered, fused, strict=False):
            focus.gather(band, choice, index, target, threads)
        del bands
    image = pyramid.collapse(fused, threads)
    return Fused(image, chosen[0].astype(np.float32), confidence)


def _add_expanded(
    residual: np.ndarray, tile: Tile, levels: int, image: np.ndarray, threads: int
) -> None:
    """image[tile inside] += the coarse ``residual`` expanded ``levels`` times over the tile's
    region (which is wide enough for the expansions to be the whole frame's there)."""
    factor = 2**levels
    shapes = pyramid.level_shapes(tile.region.shape, levels)
    current = np.ascontiguousarray(residual[tile.region.scaled(factor).slices])
    for shape in reversed(shapes[:-1]):
        larger = np.zeros((*shape, residual.shape[2]), np.float32)
        focus.expand_add(current, larger, 1.0, threads)
        current = larger
    image[tile.inside.slices] += current[tile.inside.within(tile.region)]
