"""Aligning the frames of a focus stack to its middle frame.

Each frame is registered to its neighbours at lags 1 and 2 with the core's intensity-based
registration (``core.registration.register_pair``, model ``translation``, ``rigid`` or
``similarity``; similarity by default because focus breathing changes the scale), on block
means first when frames are large (the longest side brought to at most ``COARSE_SIDE`` px) and
then refined at full resolution. A lag-2 link is predicted from the two lag-1 links it spans
and only refined (2x block means, then a few iterations at full resolution), without a search;
it is searched for like the others when either of those was not trusted. The links of a few
frames at a time are measured in parallel (``threads``; the core releases the GIL).
Neighbours differ least in focus, so their matches are the surest; every frame then has up to
four links, and all of them are solved jointly for every frame's transform to the middle frame
(``joint``: sparse least squares, links that disagree with the others rejected). Where no
chain of accepted links reaches a frame, it is registered across the gap, to the nearest
placed frame towards the middle, and the solve repeats.

Every frame gets a status: ``reference``, ``ok``, or ``failed`` (no accepted link reaches it:
its links' quality was below ``core.registration.ACCEPT_QUALITY``, their motion implausible
for a focus stack, or they disagreed with the rest). Nothing is silently dropped: the caller
decides what a failure means.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .. import _core
from ..core.affine_registration import HUBER_THRESHOLD, LEVEL_SMOOTHING, LEVEL_TOLERANCE, MIN_SIDE
from ..core.registration import ACCEPT_QUALITY, register_pair
from ..core.transform import Transform, TransformTable, fit
from ..errors import InputError
from .frames import Frames, as_frames, luminance
from .joint import Measured, solve_links

Model = Literal["none", "translation", "rigid", "similarity"]
MODELS: tuple[str, ...] = ("none", "translation", "rigid", "similarity")
# Frames are registered on block means until their longest side is at most this (then refined
# at full resolution): on the 15 x 1024^2 shifted retina stack (lag-2 links predicted), 512
# rather than 1024 took the alignment from 12.4 to 8.4 s CPU (53.79 dB rather than 53.75), and
# FINE_ITERATIONS 4 rather than 40 to 7.5 s at the same dB (one run each, under load).
COARSE_SIDE = 512
# A focus stack moves little between frames: a link moving a frame by more than this fraction
# of its size, turning it by more than MAX_TURN_DEG or scaling it by more than MAX_SCALE_CHANGE
# is a false match.
MAX_SHIFT_FRACTION = 0.15
MAX_TURN_DEG = 5.0
MAX_SCALE_CHANGE = 0.1
# A lag-2 link predicted from two lag-1 links starts within a fraction of a pixel: its
# full-resolution refinement stops after this many Gauss-Newton iterations.
PREDICTED_ITERATIONS = 3
# Likewise after the search on block means: one or two iterations reach a few hundredths of a
# pixel, and the rest only polish the thousandths.
FINE_ITERATIONS = 4
# Frames whose links are measured together (in parallel, up to ``threads``).
MAX_CHUNK = 8


@dataclass(frozen=True)
class Link:
    """One measured pair: ``frames[to][p] ~ frames[source][matrix @ p]``; ``trusted``: its
    registration passed (quality, plausible motion); ``accepted``: the joint solve kept it
    (it agrees with the other links); ``residual_px``: how far the solution leaves it."""

    source: int
    to: int
    matrix: np.ndarray
    quality: float
    trusted: bool
    accepted: bool = False
    residual_px: float = float("nan")


@dataclass(frozen=True)
class Alignment:
    """Every frame's transform to the reference: ``frame_k[p] ~ reference[transforms[k] @ p]``
    (the shared table convention, with a = the reference and b = frame k), its status and the
    quality of the link that placed it."""

    reference: int
    table: TransformTable
    links: tuple[Link, ...]

    @property
    def failed(self) -> list[int]:
        return [k for k, status in enumerate(self.table.status) if status == "failed"]

    def matrix(self, index: int) -> np.ndarray:
        return np.asarray(self.table.matrices[index])


def identity(count: int, ids: list[str] | None = None, reference: int | None = None) -> Alignment:
    """No alignment: every frame where it is (``--align none``)."""
    middle = count // 2 if reference is None else reference
    names = ids or [str(k) for k in range(count)]
    status = ["reference" if k == middle else "ok" for k in range(count)]
    table = TransformTable.from_transforms(
        names, [Transform.identity()] * count, status=status, kind="translation"
    )
    return Alignment(middle, table, ())


def align(
    stack: Frames | np.ndarray,
    model: Model = "similarity",
    *,
    ids: list[str] | None = None,
    reference: int | None = None,
    threads: int = 0,
) -> Alignment:
    """Measure every frame's transform to the ``reference`` frame (default: the middle one).

    ``stack``: ``Frames`` or an (n, rows, cols[, channels]) array. ``ids``: a name per frame
    for the table (default "0", "1", ...). ``threads``: links measured at once (0: every core).
    """
    frames = as_frames(stack)
    count = len(frames)
    if model not in MODELS:
        raise InputError(f"align model {model!r} is unknown; use one of {', '.join(MODELS)}")
    middle = count // 2 if reference is None else int(reference)
    if not 0 <= middle < count:
        raise InputError(f"reference frame {reference} is outside 0..{count - 1}")
    if ids is not None and len(ids) != count:
        raise InputError(f"{len(ids)} ids for {count} frames; give one per frame")
    if model == "none" or count == 1:
        return identity(count, ids, middle)
    workers = max(1, threads or os.cpu_count() or 1)
    # Frames per chunk: a grey copy of each (and of the two before) is held while its links are
    # measured, so memory is bounded by this, not by the stack.
    chunk_size = min(workers, MAX_CHUNK)
    shape = frames.shape[:2]
    measured: dict[tuple[int, int], Link] = {}
    greys: dict[int, np.ndarray] = {}

    def keep_greys(wanted: set[int]) -> None:
        # Only the frames of the links in hand are kept (at most MAX_CHUNK + 2): memory does
        # not grow with the stack. Frames are read here, in this thread, one at a time.
        for index in [k for k in greys if k not in wanted]:
            del greys[index]
        for index in sorted(wanted - greys.keys()):
            greys[index] = luminance(frames.frame(index).pixels)

    def oriented(source: int, to: int) -> Link | None:
        """The measured link source -> to, turned round when it was measured the other way."""
        if (source, to) in measured:
            return measured[(source, to)]
        if (to, source) in measured:
            back = measured[(to, source)]
            return replace(back, source=source, to=to, matrix=np.linalg.inv(back.matrix))
        return None

    def link(pair: tuple[int, int]) -> Link:
        source, to = pair
        a, b = greys[source], greys[to]
        if abs(to - source) == 2:
            first = oriented(source, (source + to) // 2)
            second = oriented((source + to) // 2, to)
            if first is not None and second is not None and first.trusted and second.trusted:
                return _predicted(a, b, first, second, model, shape)
        return _measure(a, b, source, to, model, shape)

    with ThreadPoolExecutor(workers) as pool:

        def measure_all(pairs: list[tuple[int, int]]) -> None:
            pairs = [p for p in pairs if p not in measured and p[::-1] not in measured]
            for pair, result in zip(pairs, pool.map(link, pairs), strict=True):
                measured[pair] = result

        # Outwards from the middle, a chunk of frames at a time: first the lag-1 links of the
        # chunk, in parallel (the core releases the GIL), then its lag-2 links, predicted from
        # the two lag-1 links each spans and only refined.
        # The middle's two lag-1 links first: the lag-2 link across the middle spans both.
        first = [(middle, k) for k in (middle + 1, middle - 1) if 0 <= k < count]
        keep_greys({k for pair in first for k in pair})
        measure_all(first)
        for direction in (1, -1):
            ahead = list(range(middle + direction, count if direction > 0 else -1, direction))
            for start in range(0, len(ahead), chunk_size):
                chunk = ahead[start : start + chunk_size]
                lag1 = [(k - direction, k) for k in chunk]
                lag2 = [(k - 2 * direction, k) for k in chunk if 0 <= k - 2 * direction < count]
                keep_greys({k for pair in lag1 + lag2 for k in pair})
                measure_all(lag1)
                measure_all(lag2)
        while True:
            links = list(measured.values())
            solution = solve_links(
                [Measured(one.source, one.to, one.matrix, one.trusted) for one in links],
                count,
                middle,
                model,
                shape,
            )
            bridges = _bridges(solution.matrices, middle, measured)
            if not bridges:
                break
            for start in range(0, len(bridges), chunk_size):
                some = bridges[start : start + chunk_size]
                keep_greys({k for pair in some for k in pair})
                measure_all(some)
    greys.clear()
    matrices = solution.matrices
    links = [
        replace(one, accepted=bool(kept), residual_px=float(residual))
        for one, kept, residual in zip(links, solution.accepted, solution.residual_px, strict=True)
    ]
    quality = np.full(count, np.nan)
    for k in range(count):
        values = [one.quality for one in links if one.accepted and k in (one.source, one.to)]
        if values and k != middle and matrices[k] is not None:
            quality[k] = float(np.median(values))
    names = ids or [str(k) for k in range(count)]
    status = [
        "reference" if k == middle else ("ok" if matrices[k] is not None else "failed")
        for k in range(count)
    ]
    kind = "translation" if model == "translation" else model
    transforms = [
        _as_kind(m, kind, shape) if m is not None else Transform.identity(kind) for m in matrices
    ]
    table = TransformTable.from_transforms(names, transforms, quality, status, kind)
    return Alignment(middle, table, tuple(links))


def _bridges(
    matrices: list[np.ndarray | None], middle: int, measured: dict[tuple[int, int], Link]
) -> list[tuple[int, int]]:
    """Links not yet measured from each unplaced frame's nearest placed frame towards the
    middle: a gap of bad frames is crossed as the lags alone cannot."""
    wanted = []
    for k, matrix in enumerate(matrices):
        if matrix is not None:
            continue
        step = 1 if k < middle else -1
        anchor = k + step
        while matrices[anchor] is None:
            anchor += step
        if (anchor, k) not in measured and (k, anchor) not in measured:
            wanted.append((anchor, k))
    return wanted


def _measure(
    a: np.ndarray, b: np.ndarray, source: int, to: int, model: str, shape: tuple[int, int]
) -> Link:
    """Register frame ``to`` (b) in frame ``source`` (a): coarse on block means, then fine."""
    factor = 1
    while max(shape) / factor > COARSE_SIDE:
        factor *= 2
    if factor > 1:
        coarse = register_pair(
            _core.image.block_mean(a, factor), _core.image.block_mean(b, factor), model=model
        )
        scale = np.diag([factor, factor, 1.0])
        matrix = scale @ coarse.matrix @ np.linalg.inv(scale)
        # The pixel centres of block means sit half a block minus half a pixel off.
        offset = np.eye(3)
        offset[:2, 2] = (factor - 1) / 2.0
        matrix = offset @ matrix @ np.linalg.inv(offset)
        found, quality = coarse.found, coarse.quality
        if found and model != "translation":
            refined = _core.register.refine_affine(
                a, b, matrix, model, max_iterations=FINE_ITERATIONS, tolerance=2e-3
            )
            if refined.valid_pixels > 0.5 * a.size and refined.pearson_r > 0:
                matrix = np.asarray(refined.matrix)
        elif found:
            fine = register_pair(
                a, b, expected_shift=(float(matrix[0, 2]), float(matrix[1, 2])), search_radius=3.0
            )
            if fine.found:
                matrix = fine.matrix
    else:
        result = register_pair(a, b, model=model)
        matrix, found, quality = result.matrix, result.found, result.quality
    trusted = bool(found) and quality >= ACCEPT_QUALITY and _plausible(matrix, shape)
    return Link(source, to, matrix, float(quality), trusted)


def _predicted(
    a: np.ndarray, b: np.ndarray, first: Link, second: Link, model: str, shape: tuple[int, int]
) -> Link:
    """The lag-2 link ``first.source`` -> ``second.to`` predicted from the two trusted lag-1
    links it spans and only refined, without a search: on 2x block means, then at full
    resolution with at most PREDICTED_ITERATIONS iterations. Its quality is the lesser of the
    two it was predicted from; it is trusted only when the refinement kept most of the frame,
    correlates and stays plausible, and the joint solve still rejects it if it disagrees."""
    source, to = first.source, second.to
    initial = first.matrix @ second.matrix
    if model == "translation":
        fine = register_pair(
            a, b, expected_shift=(float(initial[0, 2]), float(initial[1, 2])), search_radius=3.0
        )
        trusted = fine.found and fine.quality >= ACCEPT_QUALITY and _plausible(fine.matrix, shape)
        return Link(source, to, fine.matrix, float(fine.quality), bool(trusted))
    matrix = initial
    refined = None
    for factor in (2, 1):
        if factor > 1 and min(shape) // factor < MIN_SIDE:
            continue
        level_a = a if factor == 1 else _core.image.block_mean(a, factor)
        level_b = b if factor == 1 else _core.image.block_mean(b, factor)
        to_full = np.array(
            [[factor, 0.0, (factor - 1) / 2.0], [0.0, factor, (factor - 1) / 2.0], [0, 0, 1.0]]
        )
        refined = _core.register.refine_affine(
            level_a,
            level_b,
            np.linalg.inv(to_full) @ matrix @ to_full,
            model,
            max_iterations=PREDICTED_ITERATIONS if factor == 1 else 40,
            tolerance=LEVEL_TOLERANCE[factor],
            smoothing_sigma=LEVEL_SMOOTHING[factor],
            huber_threshold=HUBER_THRESHOLD,
            noise_model=factor == 1,
            cubic=factor == 1,
        )
        matrix = to_full @ np.asarray(refined.matrix) @ np.linalg.inv(to_full)
        if not np.isfinite(matrix).all():
            break
    quality = min(first.quality, second.quality)
    trusted = (
        refined is not None
        and np.isfinite(matrix).all()
        and refined.valid_pixels > 0.5 * a.size
        and refined.pearson_r > 0
        and _plausible(matrix, shape)
    )
    if not np.isfinite(matrix).all():
        matrix = initial
    return Link(source, to, matrix, float(quality), bool(trusted))


def _plausible(matrix: np.ndarray, shape: tuple[int, int]) -> bool:
    transform = Transform(matrix, "affine")
    shift = np.abs(matrix[:2, 2])
    return bool(
        np.all(shift <= MAX_SHIFT_FRACTION * np.array(shape))
        and abs(transform.angle_deg) <= MAX_TURN_DEG
        and abs(transform.scale - 1.0) <= MAX_SCALE_CHANGE
    )


def _as_kind(matrix: np.ndarray, kind: str, shape: tuple[int, int]) -> Transform:
    """The transform of ``kind`` closest to ``matrix`` over the frame (products of measured
    transforms drift from their kind by rounding)."""
    rows, cols = shape
    corners = np.array([[0, 0], [0, cols - 1], [rows - 1, 0], [rows - 1, cols - 1]], float)
    mapped = (matrix[:2, :2] @ corners.T).T + matrix[:2, 2]
    return fit(kind, corners, mapped)  # type: ignore[arg-type]
