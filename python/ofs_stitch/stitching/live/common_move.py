"""The layout's common move between two updates, which the live preview and Deep Zoom image
take out before drawing.

A full placement moves the whole layout in the solve's frame by a few pixels (a fraction of
a pixel in a small scan) while the tiles' positions relative to one another change by
hundredths: drawn as given, every tile would move and everything be painted again.
"""

from __future__ import annotations

import numpy as np


def common_move(
    drawn_slots: np.ndarray, drawn_positions: np.ndarray, slots: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """The median move, (d_row, d_col), of the tiles in both ``drawn_slots`` (ascending, at
    ``drawn_positions``) and ``slots`` (at ``positions``); zero when none is in both."""
    if not len(drawn_slots):
        return np.zeros(2)
    index = np.minimum(np.searchsorted(drawn_slots, slots), len(drawn_slots) - 1)
    known = drawn_slots[index] == slots
    if not known.any():
        return np.zeros(2)
    moves = positions[known] - drawn_positions[index[known]]
    return np.asarray(np.median(moves, axis=0), float)
