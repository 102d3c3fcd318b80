"""What each frame is registered to: ``--reference first|mean:N|previous|index:K|global``.

The measurements form a graph whose nodes are the frames (plus, for ``mean:N``, one more node:
the mean image of the first N frames) and whose edges are the measured pairs; the reference node
is the one whose transform is fixed to the identity.

``global`` (the default) measures every frame against the frames 1, 2, 4, 8, ... before it and
against the first frame while they still share content: each frame is tied to the reference by
several independent paths, and the joint solve (`joint`) spreads each measurement's error
instead of adding them up as a chain does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

KINDS = ("first", "mean", "previous", "index", "global")
# Lags of the global mode: a frame is measured against the frames this many before it (lag 1
# always; the others where the anchor and the chain leave a doubt, and on every few frames:
# `measure`). Measured on the generated series (benchmarks/compare_drift.py): a frame's error
# is mostly its own noise, which every pair it takes part in shares, so more lags left the
# error unchanged while each costs a registration; the anchor to the first frame does the long
# range.
DEFAULT_LAGS = (1, 2, 4)


@dataclass(frozen=True)
class Reference:
    """``kind`` and its number: N for ``mean``, K for ``index`` (0 otherwise)."""

    kind: str
    number: int = 0

    def node(self, n_frames: int) -> int:
        """The graph node fixed to the identity."""
        if self.kind == "mean":
            return n_frames
        return self.number if self.kind == "index" else 0

    def nodes(self, n_frames: int) -> int:
        return n_frames + (1 if self.kind == "mean" else 0)

    def check(self, n_frames: int) -> None:
        if self.kind == "index" and not 0 <= self.number < n_frames:
            raise InputError(
                f"--reference index:{self.number} is not a frame of this series of {n_frames} "
                f"(0..{n_frames - 1})"
            )
        if self.kind == "mean" and not 1 <= self.number:
            raise InputError(f"--reference mean:{self.number}: N must be at least 1")

    def __str__(self) -> str:
        return f"{self.kind}:{self.number}" if self.kind in ("mean", "index") else self.kind


def parse_reference(text: str) -> Reference:
    """``first``, ``mean:N``, ``previous``, ``index:K`` or ``global``."""
    kind, _, number = text.partition(":")
    if kind not in KINDS or (kind in ("mean", "index")) != bool(number):
        raise InputError(
            f"--reference {text!r} is unknown; use first, mean:N, previous, index:K or global"
        )
    if not number:
        return Reference(kind)
    try:
        value = int(number)
    except ValueError:
        raise InputError(f"--reference {text!r}: {number!r} is not a whole number") from None
    if value < (1 if kind == "mean" else 0):
        raise InputError(
            f"--reference {text!r}: the number must be >= {1 if kind == 'mean' else 0}"
        )
    return Reference(kind, value)
