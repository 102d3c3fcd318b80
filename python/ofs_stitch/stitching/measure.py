"""Measuring candidate pairs: decode each tile once, correlate the overlaps on all cores.

Tiles are decoded in capture order a few at a time; each contributes only the overlap strips
its pairs need, and a pair is measured as soon as both of its strips exist. Memory therefore
holds about one row of strips, not the whole scan, unless the caller asks to keep the decoded
tiles for rendering (`TileStore`, which does so only when they fit its memory budget).

With ``low_memory`` (``--priority memory``) the same pairs are measured with the same results,
holding less at once: tiles are decoded one at a time, in the order that keeps the fewest strips
waiting for their pair (`decode_order`), and only while no complete pair waits for a thread;
strips wait in the least memory that still gives their exact grey (`_CompactStrip`: 2 bytes a
pixel for 8-bit colour instead of 4), and at most ``threads`` pairs are measured at once.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..core.grey import grey_float32
from ..core.matches import CandidatePair, PairMeasurement
from ..core.overlap import OverlapRegions, overlap_regions
from ..core.registration import CorrelationSettings, register_overlap
from ..io.decode import read_pixels
from ..io.memory import TileStore
from ..io.tiles import Tile
from .decode_order import least_waiting_order


@dataclass(frozen=True)
class MeasureSettings:
    """How pairs are measured. Lengths are in input-image pixels."""

    correlation: CorrelationSettings
    search_radius: float  # how far from the stage prediction a match may be
    resize: float = 1.0  # images are scaled by this before correlation (upstream's --resize)
    pad: bool = True  # False: circular correlation of the unpadded overlap (upstream --no-pad)
    threads: int = 0  # 0: one per core
    low_memory: bool = False  # --priority memory: hold less at once (module docstring)


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
    size only) are left there for the renderer, and tiles already there are not decoded again
    (live stitching keeps its recent tiles there).
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
            finish(plan, PairMeasurement.unmeasured(plan.pair))

    # Which strips each tile must provide: tile -> [(plan, is_first_tile)].
    wanted: dict[int, list[tuple[_PairPlan, bool]]] = {}
    for plan in plans:
        if plan.regions is not None:
            wanted.setdefault(plan.pair.i, []).append((plan, True))
            wanted.setdefault(plan.pair.j, []).append((plan, False))

    if settings.low_memory:
        measurable = [plan for plan in plans if plan.regions is not None]
        order = least_waiting_order(
            np.array([tile.stage_position_px for tile in tiles]).reshape(-1, 2),
            tiles[0].shape,
            [(plan.pair.i, plan.pair.j) for plan in measurable],
            [_pixels(plan.regions) for plan in measurable],
        ).tiles
    else:
        order = tuple(sorted(wanted))
    step_of = {tile: step for step, tile in enumerate(order)}

    def decode(tile_index: int, cut: Callable[[np.ndarray, _Region, bool], S]) -> _Strips[S]:
        """The tile's strips, cut by ``cut(pixels, region, waits)``: ``waits`` when the pair's
        other tile comes later in ``order``, so that the strip must wait for it."""
        held = keep_tiles.get(tile_index) if keep_tiles is not None and scale == 1.0 else None
        pixels = held if held is not None else read_pixels(tiles[tile_index].path, scale=scale)
        if keep_tiles is not None and scale == 1.0:
            keep_tiles.keep(tile_index, pixels)
        strips = []
        for plan, is_first in wanted[tile_index]:
            assert plan.regions is not None
            region = plan.regions.region_a if is_first else plan.regions.region_b
            other = plan.pair.j if is_first else plan.pair.i
            waits = step_of[other] > step_of[tile_index]
            strips.append((plan, is_first, cut(pixels, region, waits)))
        return strips

    def measure(plan: _PairPlan, strip_a: np.ndarray, strip_b: np.ndarray) -> None:
        finish(plan, _measure_strips(plan, strip_a, strip_b, settings, radius, scale))

    threads = settings.threads or os.cpu_count() or 1
    if settings.low_memory:
        cut_compact = functools.partial(decode, cut=_CompactStrip.cut)
        _measure_holding_little(order, cut_compact, measure, threads)
    else:
        cut_grey = functools.partial(decode, cut=_grey_strip)
        _measure_in_capture_order(order, cut_grey, measure, threads)
    return [
        r if r is not None else PairMeasurement.unmeasured(p)
        for r, p in zip(results, pairs, strict=True)
    ]


# A region of a tile, (row slice, col slice).
_Region = tuple[slice, slice]
S = TypeVar("S")  # how a strip is held: float grey, or a _CompactStrip
# One decoded tile's strips: (pair, whether the tile is the pair's first, strip).
_Strips = list[tuple[_PairPlan, bool, S]]


def _measure_in_capture_order(
    order: Sequence[int],
    decode: Callable[[int], _Strips[np.ndarray]],
    measure: Callable[[_PairPlan, np.ndarray, np.ndarray], None],
    threads: int,
) -> None:
    """--priority time: a few tiles decoding ahead keep every core busy, but no more (decoded
    tiles are the largest thing in memory); each pair is queued as soon as both strips exist."""
    waiting: dict[int, tuple[bool, np.ndarray]] = {}  # pair index -> the strip seen first
    measuring: list[Future[None]] = []
    tile_order = iter(order)
    decoding: deque[Future[_Strips[np.ndarray]]] = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for _ in range(2 * threads + 1):
                _submit_next(pool, tile_order, decoding, decode)
            while decoding:
                strips = decoding.popleft().result()
                _submit_next(pool, tile_order, decoding, decode)
                for plan, strip_a, strip_b in _pair_up(strips, waiting):
                    measuring.append(pool.submit(measure, plan, strip_a, strip_b))
            for future in measuring:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _measure_holding_little(
    order: Sequence[int],
    decode: Callable[[int], _Strips[_CompactStrip]],
    measure: Callable[[_PairPlan, np.ndarray, np.ndarray], None],
    threads: int,
) -> None:
    """--priority memory: one tile decoding at a time, and only while no complete pair waits
    for a thread; at most ``threads`` pairs measuring, each turned into float grey only as it
    starts."""
    waiting: dict[int, tuple[bool, _CompactStrip]] = {}  # pair index -> the strip seen first
    ready: deque[tuple[_PairPlan, _CompactStrip, _CompactStrip]] = deque()
    measuring: set[Future[None]] = set()
    tile_order = iter(order)
    decoding: Future[_Strips[_CompactStrip]] | None = None

    # One worker more than there are measuring threads: the decoding one.
    with ThreadPoolExecutor(max_workers=threads + 1) as pool:
        try:
            while True:
                while ready and len(measuring) < threads:
                    plan, strip_a, strip_b = ready.popleft()
                    grey_a, grey_b = strip_a.grey(), strip_b.grey()
                    del strip_a, strip_b  # the compact form goes as the grey starts
                    measuring.add(pool.submit(measure, plan, grey_a, grey_b))
                    del grey_a, grey_b
                if decoding is None and not ready:
                    tile = next(tile_order, None)
                    if tile is not None:
                        decoding = pool.submit(decode, tile)
                if decoding is None and not measuring:
                    return
                busy: set[Future[Any]] = set(measuring)
                if decoding is not None:
                    busy.add(decoding)
                done, _ = wait(busy, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failure ends the run now
                measuring -= done
                if decoding is not None and decoding in done:
                    ready.extend(_pair_up(decoding.result(), waiting))
                    decoding = None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _submit_next(pool, tile_order, decoding, decode) -> None:  # type: ignore[no-untyped-def]
    tile_index = next(tile_order, None)
    if tile_index is not None:
        decoding.append(pool.submit(decode, tile_index))


def _pair_up(
    strips: _Strips[S], waiting: dict[int, tuple[bool, S]]
) -> Iterator[tuple[_PairPlan, S, S]]:
    """The pairs that ``strips`` (one tile's) complete, as (plan, strip a, strip b); the other
    strips wait in ``waiting`` until their pair's other tile comes."""
    for plan, is_first, strip in strips:
        seen = waiting.pop(plan.index, None)
        if seen is None:
            waiting[plan.index] = (is_first, strip)
            continue
        yield (plan, strip, seen[1]) if is_first else (plan, seen[1], strip)


def _grey_strip(pixels: np.ndarray, region: _Region, waits: bool) -> np.ndarray:
    """--priority time: every strip as the registration takes it, float32 grey, at once,
    whether it waits or not."""
    return grey_float32(pixels[region])


@dataclass(frozen=True)
class _CompactStrip:
    """A strip held until its pair is measured (--priority memory), in a form that gives
    exactly its float grey (`grey_float32`'s) when the pair starts.

    A strip that waits for its pair's other tile takes the least memory: one band of grey
    tiles as it is (1 or 2 bytes a pixel), the sum of the three bands of 8-bit colour (2 bytes,
    not 4). One whose pair is complete is measured soon, so it takes the form quickest to make
    and turn grey: 8-bit colour as it is (a plain copy; the compiled grey then reads it in
    order, faster than from the tile). Anything else is held in float grey.
    """

    samples: np.ndarray
    summed_bands: bool  # samples are sums of three bands, whose grey is a third of the sum

    @staticmethod
    def cut(pixels: np.ndarray, region: _Region, waits: bool) -> _CompactStrip:
        crop = pixels[region]
        colour = crop.ndim == 3 and crop.shape[2] >= 3
        if crop.dtype in (np.uint8, np.uint16) and not colour:
            # A copy, so that the decoded tile can go; grey of a grey tile is its first band.
            return _CompactStrip((crop if crop.ndim == 2 else crop[:, :, 0]).copy(), False)
        if crop.dtype == np.uint8 and not waits:
            return _CompactStrip(crop.copy(), False)
        if crop.dtype == np.uint8:
            total = np.add(crop[:, :, 0], crop[:, :, 1], dtype=np.uint16)
            total += crop[:, :, 2]
            return _CompactStrip(total, True)
        return _CompactStrip(grey_float32(crop), False)

    def grey(self) -> np.ndarray:
        if self.summed_bands:
            # Exactly the compiled grey: float(r + g + b) * (1.0f / 3.0f).
            return np.multiply(self.samples, _ONE_THIRD, dtype=np.float32)
        return grey_float32(self.samples)


_ONE_THIRD = np.float32(1.0) / np.float32(3.0)


def _pixels(regions: OverlapRegions | None) -> int:
    assert regions is not None
    rows, cols = regions.shape
    return rows * cols


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
        return PairMeasurement.unmeasured(plan.pair)
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
