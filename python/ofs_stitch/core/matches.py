"""What registration says about two images, and the typed data passed between the pair stages.

``Match`` holds what one registration measures: where ``b`` sits in ``a``'s frame and how sure
the images are of it. ``register_pair`` returns it as a ``Registration`` (with how the search
went); the stitching pipeline keeps it as a ``PairMeasurement`` (with which two tiles, and where
the stage put them). A pair measurement travels as one JSON-ready record, written and read by
``PairMeasurement.to_json`` and ``PairMeasurement.from_json`` for the correlation cache,
``positions.json`` and the plot helper process alike.

Quality measures (``ofs_stitch.core.registration`` says how they are measured):

- ``pearson_r``: Pearson correlation of the overlapping pixels at the found shift, -1..1.
- ``peak_ratio``: the correlation peak over the highest competing local maximum; >= 1 for a
  clear match, ``PEAK_RATIO_WITHOUT_RIVAL`` (1e6) when nothing competes, 0 when nothing was
  measured. The correlation cache stores that value as it is; positions.json writes null.
- ``quality`` (0..1) = ``max(pearson_r, 0) * (1 - 1 / peak_ratio)``, 0 for ``peak_ratio`` <= 1:
  near 0 for blank or unrelated overlaps (r ~ 0) and for ambiguous ones (another shift fits as
  well); close to r for a distinct match.

No numpy here: the plot helper decodes measurements before it loads numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The peak ratio the compiled core reports when no other maximum competes with the peak: a
# finite stand-in for an infinite ratio (quality is then pearson_r to 1e-6).
PEAK_RATIO_WITHOUT_RIVAL = 1e6


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


IDENTITY_LINEAR = ((1.0, 0.0), (0.0, 1.0))


@dataclass(frozen=True)
class Registration(Match):
    """The result of ``register_pair``: the match, and how the search for it went.

    ``linear`` is the 2x2 linear part L of the transform ``b[p] ~ a[L p + shift]`` in (row,
    col): the identity for a translation, a rotation (times a scale) for the rigid and
    similarity models. ``matrix`` is the 3x3 homogeneous form, ``transform`` the same as a
    ``core.transform.Transform``; ``angle_deg`` and ``scale`` read it as that type does.
    """

    gaussian_fit: bool  # False when the sub-pixel step had to fall back to a parabola
    found: bool  # False when no shift satisfied the search constraints
    linear: tuple[tuple[float, float], tuple[float, float]] = IDENTITY_LINEAR
    model: str = "translation"  # the kind of transform measured (see core.transform.KINDS)

    @property
    def matrix(self) -> Any:
        """The (3, 3) float64 homogeneous matrix in (row, col): b[p] ~ a[matrix @ p]."""
        import numpy as np  # here, not at import: the plot helper loads this module first

        (l00, l01), (l10, l11) = self.linear
        return np.array(
            [[l00, l01, self.shift[0]], [l10, l11, self.shift[1]], [0.0, 0.0, 1.0]], dtype=float
        )

    @property
    def transform(self) -> Any:
        """The measured ``core.transform.Transform``, of kind ``model``."""
        from .transform import Transform

        return Transform(self.matrix, self.model)  # type: ignore[arg-type]

    @property
    def angle_deg(self) -> float:
        """The rotation in degrees (see ``Transform.angle_deg``); 0 for a translation."""
        (l00, l01), (l10, l11) = self.linear
        return math.degrees(math.atan2(l10 - l01, l00 + l11))

    @property
    def scale(self) -> float:
        """The factor lengths are multiplied by, sqrt(|det L|) (see ``Transform.scale``)."""
        (l00, l01), (l10, l11) = self.linear
        return math.sqrt(abs(l00 * l11 - l01 * l10))


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

    @classmethod
    def unmeasured(cls, pair: CandidatePair) -> PairMeasurement:
        """A pair that could not be measured: no evidence at the stage's prediction
        (peak_ratio 0 makes quality 0), so thresholding always rejects it."""
        return cls(
            i=pair.i,
            j=pair.j,
            shift=pair.expected_shift,
            expected_shift=pair.expected_shift,
            pearson_r=0.0,
            peak_ratio=0.0,
        )

    @property
    def stage_discrepancy(self) -> float:
        """Distance in pixels between the measured shift and the stage's prediction."""
        d_row = self.shift[0] - self.expected_shift[0]
        d_col = self.shift[1] - self.expected_shift[1]
        return float((d_row * d_row + d_col * d_col) ** 0.5)

    def swapped(self) -> PairMeasurement:
        """The same measurement seen from tile j: i and j exchanged, both shifts negated."""
        shift, expected = self.shift, self.expected_shift
        return self._copy_with(
            i=self.j,
            j=self.i,
            shift=(-shift[0], -shift[1]),
            expected_shift=(-expected[0], -expected[1]),
        )

    def renumbered(self, i: int, j: int) -> PairMeasurement:
        """The same measurement for tiles numbered ``i`` and ``j`` (where a cache or a live
        session numbers the files its own way)."""
        return self._copy_with(i=i, j=j)

    def _copy_with(self, **changes: Any) -> PairMeasurement:
        """A copy with ``changes``, which must already have the field types (plain floats and
        ints), without ``__init__``'s conversions: the rest was converted when this one was
        made. A live session's final run takes every pair from the cache this way, 3,150 at
        1,600 tiles: ``dataclasses.replace`` cost 10 us each, 0.03 s of the finish (more while
        the render's threads want the interpreter), this 2 us."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__, **changes)  # frozen guards only __setattr__
        return twin

    def to_json(self, **tiles: Any) -> dict[str, Any]:
        """The JSON-ready record: the ``tiles`` entries, then ``shift``, ``expected_shift``
        ([d_row, d_col] lists), ``pearson_r``, ``peak_ratio`` and ``quality``; non-finite
        numbers stay floats (each file decides how to write them).

        ``tiles`` name the two tiles in the file's own terms: the cache by file name, which
        survives images being added to a scan (``a=``, ``b=``); positions.json and the plot
        helper by index. Readers pass them back to :meth:`from_json`.
        """
        # One dict filled in place: this runs for every pair each time the cache is written.
        shift, expected = self.shift, self.expected_shift
        tiles["shift"] = [shift[0], shift[1]]
        tiles["expected_shift"] = [expected[0], expected[1]]
        tiles["pearson_r"] = self.pearson_r
        tiles["peak_ratio"] = self.peak_ratio
        tiles["quality"] = self.quality
        return tiles

    @classmethod
    def from_json(cls, record: Any, *, i: Any, j: Any) -> PairMeasurement:
        """The measurement of tiles ``i`` and ``j`` held in ``record`` (see :meth:`to_json`).

        Raises MeasurementRecordError naming the entry that is missing or of the wrong type.
        ``quality`` must be a number, but its value is recomputed (see ``Match``).
        """
        if not isinstance(record, Mapping):
            raise MeasurementRecordError(
                f"a pair record must be a JSON object, not {_describe(record)}"
            )
        measurement = cls(
            i=_tile_index(i, "i"),
            j=_tile_index(j, "j"),
            shift=_two_numbers(record, "shift"),
            expected_shift=_two_numbers(record, "expected_shift"),
            pearson_r=_number(record, "pearson_r"),
            peak_ratio=_number(record, "peak_ratio"),
        )
        _number(record, "quality")
        return measurement


class MeasurementRecordError(ValueError):
    """A pair record is damaged: the message names the entry and what is wrong with it."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _tile_index(value: Any, name: str) -> int:
    # bool is an int to Python, but true is no tile index.
    if type(value) is not int or value < 0:
        raise MeasurementRecordError(
            f"{name!r} must be a tile index (an integer >= 0), not {_describe(value)}"
        )
    return value


def _number(record: Mapping[str, Any], key: str) -> float:
    value = record.get(key)
    # Exact types: bool is an int to Python, and a JSON reader gives only float and int.
    if type(value) is float or type(value) is int:
        return float(value)
    if key not in record:
        raise MeasurementRecordError(f"{key!r} is missing")
    raise MeasurementRecordError(f"{key!r} must be a number, not {_describe(value)}")


def _two_numbers(record: Mapping[str, Any], key: str) -> tuple[float, float]:
    value = record.get(key)
    if type(value) is list and len(value) == 2:
        first, second = value
        if type(first) in (float, int) and type(second) in (float, int):
            return (float(first), float(second))
    if key not in record:
        raise MeasurementRecordError(f"{key!r} is missing")
    raise MeasurementRecordError(
        f"{key!r} must be a list of two numbers [d_row, d_col], not {_describe(value)}"
    )
