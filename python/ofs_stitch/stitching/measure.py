"""Measuring candidate pairs: decode each tile once, correlate the overlaps on all cores.

Tiles are decoded in capture order a few at a time; each contributes only the overlap strips
its pairs need, and a pair is measured as soon as both of its strips exist. Memory therefore
holds about one row of strips, not the whole scan, unless the caller asks to keep the decoded
tiles for rendering (`TileStore`, which does so only when they fit its memory budget).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..core.grey import grey_float32
from ..core.matches import CandidatePair, PairMeasurement
from ..core.overlap import OverlapRegions, overlap_regions
from ..core.registration import CorrelationSettings, register_overlap
from ..io.decode import read_pixels
from ..io.memory import TileStore
from ..io.tiles import Tile


@dataclass(frozen=True)
class MeasureSettings:
    """How pairs are measured. Lengths are in input-image pixels."""

    correlation: CorrelationSettings
    search_radius: float  # how far from the stage prediction a match may be
    resize: float = 1.0  # images are scaled by this before correlation (upstream's --resize)
    pad: bool = True  # False: circular correlation of the unpadded overlap (upstream --no-pad)
    threads: int = 0  # 0: one per core


@dataclass(frozen=True)
class _PairPlan:
    index: int
    pair: CandidatePair
    regions: OverlapRegions | None


def measure_pairs(
    tiles: Sequence[Tile],
    pairs: Sequence[CandidatePair],
    settings: MeasureSettings,
    *,
    on_measured: Callable[[int, PairMeasurement], None] | None = None,
    keep_tiles: TileStore | None = None,
) -> list[PairMeasurement]:
    """Measure every pair; results in the order of ``pairs``.

    ``on_measured(index, measurement)`` is called from worker threads as pairs finish (for
    progress and the cache); it must be thread-safe. ``keep_tiles``: decoded tiles (at full
    size only) are left there for the renderer.
    """
    scale = settings.resize
    radius = max(settings.search_radius * scale, 1.0)
    margin = int(np.ceil(radius))
    plans = []
    for index, pair in enumerate(pairs):
        tile_shape = (
            int(round(tiles[pair.i].height * scale)),
            int(round(tiles[pair.i].width * scale)),
        )
        expected = (pair.expected_shift[0] * scale, pair.expected_shift[1] * scale)
        plans.append(
            _PairPlan(index, pair, overlap_regions(tile_shape, tile_shape, expected, margin))
        )

    results: list[PairMeasurement | None] = [None] * len(pairs)

    def finish(plan: _PairPlan, measurement: PairMeasurement) -> None:
        results[plan.index] = measurement
        if on_measured is not None:
            on_measured(plan.index, measurement)

    # Pairs whose overlap vanished after resizing cannot be measured: report them as failed.
    for plan in plans:
        if plan.regions is None:
            finish(plan, _failed(plan.pair))

    # Which strips each tile must provide: tile -> [(plan, is_first_tile)].
    wanted: dict[int, list[tuple[_PairPlan, bool]]] = {}
    for plan in plans:
        if plan.regions is not None:
            wanted.setdefault(plan.pair.i, []).append((plan, True))
            wanted.setdefault(plan.pair.j, []).append((plan, False))

    def extract(tile_index: int) -> list[tuple[_PairPlan, bool, np.ndarray]]:
        pixels = read_pixels(tiles[tile_index].path, scale=scale)
        if keep_tiles is not None and scale == 1.0:
            keep_tiles.keep(tile_index, pixels)
        strips = []
        for plan, is_first in wanted[tile_index]:
            assert plan.regions is not None
            region = plan.regions.region_a if is_first else plan.regions.region_b
            strips.append((plan, is_first, grey_float32(pixels[region])))
        return strips

    def measure(plan: _PairPlan, strip_a: np.ndarray, strip_b: np.ndarray) -> None:
        finish(plan, _measure_strips(plan, strip_a, strip_b, settings, radius, scale))

    threads = settings.threads or os.cpu_count() or 1
    waiting: dict[int, tuple[bool, np.ndarray]] = {}  # pair index -> the strip seen first
    measuring: list[Future[None]] = []
    tile_order = iter(sorted(wanted))
    decoding: deque[Future[list[tuple[_PairPlan, bool, np.ndarray]]]] = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            # Keep a few tiles decoding ahead so both cores stay busy, but no more: decoded
            # tiles are the largest thing in memory.
            for _ in range(2 * threads + 1):
                _submit_next(pool, tile_order, decoding, extract)
            while decoding:
                strips = decoding.popleft().result()
                _submit_next(pool, tile_order, decoding, extract)
                for plan, is_first, strip in strips:
                    seen = waiting.pop(plan.index, None)
                    if seen is None:
                        waiting[plan.index] = (is_first, strip)
                        continue
                    strip_a, strip_b = (strip, seen[1]) if is_first else (seen[1], strip)
                    measuring.append(pool.submit(measure, plan, strip_a, strip_b))
            for future in measuring:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [r if r is not None else _failed(p) for r, p in zip(results, pairs, strict=True)]


def _submit_next(pool, tile_order, decoding, extract) -> None:  # type: ignore[no-untyped-def]
    tile_index = next(tile_order, None)
    if tile_index is not None:
        decoding.append(pool.submit(extract, tile_index))


def _measure_strips(
    plan: _PairPlan,
    strip_a: np.ndarray,
    strip_b: np.ndarray,
    settings: MeasureSettings,
    radius: float,
    scale: float,
) -> PairMeasurement:
    regions = plan.regions
    assert regions is not None
    found = register_overlap(
        strip_a,
        strip_b,
        regions.expected_region_shift,
        radius,
        settings.correlation,
        pad=settings.pad,
    )
    if not found.found:
        return _failed(plan.pair)
    shift = (
        (found.shift[0] + regions.region_to_tile[0]) / scale,
        (found.shift[1] + regions.region_to_tile[1]) / scale,
    )
    return PairMeasurement(
        i=plan.pair.i,
        j=plan.pair.j,
        shift=shift,
        expected_shift=plan.pair.expected_shift,
        pearson_r=found.pearson_r,
        peak_ratio=found.peak_ratio,
    )


def _failed(pair: CandidatePair) -> PairMeasurement:
    """A pair that could not be measured: no evidence (peak_ratio 0 makes quality 0), so
    thresholding always rejects it."""
    return PairMeasurement(
        i=pair.i,
        j=pair.j,
        shift=pair.expected_shift,
        expected_shift=pair.expected_shift,
        pearson_r=0.0,
        peak_ratio=0.0,
    )
