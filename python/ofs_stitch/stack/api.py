"""Focus stacking on arrays: `align`, `balance`, `fuse`, and `focus_stack`, which does all three.

A stack is an (n, rows, cols[, channels]) array of uint8, uint16 or float frames ([0, 1]
scale), a sequence of such frames, or any ``frames.Frames`` (the command's files decoded on
demand). Frames are read one at a time, so a stack held elsewhere never has to be copied
whole.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .alignment import Alignment, Model
from .alignment import align as _align
from .corrected import CorrectedFrames
from .corrections import Corrections, estimate_vignetting, find_hot_pixels
from .exposure import DEFAULT_MASK, Balance, Fit, Mode, estimate_balance
from .frames import Frames, as_frames
from .fusion import Fused, FusionSettings
from .fusion import fuse as _fuse


class MisalignedError(InputError):
    """Some frames could not be aligned (and the caller did not allow it)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        super().__init__(
            f"could not align frame{'s' if len(names) > 1 else ''} {', '.join(names)} to "
            "their neighbours (too little texture in common, or moved too far); check those "
            "frames, or pass --allow-misaligned to fuse without them"
        )


@dataclass(frozen=True)
class StackResult:
    """What `focus_stack` did: the fusion, the alignment and balance it used, the corrections,
    and which frames (indexes into the input) went into the fusion."""

    fused: Fused
    alignment: Alignment
    balance: Balance
    corrections: Corrections
    used: tuple[int, ...]

    @property
    def misaligned(self) -> list[int]:
        return self.alignment.failed


def align(
    stack: Frames | np.ndarray | Sequence[np.ndarray],
    model: Model = "similarity",
    *,
    reference: int | None = None,
    ids: list[str] | None = None,
    threads: int = 0,
) -> Alignment:
    """Each frame's transform to the reference frame (default: the middle one); see
    ``stack.alignment``. Failed frames have status ``failed``; nothing is raised for them."""
    return _align(as_frames(stack), model, reference=reference, ids=ids, threads=threads)


def balance(
    stack: Frames | np.ndarray | Sequence[np.ndarray],
    alignment: Alignment | None = None,
    *,
    mode: Mode = "luminance",
    mask: float = DEFAULT_MASK,
    fit: Fit = "gain",
    reference: int | None = None,
) -> Balance:
    """Every frame's gain and offset to the reference frame, measured on the aligned frames
    (see ``stack.exposure``)."""
    frames = as_frames(stack)
    middle = alignment.reference if alignment is not None else _reference(frames, reference)
    return estimate_balance(CorrectedFrames(frames, alignment), middle, mode, mask, fit)


def fuse(
    stack: Frames | np.ndarray | Sequence[np.ndarray],
    settings: FusionSettings | None = None,
    *,
    alignment: Alignment | None = None,
    balance: Balance | None = None,
    **options: Any,
) -> Fused:
    """The all-in-focus image of ``stack`` seen through ``alignment`` and ``balance`` (when
    given). ``options`` are `FusionSettings` fields (``method="depthmap"``, ...) when
    ``settings`` is not given."""
    if settings is not None and options:
        raise InputError("pass either settings or keyword options to fuse, not both")
    chosen = settings or FusionSettings(**options)
    frames = as_frames(stack)
    if alignment is not None or balance is not None:
        frames = CorrectedFrames(frames, alignment, balance, threads=chosen.threads)
    return _fuse(frames, chosen)


def focus_stack(
    stack: Frames | np.ndarray | Sequence[np.ndarray],
    *,
    align_model: Model = "similarity",
    balance_mode: Mode = "luminance",
    balance_mask: float = DEFAULT_MASK,
    balance_fit: Fit = "gain",
    settings: FusionSettings | None = None,
    allow_misaligned: bool = False,
    hot_pixels: bool = False,
    vignetting: bool = False,
    reference: int | None = None,
    ids: list[str] | None = None,
    threads: int = 0,
    cache_dir: Path | str | None = None,
) -> StackResult:
    """Correct, align, balance and fuse ``stack`` in one call.

    The aligned frames are kept in a temporary folder (in ``cache_dir``, default the system's)
    between the passes over them, so that each is warped once. Raises `MisalignedError` naming
    the frames that could not be aligned, unless ``allow_misaligned``, which fuses without them
    (``StackResult.misaligned`` names them).
    """
    frames = as_frames(stack)
    settings = settings or FusionSettings(threads=threads)
    corrections = Corrections(
        hot=find_hot_pixels(frames) if hot_pixels else None,
        vignetting=estimate_vignetting(frames) if vignetting else None,
    )
    corrected = CorrectedFrames(frames, corrections=corrections, threads=threads)
    alignment = _align(
        corrected, align_model, reference=_reference(frames, reference), ids=ids, threads=threads
    )
    failed = alignment.failed
    if failed and not allow_misaligned:
        raise MisalignedError([alignment.table.ids[k] for k in failed])
    used = [k for k in range(len(frames)) if k not in failed]
    with tempfile.TemporaryDirectory(prefix="ofs-stack-", dir=cache_dir) as cache:
        aligned = CorrectedFrames(
            frames, alignment, None, corrections, threads=threads, cache=Path(cache)
        )
        gains = estimate_balance(
            aligned, alignment.reference, balance_mode, balance_mask, balance_fit
        )
        fused = _fuse(aligned.with_balance(gains, used), settings)
    # Depth in the fused result counts the frames used; give it in the input's frame numbers.
    if len(used) != len(frames):
        lookup = np.asarray(used, dtype=np.float32)
        depth = np.interp(fused.depth, np.arange(len(used)), lookup).astype(np.float32)
        fused = Fused(fused.image, depth, fused.confidence)
    return StackResult(fused, alignment, gains, corrections, tuple(used))


def _reference(frames: Frames, reference: int | None) -> int:
    count = len(frames)
    middle = count // 2 if reference is None else int(reference)
    if not 0 <= middle < count:
        raise InputError(f"reference frame {reference} is outside 0..{count - 1}")
    return middle
