"""Focus stacking: many frames focused at different depths, one image sharp everywhere.

``ofs stack FOLDER`` is the command (``stack.command``); on arrays, `align`, `balance` and
`fuse` are the three stages and `focus_stack` does all three. One module per stage:
``inputs`` (folders, multi-page TIFFs, frame order) -> ``corrections`` (hot pixels,
vignetting) -> ``alignment`` -> ``exposure`` (gain and offset) -> ``fusion`` (``pyramid_fusion``,
``depthmap``) -> ``outputs``; ``frames`` is how a stack is handed between them.
"""

from __future__ import annotations

from .alignment import Alignment
from .api import MisalignedError, StackResult, align, balance, focus_stack, fuse
from .exposure import Balance
from .fusion import Fused, FusionSettings

__all__ = [
    "Alignment",
    "Balance",
    "Fused",
    "FusionSettings",
    "MisalignedError",
    "StackResult",
    "align",
    "balance",
    "focus_stack",
    "fuse",
]
