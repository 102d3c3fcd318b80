"""The ``ofs drift`` family: drift correction of image time series.

``estimate(frames, ...)`` measures every frame's drift (a `DriftTable`: one transform per frame
in a ``TransformTable``, with the frame shape and model); ``apply(frames, table, ...)`` warps the
series onto the reference. One module per stage: `frames` (reading), `reference` (what is
registered to what), `measure` (pairs), `joint` (the joint solve and unreliable frames),
`estimation`, `alignment`, `table` (drift.csv), `outputs`, `report`, `plot`, `cli`.
"""

from __future__ import annotations

from .alignment import apply
from .estimation import estimate
from .table import DriftTable, read_drift_csv, write_drift_csv

__all__ = ["DriftTable", "apply", "estimate", "read_drift_csv", "write_drift_csv"]
