"""The ``ofs drift`` family: drift correction of image time series.

``estimate(frames, ...)`` measures every frame's drift (a `DriftTable`: one transform per frame
in a ``TransformTable``, with the frame shape and model); ``apply(frames, table, ...)`` warps the
series onto the reference. One module per stage: `frames` (reading), `reference` (what is
registered to what), `measure` (pairs), `joint` (the joint solve and unreliable frames),
`estimation`, `alignment`, `table` (drift.csv), `outputs`, `report`, `plot`, `cli`.

The public names are imported on first use: ``ofs drift`` loads this package before its
``main`` has run, and importing numpy then (through the stages) would start OpenBLAS's thread
pool before ``main`` limits it to one thread (measured: its idle threads spun for 3 % of a
50-frame run's CPU).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alignment import apply
    from .estimation import estimate
    from .table import DriftTable, read_drift_csv, write_drift_csv

__all__ = ["DriftTable", "apply", "estimate", "read_drift_csv", "write_drift_csv"]

_HOMES = {
    "apply": "alignment",
    "estimate": "estimation",
    "DriftTable": "table",
    "read_drift_csv": "table",
    "write_drift_csv": "table",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
