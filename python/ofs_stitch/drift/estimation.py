"""``estimate(frames, ...)``: the drift of every frame of a series, as a `DriftTable`.

Wires two stages: `measure` (frame pairs, streaming, on every core) and `joint` (all frames at
once, unreliable frames found and interpolated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from ..core.transform import Kind, TransformTable
from ..errors import InputError
from .frames import Frames, check_channel, open_frames
from .joint import JointSolution, solve_series
from .measure import Advance, Measurements, measure_series
from .reference import DEFAULT_LAGS, Reference, parse_reference
from .table import MODELS, DriftTable


@dataclass(frozen=True)
class Estimate:
    """The table and what the run saw on the way: every pair measured and the joint solve."""

    table: DriftTable
    measurements: Measurements
    solution: JointSolution

    @property
    def unreliable(self) -> int:
        return self.table.status.count("interpolated")

    @property
    def flagged(self) -> int:
        return self.table.status.count("flagged")


def estimate(
    frames: np.ndarray | Path | str | Frames,
    *,
    model: str = "rigid",
    reference: str | Reference = "global",
    channel: int | None = None,
    lags: tuple[int, ...] = DEFAULT_LAGS,
    threads: int = 0,
    advance: Advance | None = None,
) -> DriftTable:
    """The drift of each frame relative to the reference (``table`` module's convention).

    ``frames``: (n, rows, cols) or (n, channels, rows, cols) array, a folder of frames or a
    multi-page TIFF. ``model``: translation, rigid (default) or similarity. ``reference``:
    first, mean:N, previous, index:K or global (default; see `reference`). ``channel``: the
    channel registered (default 0). ``threads``: 0 for every core.
    """
    return estimate_series(
        frames,
        model=model,
        reference=reference,
        channel=channel,
        lags=lags,
        threads=threads,
        advance=advance,
    ).table


def estimate_series(
    frames: np.ndarray | Path | str | Frames,
    *,
    model: str = "rigid",
    reference: str | Reference = "global",
    channel: int | None = None,
    lags: tuple[int, ...] = DEFAULT_LAGS,
    threads: int = 0,
    advance: Advance | None = None,
) -> Estimate:
    """`estimate` with the measurements and the solve kept (for reports)."""
    if model not in MODELS:
        raise InputError(f"--model {model!r} is unknown; use one of {', '.join(MODELS)}")
    if not lags or min(lags) < 1 or 1 not in lags:
        raise InputError(f"lags={lags}: give whole numbers >= 1 including 1")
    source = open_frames(frames)
    chosen = check_channel(source, channel)
    mode = parse_reference(reference) if isinstance(reference, str) else reference
    if len(source) < 2 and mode.kind != "mean":
        raise InputError(f"the series holds {len(source)} frame; drift needs at least 2")
    kind = cast(Kind, model)
    measurements = measure_series(
        source,
        channel=chosen,
        model=kind,
        reference=mode,
        lags=tuple(sorted(set(lags))),
        threads=threads,
        advance=advance,
    )
    solution = solve_series(measurements, len(source), source.shape, kind)
    transforms = TransformTable(
        ids=source.names,
        matrices=solution.matrices,
        quality=solution.quality,
        status=solution.status,
        kind="translation" if kind == "translation" else kind,
    )
    return Estimate(DriftTable(transforms, source.shape, kind), measurements, solution)
