"""Measuring frame pairs, streaming through the series on every core.

Two kinds of measurement, both from ``core``:

- a **search** (a translation search over the whole frame on 2x block means, then the model's
  Gauss-Newton refinement) where nothing is known yet: each frame against the one before it,
  and every frame against a fixed reference;
- a **refinement from a prediction** (``affine_registration.refine_transform``) for the other
  pairs of the global mode: the chain of searches predicts where frame j sits relative to frame
  i to a pixel or so, and the refinement alone then costs a fraction of a search.

In the global mode each frame is searched against the one before it (on 2x block means) and
refined against the first frame (2x block means, then, unless the frame is sharp, one
full-resolution Gauss-Newton step: the anchor, which carries the precision); the longer lags
(2x block means) only where these leave a doubt (no anchor, an anchor that disagrees with the
chain, a poor lag-1 link) and on every LAG_EVERY-th frame, so the joint solve keeps loops to
judge the links by. Measured on the issue's 50-frame 512^2 series: about 2.4 pairs per frame
instead of 3.9, the same errors.

Frames are read in blocks of a few per core; only the frames a later pair still needs (the
longest lag back, and the first frame while it anchors) are kept, as float32 grey, so memory
does not grow with the series.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .._core.image import block_mean
from ..core.affine_registration import refine_transform
from ..core.grey import grey_float32
from ..core.matches import Registration
from ..core.registration import register_near, register_pair
from ..core.transform import Kind
from ..io.memory import give_back_free_memory
from .frames import Frames
from .reference import Reference

# A refinement from a prediction runs at full resolution: the chain of lag-1 searches, reset
# at every anchor, predicts to a fraction of a pixel. When that result is poor, it runs again
# from these block-mean levels (4x: a basin of about +-8 px).
WIDE_LEVELS = (4, 2, 1)
# In the global mode the lags are refined on 2x block means only: a quarter of the pixels. A
# frame's error is mostly its own noise, shared by all its pairs, so they add robustness (more
# opinions on every frame) more than precision; the anchor to the first frame runs at full
# resolution. Measured on 30 frames of 512^2: 25-40 % less CPU than lag 1 at full resolution,
# errors 0.001 px larger.
LAG_LEVELS: tuple[int, ...] = (2,)
# Full-resolution refinements stop when the update falls below this (px): measured on 512 px
# frames, stopping at 0.01 instead of 0.002 px saves an iteration (a fifth of the cost) and
# leaves the result within 0.0005 px.
TOLERANCE_PX = 1e-2
# The anchor to the first frame converges on 2x block means, then takes ANCHOR_MAX_ITERATIONS
# Gauss-Newton steps at full resolution: from the block means' optimum one step reaches the
# noise floor, while uncapped, on noisy frames (50 photons), the update wanders by more than
# TOLERANCE_PX for dozens of iterations (measured: 106 ms a pair against about 30 ms, the
# series' mean error 0.103 px uncapped from the chain's prediction, 0.102 px so; at 1000
# photons the same error either way). Without the full-resolution step the error grows by
# 5-30 % (0.110 px at 50 photons).
ANCHOR_LEVELS: tuple[int, ...] = (2, 1)
ANCHOR_MAX_ITERATIONS = 1
# ... except where the frame is sharp and large: when the anchor's fit on 2x block means
# already agrees to a Pearson r of SHARP_R over at least SHARP_MIN_PIXELS block means, the
# full-resolution step (two thirds of the anchor's cost) gains little. Measured on the issue's
# 512^2 series: retina 1000 photons (r at 2x 0.997) 0.0186 -> 0.0194 px, hubble 1000 photons
# (0.999) 0.0071 -> 0.0088 px, both well within their 0.03 px target, for about 0.6 CPU s less
# per run. Below either bound the step stays: hubble at 50 photons (r 0.991), the retina at 50
# (r 0.946: without the step 0.101 -> 0.159 px), the real PC12 series (0.36 -> 0.56 px from
# StackReg at r >= 0.98), 192^2 frames (0.082 -> 0.101 px).
SHARP_R = 0.995
SHARP_MIN_PIXELS = 256 * 256
# The lag-1 searches correlate block means of this factor: the refinement on LAG_LEVELS that
# follows needs the shift only to a pixel or two (its basin on 2x block means: about +-4 px),
# and the search costs a sixteenth. Measured on the series: the same errors as at full
# resolution, 12 % less CPU in all. Frames that would fall below SEARCH_MIN_SIDE blocks are
# searched on smaller factors (256^2 frames on 2x block means).
SEARCH_FACTOR = 4
SEARCH_MIN_SIDE = 128
# The anchor to the first frame stops after this many misses in a row: the content has
# changed, and the lags alone carry the series on.
ANCHOR_MISSES = 5
# Translation model: the anchor's hinted correlation searches this far (px) around the
# prediction.
TRANSLATION_RADIUS = 3.0
# An anchor that moves the frame's corners more than this (px) from where the chain of lag-1
# links predicted them disagrees with the chain: the frame gets its longer lags too.
AGREEMENT_PX = 0.5
# Every LAG_EVERY-th frame gets its longer lags even when the anchor and the chain agree
# (0: only where they leave a doubt).
LAG_EVERY = 4
# A refinement whose Pearson r falls below this fraction of the lag-1 searches' median is a
# miss (it found a worse, local optimum or the frames no longer share content).
MISS_FRACTION = 0.5


@dataclass(frozen=True)
class PairResult:
    """Frame (node) j measured against node i: ``node_j[p] ~ node_i[matrix @ p]``."""

    i: int
    j: int
    matrix: np.ndarray
    pearson_r: float
    found: bool
    searched: bool


@dataclass(frozen=True)
class Measurements:
    pairs: tuple[PairResult, ...]
    nodes: int
    reference_node: int


Advance = Callable[[int], None]


def measure_series(
    frames: Frames,
    *,
    channel: int,
    model: Kind,
    reference: Reference,
    lags: tuple[int, ...],
    threads: int = 0,
    advance: Advance | None = None,
) -> Measurements:
    """Every pair the reference mode asks for, measured (see the module docstring)."""
    n = len(frames)
    reference.check(n)
    workers = threads or os.cpu_count() or 1
    cache = _GreyCache(frames, channel)
    step = advance or (lambda _count: None)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        if reference.kind == "global":
            pairs = _measure_global(cache, n, model, lags, workers, pool, step)
        else:
            pairs = _measure_fixed(cache, n, model, reference, workers, pool, step)
    return Measurements(tuple(pairs), reference.nodes(n), reference.node(n))


def _search(
    a: np.ndarray, b: np.ndarray, model: Kind, i: int, j: int, levels: tuple[int, ...] = (1,)
) -> PairResult:
    """b measured against a with nothing known: the translation search on block means, then the
    model's refinement from it on ``levels``; the whole pyramid of ``register_pair(model=...)``
    only when that falls short of the search's own fit (a large turn between the two)."""
    shift = _coarse_search(a, b)
    if not shift.found:
        return PairResult(i, j, shift.matrix, float(shift.pearson_r), bool(shift.found), True)
    quick = refine_transform(a, b, shift.matrix, model, factors=levels, tolerance=TOLERANCE_PX)
    if quick.found and quick.pearson_r >= shift.pearson_r:
        return PairResult(i, j, quick.matrix, quick.pearson_r, True, True)
    result = register_pair(a, b, model=model)
    return PairResult(i, j, result.matrix, float(result.pearson_r), bool(result.found), True)


def _coarse_search(a: np.ndarray, b: np.ndarray) -> Registration:
    """The translation search on block means (SEARCH_FACTOR, or less where the frame would
    fall below SEARCH_MIN_SIDE blocks), its shift in full-frame pixels."""
    factor = SEARCH_FACTOR
    while factor > 1 and min(a.shape) // factor < SEARCH_MIN_SIDE:
        factor //= 2
    if factor == 1:
        return register_pair(a, b)
    coarse = register_pair(block_mean(a, factor), block_mean(b, factor))
    # A block-mean level's shift t is factor * t in pixels (its pixel k covers pixels
    # factor * k .. factor * k + factor - 1: the offsets cancel for a pure translation).
    return replace(coarse, shift=(factor * coarse.shift[0], factor * coarse.shift[1]))


def _anchor(
    first: np.ndarray, b: np.ndarray, predicted: np.ndarray, model: Kind, j: int, floor: float
) -> PairResult:
    """Frame j measured against the first frame from a prediction, at full precision: the
    translation model by the correlation of regions facing each other at the prediction,
    within TRANSLATION_RADIUS of it (0.019 px on the 256^2 short-mode series where the
    Gauss-Newton step alone leaves 0.035 px, the same 0.014 px on 512^2, and cheaper; the
    chain predicts to a pixel, so no wider search precedes it); the others by ANCHOR_LEVELS,
    the last level skipped on sharp frames (SHARP_R)."""
    if model == "translation":
        shift = (float(predicted[0, 2]), float(predicted[1, 2]))
        hinted = register_near(first, b, shift, radius=TRANSLATION_RADIUS)
        if hinted.found and hinted.pearson_r >= floor:
            return PairResult(0, j, hinted.matrix, float(hinted.pearson_r), True, False)
    coarse_levels, fine_levels = ANCHOR_LEVELS[:-1], ANCHOR_LEVELS[-1:]
    coarse = refine_transform(
        first, b, predicted, model, factors=coarse_levels, tolerance=TOLERANCE_PX
    )
    sharp = coarse.pearson_r >= max(floor, SHARP_R) and first.size >= 4 * SHARP_MIN_PIXELS
    if coarse.found and sharp:
        return PairResult(0, j, coarse.matrix, coarse.pearson_r, True, False)
    start = coarse.matrix if coarse.found else predicted
    return _refine(first, b, start, model, 0, j, floor, fine_levels, ANCHOR_MAX_ITERATIONS)


def _refine(
    a: np.ndarray,
    b: np.ndarray,
    predicted: np.ndarray,
    model: Kind,
    i: int,
    j: int,
    floor: float,
    levels: tuple[int, ...],
    max_iterations: int | None = None,
) -> PairResult:
    """b measured against a from a prediction good to a pixel or so, on ``levels`` (the last
    one's iterations capped at ``max_iterations``); from the block-mean pyramid (a wider basin)
    when that result is poor."""
    result = refine_transform(
        a,
        b,
        predicted,
        model,
        factors=levels,
        tolerance=TOLERANCE_PX,
        max_iterations=max_iterations,
    )
    if not result.found or result.pearson_r < floor:
        result = refine_transform(a, b, predicted, model, factors=WIDE_LEVELS)
    return PairResult(i, j, result.matrix, result.pearson_r, result.found, False)


def _measure_fixed(
    cache: _GreyCache,
    n: int,
    model: Kind,
    reference: Reference,
    workers: int,
    pool: ThreadPoolExecutor,
    advance: Advance,
) -> list[PairResult]:
    """first, index:K, mean:N: each frame searched against the reference; previous: against
    the frame before it."""
    node = reference.node(n)
    if reference.kind == "mean":
        count = min(reference.number, n)
        total = np.zeros(cache.shape, np.float64)
        for index in range(count):
            total += cache.read(index)
        fixed: np.ndarray | None = (total / count).astype(np.float32)
    elif reference.kind == "previous":
        fixed = None
    else:
        fixed = cache.read(node)
    pairs: list[PairResult] = []
    previous = cache.read(0) if fixed is None else None
    block = 2 * workers
    for start in range(0, n, block):
        indices = list(range(start, min(start + block, n)))
        greys = {j: cache.read(j) for j in indices}
        jobs = []
        for j in indices:
            if fixed is not None and j != node:
                jobs.append(pool.submit(_search, fixed, greys[j], model, node, j))
            elif fixed is None and j > 0:
                before = previous if j == indices[0] else greys[j - 1]
                assert before is not None
                jobs.append(pool.submit(_search, before, greys[j], model, j - 1, j))
        pairs.extend(job.result() for job in jobs)
        previous = greys[indices[-1]]
        cache.forget_before(indices[-1] + 1, keep_first=False)  # `fixed`, `previous` stay held
        give_back_free_memory()
        advance(len(indices))
    return pairs


def _measure_global(
    cache: _GreyCache,
    n: int,
    model: Kind,
    lags: tuple[int, ...],
    workers: int,
    pool: ThreadPoolExecutor,
    advance: Advance,
) -> list[PairResult]:
    """Lag-1 searches, then refinements at the longer lags and to the first frame, each
    predicted from the running estimate of every frame's transform."""
    longest = max(lags)
    # predicted[j]: the running estimate of M_j (reference pixel -> frame j pixel).
    predicted: list[np.ndarray] = [np.eye(3)]
    pairs: list[PairResult] = []
    anchored, misses = True, 0
    typical_r: list[float] = []
    block = 2 * workers
    first = cache.read(0)
    advance(1)
    grey = cache.read  # the frames a lag reaches back to are still in the cache

    def search_block(start: int) -> _SearchBlock | None:
        """Read a block's frames and queue their lag-1 searches: these need nothing but the
        frames, so the next block's are queued while this block's anchors and lags run, and
        the workers never wait on the reading or on a stage's last job."""
        if start >= n:
            return None
        indices = list(range(start, min(start + block, n)))
        greys = {j: grey(j) for j in indices}
        searches = [
            pool.submit(_search, grey(j - 1), greys[j], model, j - 1, j, LAG_LEVELS)
            for j in indices
        ]
        return _SearchBlock(indices, greys, searches)

    upcoming = search_block(1)
    while upcoming is not None:
        indices, greys, searches = upcoming.indices, upcoming.greys, upcoming.searches
        chain = [job.result() for job in searches]
        pairs.extend(chain)
        typical_r.extend(result.pearson_r for result in chain if result.found)
        floor = MISS_FRACTION * float(np.median(typical_r)) if typical_r else 0.0
        for result in chain:
            # M_{j-1,j} = M_{j-1} M_j^-1, so M_j = M_{j-1,j}^-1 M_{j-1}; a poor link (a blank
            # or blurred frame) predicts no motion instead.
            trusted = result.found and result.pearson_r >= floor
            predicted.append(
                np.linalg.solve(result.matrix, predicted[-1]) if trusted else predicted[-1]
            )

        # The anchors first: each ties its frame to the reference, and says whether the
        # chain's prediction of it held.
        anchors = (
            [
                (
                    j,
                    pool.submit(
                        _anchor, first, greys[j], np.linalg.inv(predicted[j]), model, j, floor
                    ),
                )
                for j in indices
            ]
            if anchored  # frame 1 too: its lag-1 search ran on block means
            else []
        )
        upcoming = search_block(indices[-1] + 1)
        settled: set[int] = set()
        tied = {j for j, _ in anchors}
        for j, job in anchors:
            result = job.result()
            pairs.append(result)
            if not anchored:
                continue
            if result.found and result.pearson_r >= floor:
                misses = 0
                # The anchor ties frame j straight to the reference: later predictions start
                # from it instead of the chain's accumulated error.
                chained = np.linalg.inv(predicted[j])
                predicted[j] = np.linalg.inv(result.matrix)
                if _moved_px(result.matrix, chained, cache.shape) <= AGREEMENT_PX:
                    settled.add(j)
            else:
                misses += 1
                anchored = misses < ANCHOR_MISSES

        # The longer lags where the anchor and the chain leave a doubt: no anchor (lost, or
        # poor), an anchor that disagrees with the chain, a poor link to the previous frame;
        # and every LAG_EVERY-th frame regardless, so the joint solve always has loops that
        # cross several frames to judge the lag-1 links by.
        jobs = []
        for number, j in enumerate(indices):
            link = chain[number]
            doubt = j not in settled or not (link.found and link.pearson_r >= floor)
            if not (doubt or (LAG_EVERY and j % LAG_EVERY == 0)):
                continue
            for lag in lags:
                i = j - lag
                if lag == 1 or i < 0 or (i == 0 and j in tied):  # the anchor measured it
                    continue
                guess = predicted[i] @ np.linalg.inv(predicted[j])
                jobs.append(
                    pool.submit(_refine, grey(i), greys[j], guess, model, i, j, floor, LAG_LEVELS)
                )
        pairs.extend(job.result() for job in jobs)
        cache.forget_before(indices[-1] + 1 - longest, keep_first=anchored)
        give_back_free_memory()  # else the threads' heaps grow by about a frame per frame
        advance(len(indices))
    return pairs


@dataclass(frozen=True)
class _SearchBlock:
    """A block of frames read, with their lag-1 searches queued."""

    indices: list[int]
    greys: dict[int, np.ndarray]
    searches: list[Future[PairResult]]


def _moved_px(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """The largest distance between where matrices ``a`` and ``b`` put the frame's corners."""
    rows, cols = shape
    corners = np.array([[0, 0, 1], [0, cols - 1, 1], [rows - 1, 0, 1], [rows - 1, cols - 1, 1]])
    moved = (a - b)[:2] @ corners.T
    return float(np.hypot(moved[0], moved[1]).max())


class _GreyCache:
    """Frames as float32 grey, read once each while a later pair may still need them."""

    def __init__(self, frames: Frames, channel: int) -> None:
        self.frames = frames
        self.channel = channel
        self.shape = frames.shape
        self._greys: dict[int, np.ndarray] = {}

    def read(self, index: int) -> np.ndarray:
        grey = self._greys.get(index)
        if grey is None:
            pixels = self.frames.read(index, self.channel)
            grey = grey_float32(pixels)
            if grey.dtype.kind == "f" and not np.isfinite(grey).all():
                grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
            self._greys[index] = grey
        return grey

    def forget_before(self, index: int, *, keep_first: bool) -> None:
        for key in [k for k in self._greys if k < index and not (keep_first and k == 0)]:
            del self._greys[key]
