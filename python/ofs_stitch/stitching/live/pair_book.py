"""The live layout's pairs in arrays, so that the placement and positions.json read every
pair's state without building a Python object per pair after each tile.

A pair keeps its row for as long as it is in play; a pair taken out (a tile deleted or
replaced) leaves a dead row behind. Rows are numbered as the pairs were measured, which is the
order positions.json lists them in.
"""

from __future__ import annotations

import numpy as np

from ...core.matches import PairMeasurement


class PairBook:
    """Measured pairs by row: slots (i < j), the measurement, and what the last placement
    made of it (accepted, why not, residual)."""

    def __init__(self) -> None:
        self.measurements: list[PairMeasurement] = []  # numbered by slot
        self.row_of: dict[tuple[int, int], int] = {}
        self.rows_of_slot: dict[int, set[int]] = {}
        self.ij = np.zeros((0, 2), np.int64)
        self.shift = np.zeros((0, 2))
        self.alive = np.zeros(0, bool)
        self.reason = np.zeros(0, np.int8)  # `thresholds.REASONS` code
        self.residual = np.zeros((0, 2))

    def __len__(self) -> int:
        return len(self.measurements)

    def put(self, measurement: PairMeasurement) -> int:
        """Add a pair (slots ``measurement.i`` < ``measurement.j``); its row."""
        key = (measurement.i, measurement.j)
        old = self.row_of.get(key)
        if old is not None:
            self.forget_row(old)
        row = len(self.measurements)
        if row == len(self.alive):
            self._grow(max(64, 2 * row))
        self.measurements.append(measurement)
        self.row_of[key] = row
        for slot in key:
            self.rows_of_slot.setdefault(slot, set()).add(row)
        self.ij[row] = key
        self.shift[row] = measurement.shift
        self.alive[row] = True
        self.reason[row] = 0
        self.residual[row] = np.nan
        return row

    def forget_slot(self, slot: int) -> None:
        for row in list(self.rows_of_slot.get(slot, ())):
            self.forget_row(row)

    def forget_row(self, row: int) -> None:
        i, j = (int(v) for v in self.ij[row])
        self.alive[row] = False
        self.row_of.pop((i, j), None)
        for slot in (i, j):
            self.rows_of_slot.get(slot, set()).discard(row)

    def rows_touching(self, slots: list[int]) -> np.ndarray:
        """The live rows with at least one end among ``slots``, in row order."""
        rows: set[int] = set()
        for slot in slots:
            rows |= self.rows_of_slot.get(slot, set())
        return np.array(sorted(rows), dtype=np.int64)

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: len(self.measurements)])

    def _grow(self, capacity: int) -> None:
        def grown(array: np.ndarray, fill: object) -> np.ndarray:
            bigger = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
            bigger[: len(array)] = array
            return bigger

        self.ij = grown(self.ij, 0)
        self.shift = grown(self.shift, 0.0)
        self.alive = grown(self.alive, False)
        self.reason = grown(self.reason, 0)
        self.residual = grown(self.residual, np.nan)
