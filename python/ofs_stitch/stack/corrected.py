"""A stack seen through its corrections, alignment and balance: the frames fusion reads.

Frame k is read from its source, corrected (hot pixels, vignetting), warped into the reference
frame's pixel grid with a validity mask, and balanced. The warp is a cubic B-spline
(``scipy.ndimage.affine_transform``, order 3, with its prefilter): measured on
``testing.focus_stacks`` (band-limited +-3 px shifts), fusing frames warped with the core's
Keys cubic gave 40.9 dB on immunohistochemistry and 44.2 dB on retina, with the B-spline 47.6
and 53.9 dB: Keys' kernel softens the very detail focus stacking is after. It costs more, so
with a ``cache`` folder each frame is warped once and kept there (one .npy per frame, so
memory does not grow with the stack) for the passes that follow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from ..core.warp import warp_affine
from .alignment import Alignment
from .corrections import Corrections
from .exposure import Balance
from .frames import Frame, Frames


def spline_warp(pixels: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out[p] = pixels[matrix @ p]`` by cubic B-spline, and where that lies inside."""
    out = np.empty_like(pixels)
    for channel in range(pixels.shape[2]):
        ndimage.affine_transform(
            pixels[:, :, channel], matrix, order=3, mode="nearest", output=out[:, :, channel]
        )
    _, valid = warp_affine(pixels[:, :, :1], matrix, interpolation="nearest", mask=True)
    return out, valid


class CorrectedFrames:
    def __init__(
        self,
        source: Frames,
        alignment: Alignment | None = None,
        balance: Balance | None = None,
        corrections: Corrections | None = None,
        keep: list[int] | None = None,
        threads: int = 0,
        cache: Path | None = None,
    ) -> None:
        self.source = source
        self.alignment = alignment
        self.balance = balance
        self.corrections = corrections
        # The source frames taken, in order (frames left out, e.g. misaligned, are skipped).
        self.keep = list(range(len(source))) if keep is None else list(keep)
        self.threads = threads
        self.cache = cache

    def __len__(self) -> int:
        return len(self.keep)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.source.shape

    def with_balance(self, balance: Balance, keep: list[int] | None = None) -> CorrectedFrames:
        """The same frames (and cache), balanced, optionally fewer."""
        return CorrectedFrames(
            self.source,
            self.alignment,
            balance,
            self.corrections,
            self.keep if keep is None else keep,
            self.threads,
            self.cache,
        )

    def frame(self, index: int) -> Frame:
        k = self.keep[index]
        pixels, valid = self._aligned(k)
        if self.balance is not None:
            pixels = self.balance.apply(k, pixels)
        return Frame(pixels, valid)

    def _aligned(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame k corrected and warped, as a fresh array the caller may change."""
        stored = None if self.cache is None else self.cache / f"frame_{k:05d}.npz"
        if stored is not None and stored.exists():
            with np.load(stored) as saved:
                return saved["pixels"], (saved["valid"] if saved["valid"].size else None)
        frame = self.source.frame(k)
        pixels = frame.pixels.copy()
        valid = frame.valid
        if self.corrections is not None:
            pixels = self.corrections.apply(pixels)
        if self.alignment is not None:
            matrix = self.alignment.matrix(k)
            if not np.allclose(matrix, np.eye(3), atol=1e-9):
                pixels, valid = spline_warp(pixels, np.linalg.inv(matrix))
        if stored is not None:
            np.savez(stored, pixels=pixels, valid=np.zeros(0, bool) if valid is None else valid)
        return pixels, valid
