"""Typed data passed between the pair stages: candidates from geometry, then measurements."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CandidatePair:
    """Two tiles whose stage positions say they overlap.

    ``expected_shift`` is (d_row, d_col) = stage_position[j] - stage_position[i]: where tile j's
    origin sits in tile i's frame according to the stage.
    """

    i: int
    j: int
    expected_shift: tuple[float, float]
    overlap_fraction: float  # overlap area / tile area, from the stage positions


@dataclass(frozen=True)
class PairMeasurement:
    """What image registration found for one candidate pair.

    ``shift`` is the measured position[j] - position[i], (d_row, d_col) in pixels.
    Quality measures (see ``ofs_stitch.core.registration`` for their scales):
    ``pearson_r``: normalised cross-correlation of the overlapping pixels at the found shift,
    -1..1; ``peak_ratio``: correlation peak over the highest value outside its neighbourhood,
    >= 1; ``quality``: the combined 0..1 score used for thresholding.
    """

    i: int
    j: int
    shift: tuple[float, float]
    expected_shift: tuple[float, float]
    pearson_r: float
    peak_ratio: float
    quality: float

    @property
    def stage_discrepancy(self) -> float:
        """Distance in pixels between the measured shift and the stage's prediction."""
        d_row = self.shift[0] - self.expected_shift[0]
        d_col = self.shift[1] - self.expected_shift[1]
        return float((d_row * d_row + d_col * d_col) ** 0.5)
