"""What registration says about two images, and the typed data passed between the pair stages.

``Match`` holds what one registration measures: where ``b`` sits in ``a``'s frame and how sure
the images are of it. ``register_pair`` returns it as a ``Registration`` (with how the search
went); the stitching pipeline keeps it as a ``PairMeasurement`` (with which two tiles, and where
the stage put them).

Quality measures (``ofs_stitch.core.registration`` says how they are measured):

- ``pearson_r``: Pearson correlation of the overlapping pixels at the found shift, -1..1.
- ``peak_ratio``: the correlation peak over the highest competing local maximum; >= 1 for a
  clear match, 1e6 when nothing competes, 0 when nothing was measured.
- ``quality`` (0..1) = ``max(pearson_r, 0) * (1 - 1 / peak_ratio)``, 0 for ``peak_ratio`` <= 1:
  near 0 for blank or unrelated overlaps (r ~ 0) and for ambiguous ones (another shift fits as
  well); close to r for a distinct match.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


def combined_quality(pearson_r: float, peak_ratio: float) -> float:
    """The 0..1 score described in the module docstring."""
    if peak_ratio <= 1.0:
        return 0.0
    return float(max(pearson_r, 0.0) * (1.0 - 1.0 / peak_ratio))


@dataclass(frozen=True)
class Match:
    """Where ``b`` sits in ``a``'s frame, and how clearly the two images say so.

    ``shift`` = (d_row, d_col) with ``b[y, x] ~ a[y + d_row, x + d_col]``: b's origin sits at
    ``shift`` in a's frame (for tiles i, j: position_j - position_i).
    ``quality`` is computed from ``pearson_r`` and ``peak_ratio`` on construction, so it can
    never disagree with them (the files store it for their readers; reading recomputes it).
    Numbers are kept as plain floats, whatever they were computed with (numpy scalars): a
    match goes to JSON as it is, and is written many times (the cache, while a run goes on).
    """

    shift: tuple[float, float]
    pearson_r: float  # Pearson r of the overlapping pixels at the integer shift, -1..1
    peak_ratio: float  # peak over the highest competing maximum (see the module docstring)
    quality: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Type checks first: plain floats, the usual case, cost no conversion.
        shift = self.shift
        if type(shift) is not tuple or type(shift[0]) is not float or type(shift[1]) is not float:
            object.__setattr__(self, "shift", (float(shift[0]), float(shift[1])))
        if type(self.pearson_r) is not float:
            object.__setattr__(self, "pearson_r", float(self.pearson_r))
        if type(self.peak_ratio) is not float:
            object.__setattr__(self, "peak_ratio", float(self.peak_ratio))
        object.__setattr__(self, "quality", combined_quality(self.pearson_r, self.peak_ratio))


@dataclass(frozen=True)
class Registration(Match):
    """The result of ``register_pair``: the match, and how the search for it went."""

    gaussian_fit: bool  # False when the sub-pixel step had to fall back to a parabola
    found: bool  # False when no shift satisfied the search constraints


@dataclass(frozen=True, kw_only=True)
class PairMeasurement(Match):
    """The match measured for one candidate pair of tiles: ``shift`` = position[j] - position[i].

    How the search went is not kept: the measuring stage turns a registration that found
    nothing into zero evidence at the stage's prediction (quality 0, so thresholding rejects
    it), and neither the cache nor ``positions.json`` has ever recorded the sub-pixel method.
    """

    i: int
    j: int
    expected_shift: tuple[float, float]  # the stage's prediction of ``shift``

    def __post_init__(self) -> None:
        super().__post_init__()
        expected = self.expected_shift
        if (
            type(expected) is not tuple
            or type(expected[0]) is not float
            or type(expected[1]) is not float
        ):
            object.__setattr__(self, "expected_shift", (float(expected[0]), float(expected[1])))

    @property
    def stage_discrepancy(self) -> float:
        """Distance in pixels between the measured shift and the stage's prediction."""
        d_row = self.shift[0] - self.expected_shift[0]
        d_col = self.shift[1] - self.expected_shift[1]
        return float((d_row * d_row + d_col * d_col) ** 0.5)
