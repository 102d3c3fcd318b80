"""Aligning the frames of a focus stack to its middle frame.

Each frame is registered to its neighbours at lags 1 and 2 with the core's intensity-based
registration (``core.registration.register_pair``, model ``translation``, ``rigid`` or
``similarity``; similarity by default because focus breathing changes the scale), on block
means first when frames are large (the longest side brought to at most ``COARSE_SIDE`` px) and
then refined at full resolution. Neighbours differ least in focus, so their matches are the
surest; every frame then has up to four links, and all of them are solved jointly for every
frame's transform to the middle frame (``joint``: sparse least squares, links that disagree
with the others rejected). Where no chain of accepted links reaches a frame, it is registered
across the gap, to the nearest placed frame towards the middle, and the solve repeats.

Every frame gets a status: ``reference``, ``ok``, or ``failed`` (no accepted link reaches it:
its links' quality was below ``core.registration.ACCEPT_QUALITY``, their motion implausible
for a focus stack, or they disagreed with the rest). Nothing is silently dropped: the caller
decides what a failure means.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .. import _core
from ..core.registration import ACCEPT_QUALITY, register_pair
from ..core.transform import Transform, TransformTable, fit
from ..errors import InputError
from .frames import Frames, as_frames, luminance
from .joint import Measured, solve_links

Model = Literal["none", "translation", "rigid", "similarity"]
MODELS: tuple[str, ...] = ("none", "translation", "rigid", "similarity")
# Frames are registered on block means until their longest side is at most this.
COARSE_SIDE = 1024
# A focus stack moves little between frames: a link moving a frame by more than this fraction
# of its size, turning it by more than MAX_TURN_DEG or scaling it by more than MAX_SCALE_CHANGE
# is a false match.
MAX_SHIFT_FRACTION = 0.15
MAX_TURN_DEG = 5.0
MAX_SCALE_CHANGE = 0.1


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
    for the table (default "0", "1", ...).
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
    greys: dict[int, np.ndarray] = {}

    def grey(index: int) -> np.ndarray:
        # Only the frames of the pair in hand are kept: memory does not grow with the stack.
        if index not in greys:
            if len(greys) >= 3:
                greys.pop(max(greys, key=lambda k: abs(k - index)))
            pixels = frames.frame(index).pixels
            greys[index] = luminance(pixels)
        return greys[index]

    shape = frames.shape[:2]
    measured: dict[tuple[int, int], Link] = {}

    def measure(source: int, to: int) -> None:
        if (source, to) not in measured and (to, source) not in measured:
            measured[(source, to)] = _measure(grey(source), grey(to), source, to, model, shape)

    # Outwards from the middle, so that the frames a link needs are the last ones read.
    for direction in (1, -1):
        k = middle + direction
        while 0 <= k < count:
            measure(k - direction, k)
            if 0 <= k - 2 * direction < count:
                measure(k - 2 * direction, k)
            k += direction
    while True:
        links = list(measured.values())
        solution = solve_links(
            [Measured(link.source, link.to, link.matrix, link.trusted) for link in links],
            count,
            middle,
            model,
            shape,
        )
        bridges = _bridges(solution.matrices, middle, measured)
        if not bridges:
            break
        for source, to in bridges:
            measure(source, to)
    matrices = solution.matrices
    links = [
        replace(link, accepted=bool(kept), residual_px=float(residual))
        for link, kept, residual in zip(links, solution.accepted, solution.residual_px, strict=True)
    ]
    quality = np.full(count, np.nan)
    for k in range(count):
        values = [link.quality for link in links if link.accepted and k in (link.source, link.to)]
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
            refined = _core.register.refine_affine(a, b, matrix, model, tolerance=2e-3)
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
