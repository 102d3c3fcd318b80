"""Geometric transforms of the image plane: one type, one table of them, one least-squares fit.

Convention (see ARCHITECTURE.md): a transform is a 3x3 homogeneous matrix M acting on column
vectors (row, col, 1), coordinates as numpy indexes images. For a pair of images a and b,
``b[p] ~ a[M @ p]``: b's pixel p shows what a shows at M @ p. For a translation, M's last column
is (d_row, d_col) = position_b - position_a. Products chain pairs: with M_ab for (a, b) and M_bc
for (b, c), ``c[q] ~ a[M_ab @ M_bc @ q]``.

(x, y) = (col, row) appears only at the edges, through :meth:`Transform.to_xy`,
:meth:`Transform.from_xy` and :meth:`Transform.to_opencv`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np

from ..errors import InputError

Kind = Literal["translation", "rigid", "similarity", "affine"]
# From the most specific to the most general: each kind contains the ones before it.
KINDS: tuple[Kind, ...] = ("translation", "rigid", "similarity", "affine")
# What a row of a TransformTable says about its transform.
#   ok: measured and trusted; flagged: measured but doubtful (kept for inspection);
#   interpolated: not measured, estimated from its neighbours; reference: the fixed frame the
#   others are relative to; failed: the measurement failed and the matrix is only the fallback
#   its producer chose (an identity or a prediction), never a measurement.
STATUSES: tuple[str, ...] = ("ok", "flagged", "interpolated", "reference", "failed")
_STATUS_SET = frozenset(STATUSES)

# A matrix is of a kind when it departs from that kind's form by no more than this, relative to
# the size of its linear part: products and inverses of rigid transforms stay rigid to ~1e-15.
KIND_TOLERANCE = 1e-9
# The points of a fit are degenerate when their spread in their narrowest direction is below
# this fraction of the widest (or of their distance from the origin, when they all coincide):
# the fit would amplify rounding errors by more than 1e10.
DEGENERATE_SPREAD = 1e-10
# How many points with positive weight determine a transform of each kind.
MIN_FIT_POINTS: dict[Kind, int] = {"translation": 1, "rigid": 2, "similarity": 2, "affine": 3}

# Swaps (row, col) and (x, y) = (col, row) in homogeneous coordinates; its own inverse.
_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_LAST_ROW = np.array([0.0, 0.0, 1.0])


class DegenerateFitError(InputError):
    """The points of a fit do not determine a transform of the requested kind."""


class TableRowError(InputError):
    """A row that breaks a TransformTable's contract: ``row`` is its number, ``reason`` why (a
    reader names the line of its file instead of the number)."""

    def __init__(self, row: int, id_: object, reason: str) -> None:
        super().__init__(f"row {row} ({id_!r}): {reason}")
        self.row = row
        self.reason = reason


def most_general(kinds: Sequence[Kind]) -> Kind:
    """The kind that contains all of ``kinds`` ("translation" for none)."""
    return KINDS[max((_kind_rank(kind) for kind in kinds), default=0)]


@dataclass(frozen=True, eq=False)
class Transform:
    """A 3x3 homogeneous matrix in (row, col) and the kind of map it is.

    ``matrix``: (3, 3) float64, last row [0, 0, 1], finite; stored read-only. ``kind``: the
    family it belongs to, checked: a "translation" has the identity as linear part, a "rigid"
    transform a rotation, a "similarity" a positive scale times a rotation (no reflection), an
    "affine" any linear part. Equality is exact: the same kind and the same numbers.
    """

    matrix: np.ndarray
    kind: Kind = "affine"

    def __post_init__(self) -> None:
        matrix = _checked_matrix(self.matrix, "the matrix")
        _check_kind(matrix, self.kind, "the matrix")
        matrix.flags.writeable = False
        object.__setattr__(self, "matrix", matrix)

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def identity(cls, kind: Kind = "translation") -> Transform:
        return cls(np.eye(3), kind)

    @classmethod
    def translation(cls, d_row: float, d_col: float) -> Transform:
        """b[p] ~ a[p + (d_row, d_col)]: b sits at position_a + (d_row, d_col)."""
        matrix = np.eye(3)
        matrix[:2, 2] = _finite_pair((d_row, d_col), "the shift (d_row, d_col)")
        return cls(matrix, "translation")

    @classmethod
    def rigid(
        cls,
        angle_deg: float,
        shift: Sequence[float] | np.ndarray = (0.0, 0.0),
        centre: Sequence[float] | np.ndarray | None = None,
    ) -> Transform:
        """p -> centre + R (p - centre) + shift, R the rotation by ``angle_deg`` (see
        :attr:`angle_deg`); ``centre`` (row, col), default the origin."""
        return cls._rotation_scale(angle_deg, 1.0, shift, centre, "rigid")

    @classmethod
    def similarity(
        cls,
        angle_deg: float,
        scale: float,
        shift: Sequence[float] | np.ndarray = (0.0, 0.0),
        centre: Sequence[float] | np.ndarray | None = None,
    ) -> Transform:
        """p -> centre + scale R (p - centre) + shift; ``scale`` > 0 (see :meth:`rigid`)."""
        return cls._rotation_scale(angle_deg, scale, shift, centre, "similarity")

    @classmethod
    def affine(cls, matrix: np.ndarray | Sequence[Sequence[float]]) -> Transform:
        """Any affine map, from its (2, 3) top rows or the whole (3, 3) matrix, in (row, col)."""
        return cls(_homogeneous(matrix, "the affine matrix"), "affine")

    @classmethod
    def from_xy(
        cls, matrix: np.ndarray | Sequence[Sequence[float]], kind: Kind = "affine"
    ) -> Transform:
        """The transform whose (x, y) form is ``matrix`` ((2, 3) or (3, 3)): the inverse of
        :meth:`to_xy`. Reads scikit-image's ``AffineTransform.params`` and OpenCV's 2x3 form
        (with the WARP_INVERSE_MAP meaning, see :meth:`to_opencv`)."""
        xy = _homogeneous(matrix, "the (x, y) matrix")
        return cls(_SWAP @ xy @ _SWAP, kind)

    @classmethod
    def _rotation_scale(
        cls,
        angle_deg: float,
        scale: float,
        shift: Sequence[float] | np.ndarray,
        centre: Sequence[float] | np.ndarray | None,
        kind: Kind,
    ) -> Transform:
        if not math.isfinite(angle_deg):
            raise InputError(f"the angle is {angle_deg} degrees; give a finite number")
        if not (math.isfinite(scale) and scale > 0):
            raise InputError(f"the scale is {scale}; give a positive finite number")
        linear = scale * _rotation(math.radians(angle_deg))
        offset = _finite_pair(shift, "the shift (d_row, d_col)")
        if centre is not None:
            pivot = _finite_pair(centre, "the centre (row, col)")
            offset = offset + pivot - linear @ pivot
        matrix = np.eye(3)
        matrix[:2, :2] = linear
        matrix[:2, 2] = offset
        return cls(matrix, kind)

    # -- algebra -----------------------------------------------------------------------------

    def compose(self, other: Transform) -> Transform:
        """``other`` first, then this: the matrix product ``self.matrix @ other.matrix``, of the
        more general kind of the two. For pairs, M_ac = M_ab.compose(M_bc) (module docstring).
        """
        product = self.matrix @ other.matrix
        product[2] = _LAST_ROW  # exact already for finite matrices; kept exact whatever happens
        return Transform(product, most_general((self.kind, other.kind)))

    def __matmul__(self, other: Transform) -> Transform:
        if not isinstance(other, Transform):
            return NotImplemented
        return self.compose(other)

    def inverse(self) -> Transform:
        """The transform that undoes this one, of the same kind; a translation's is exact."""
        inverse = np.eye(3)
        if self.kind == "translation":
            inverse[:2, 2] = -self.matrix[:2, 2]
            return Transform(inverse, self.kind)
        linear = self.matrix[:2, :2]
        size = float(np.abs(linear).max())
        if abs(float(np.linalg.det(linear))) <= (DEGENERATE_SPREAD * size) ** 2:
            raise InputError(
                f"this {self.kind} transform has a singular linear part {linear.tolist()} and no "
                "inverse; use a transform that maps the plane onto the plane"
            )
        inverse[:2, :2] = np.linalg.inv(linear)
        inverse[:2, 2] = -inverse[:2, :2] @ self.matrix[:2, 2]
        return Transform(inverse, self.kind)

    def apply(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """M @ (row, col, 1) for each of the (n, 2) (row, col) ``points``: an (n, 2) float64 array.
        Non-finite points give non-finite results."""
        array = np.asarray(points, dtype=float)
        if array.ndim != 2 or array.shape[1] != 2:
            raise InputError(
                f"points have shape {array.shape}; give an (n, 2) array of (row, col) points"
            )
        result: np.ndarray = array @ self.matrix[:2, :2].T + self.matrix[:2, 2]
        return result

    # -- properties --------------------------------------------------------------------------

    @property
    def shift(self) -> np.ndarray:
        """M's last column (d_row, d_col): where the origin goes; position_b - position_a for a
        translation."""
        return self.matrix[:2, 2].copy()

    @property
    def angle_deg(self) -> float:
        """The rotation in degrees, in (-180, 180].

        A positive angle turns the row axis towards the column axis: counter-clockwise as an
        image is displayed (row 0 at the top). The linear part of a rigid transform is
        [[cos, -sin], [sin, cos]] in (row, col). In (x, y), as scikit-image's ``rotation`` and
        OpenCV count angles, the same matrix turns by -angle_deg.

        For an affine transform: the angle of the similarity nearest to its linear part L (in
        the Frobenius norm), atan2(L10 - L01, L00 + L11); 0 for a translation.
        """
        linear = self.matrix[:2, :2]
        return math.degrees(math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1]))

    @property
    def scale(self) -> float:
        """The factor lengths are multiplied by: 1 for translations and rigid transforms, the
        scale of a similarity; for an affine transform sqrt(|det L|), the geometric mean of its
        two axis scales (areas are multiplied by scale**2)."""
        return math.sqrt(abs(float(np.linalg.det(self.matrix[:2, :2]))))

    # -- conversions -------------------------------------------------------------------------

    def to_xy(self) -> np.ndarray:
        """The same map in (x, y) = (col, row) coordinates: a new (3, 3) array (rows and columns
        of the linear part swapped, shift reversed). ``Transform.from_xy(t.to_xy(), t.kind) ==
        t``.

        It is the matrix scikit-image takes: ``skimage.transform.warp(a,
        AffineTransform(matrix=t.to_xy()))`` samples a at ``t.to_xy() @ (x, y, 1)`` for each
        output pixel, which makes b (warp's inverse_map maps output to input coordinates).
        """
        return cast(np.ndarray, _SWAP @ self.matrix @ _SWAP)

    def to_opencv(self) -> np.ndarray:
        """The (2, 3) top of :meth:`to_xy`, for OpenCV *with* the WARP_INVERSE_MAP flag:
        ``cv2.warpAffine(a, t.to_opencv(), (width, height), flags=cv2.INTER_LINEAR |
        cv2.WARP_INVERSE_MAP)`` sets dst(x, y) = a(m @ (x, y, 1)), which makes b. Without the
        flag OpenCV reads the matrix as the map from a to b, so pass
        ``t.inverse().to_opencv()`` instead.
        """
        return self.to_xy()[:2].copy()

    # -- equality ----------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transform):
            return NotImplemented
        return self.kind == other.kind and bool(np.array_equal(self.matrix, other.matrix))

    def __hash__(self) -> int:
        return hash((self.kind, tuple(self.matrix.ravel().tolist())))

    def __repr__(self) -> str:
        return f"Transform({self.matrix.tolist()!r}, kind={self.kind!r})"


@dataclass(frozen=True, eq=False)
class TransformTable:
    """Transforms with their ids, quality and status: the product every family hands its writers.

    ``ids``: unique non-empty strings without line breaks (a file name, a pair "a|b", a frame
    number). ``matrices``: (n, 3, 3) float64 in the module's convention, each of ``kind``.
    ``quality``: (n,) float, 0..1 where measured, NaN where not (a reference, an interpolation).
    ``status``: one of STATUSES per row. Arrays are copied and stored read-only. ``table[i]``
    (an index) or ``table[id]`` gives the row's Transform; equality is exact (NaN == NaN).
    Its file forms live in ``ofs_stitch.io.tables``.
    """

    ids: tuple[str, ...]
    matrices: np.ndarray
    quality: np.ndarray
    status: tuple[str, ...]
    kind: Kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"the table's kind is {self.kind!r}; use one of {', '.join(KINDS)}")
        ids = tuple(self.ids)
        n = len(ids)
        matrices = _float_array(self.matrices, "matrices")
        if n == 0 and matrices.size == 0:
            matrices = matrices.reshape(0, 3, 3)
        if matrices.shape != (n, 3, 3):
            raise InputError(
                f"matrices have shape {matrices.shape}; give an ({n}, 3, 3) array, one per id"
            )
        quality = _float_array(self.quality, "quality").reshape(-1)
        if quality.shape != (n,):
            raise InputError(f"quality has {quality.size} values for {n} ids; give one per id")
        status = tuple(self.status)
        if len(status) != n:
            raise InputError(f"status has {len(status)} values for {n} ids; give one per id")
        valid = _valid_matrices(matrices, self.kind)
        if not (
            valid.all()
            and not np.isinf(quality).any()
            and set(status) <= _STATUS_SET
            and len(set(ids)) == n
            and all(type(name) is str and name and _no_line_break(name) for name in ids)
        ):
            _raise_first_bad_row(ids, matrices, valid, quality, status, self.kind)
        matrices.flags.writeable = False
        quality.flags.writeable = False
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "matrices", matrices)
        object.__setattr__(self, "quality", quality)
        object.__setattr__(self, "status", status)

    @classmethod
    def from_transforms(
        cls,
        ids: Sequence[str],
        transforms: Sequence[Transform],
        quality: Sequence[float] | np.ndarray | None = None,
        status: Sequence[str] | None = None,
        kind: Kind | None = None,
    ) -> TransformTable:
        """A table of ``transforms``; quality defaults to NaN, status to "ok", kind to the most
        general of the transforms' kinds."""
        n = len(transforms)
        return cls(
            ids=tuple(ids),
            matrices=np.array([t.matrix for t in transforms], dtype=float).reshape(n, 3, 3),
            quality=np.full(n, np.nan) if quality is None else np.asarray(quality, dtype=float),
            status=("ok",) * n if status is None else tuple(status),
            kind=kind if kind is not None else most_general([t.kind for t in transforms]),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Transform]:
        return (self[number] for number in range(len(self)))

    def __getitem__(self, key: int | str) -> Transform:
        number = self.index(key) if isinstance(key, str) else int(key)
        if not -len(self) <= number < len(self):
            raise IndexError(f"row {key} of a table of {len(self)}")
        return Transform(self.matrices[number], self.kind)

    def index(self, id_: str) -> int:
        """The row number of ``id_``."""
        try:
            return self.ids.index(id_)
        except ValueError:
            raise KeyError(id_) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransformTable):
            return NotImplemented
        return (
            self.ids == other.ids
            and self.kind == other.kind
            and self.status == other.status
            and bool(np.array_equal(self.matrices, other.matrices))
            and bool(np.array_equal(self.quality, other.quality, equal_nan=True))
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the arrays it holds


def fit(
    kind: Kind,
    src: np.ndarray | Sequence[Sequence[float]],
    dst: np.ndarray | Sequence[Sequence[float]],
    weights: np.ndarray | Sequence[float] | None = None,
) -> Transform:
    """The transform of ``kind`` with dst ~ M @ src, by weighted least squares.

    Minimises sum_i w_i |dst_i - M @ src_i|^2 over transforms of ``kind``: (n, 2) (row, col)
    points ``src`` and ``dst``, ``weights`` (n,) >= 0 (default all 1). Translation: the weighted
    mean of dst - src. Rigid and similarity: the weighted Umeyama / Procrustes solution, proper
    rotations only (no reflection). Affine: linear least squares on the points centred at their
    weighted means.

    Raises InputError for malformed points or weights, and DegenerateFitError (an InputError)
    when the points do not determine the transform: fewer points with positive weight than the
    kind needs (1, 2, 2, 3), all src points at one place (rigid, similarity), src points on one
    line (affine), or dst points that do not vary with the src points (rigid, similarity).
    """
    if kind not in KINDS:
        raise InputError(f"cannot fit a {kind!r} transform; use one of {', '.join(KINDS)}")
    source = _fit_points(src, "src")
    target = _fit_points(dst, "dst")
    if len(source) != len(target):
        raise InputError(
            f"{len(source)} src points but {len(target)} dst points; give one dst per src"
        )
    weight = None if weights is None else _fit_weights(weights, len(source))
    used = len(source) if weight is None else int(np.count_nonzero(weight))
    if used < MIN_FIT_POINTS[kind]:
        raise DegenerateFitError(
            f"a {kind} fit needs at least {MIN_FIT_POINTS[kind]} points with positive weight; "
            f"got {used}: give more points"
        )
    matrix = np.eye(3)
    if kind == "translation":
        difference = target - source
        matrix[:2, 2] = (
            difference.mean(axis=0)
            if weight is None
            else (weight[:, None] * difference).sum(axis=0) / weight.sum()
        )
        return Transform(matrix, kind)

    source_centre, target_centre = _centre(source, weight), _centre(target, weight)
    centred_source = source - source_centre
    centred_target = target - target_centre
    if weight is not None:
        # sqrt(w) on both sides turns the weighted problem into an ordinary one.
        root = np.sqrt(weight)[:, None]
        centred_source = centred_source * root
        centred_target = centred_target * root
    # Spreads are compared as root-mean-square distances, which do not depend on how many
    # points there are or on the scale of the weights.
    total = float(len(source)) if weight is None else float(weight.sum())
    size = float(np.abs(source).max())
    if kind == "affine":
        coefficients, _, _, singular = np.linalg.lstsq(centred_source, centred_target, rcond=None)
        if singular[-1] <= DEGENERATE_SPREAD * max(singular[0], size * math.sqrt(total)):
            raise DegenerateFitError(
                f"the {used} src points lie on one line, so an affine fit is undetermined; give "
                "points that span an area, or fit a similarity"
            )
        linear = coefficients.T
    else:
        spread = float(np.sqrt((centred_source**2).sum()))
        if spread <= DEGENERATE_SPREAD * size * math.sqrt(total):
            raise DegenerateFitError(
                f"the {used} src points all lie at one place, so the rotation of a {kind} fit "
                "is undetermined; give points at two places or more, or fit a translation"
            )
        # For (row, col) vectors, sum w <R s, d> = cos(a) * dot + sin(a) * cross with R the
        # rotation by a: a = atan2(cross, dot) maximises it, always a proper rotation.
        dot = float((centred_source * centred_target).sum())
        cross = float(
            (
                centred_source[:, 0] * centred_target[:, 1]
                - centred_source[:, 1] * centred_target[:, 0]
            ).sum()
        )
        correlation = math.hypot(dot, cross)
        target_spread = float(np.sqrt((centred_target**2).sum()))
        if correlation <= DEGENERATE_SPREAD * spread * target_spread:
            raise DegenerateFitError(
                f"the dst points do not move with the src points, so the rotation of a {kind} "
                "fit is undetermined; check that the points correspond"
            )
        scale = correlation / spread**2 if kind == "similarity" else 1.0
        linear = scale * _rotation(math.atan2(cross, dot))
    matrix[:2, :2] = linear
    matrix[:2, 2] = target_centre - linear @ source_centre
    return Transform(matrix, kind)


# ------------------------------------------------------------------------------------------------


def _kind_rank(kind: Kind) -> int:
    if kind not in KINDS:
        raise InputError(f"unknown transform kind {kind!r}; use one of {', '.join(KINDS)}")
    return KINDS.index(kind)


def _rotation(angle_rad: float) -> np.ndarray:
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[cos, -sin], [sin, cos]])


def _float_array(values: object, name: str) -> np.ndarray:
    try:
        return np.array(values, dtype=float, copy=True)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} are not an array of numbers ({error}); give numbers") from error


def _raise_first_bad_row(
    ids: tuple[str, ...],
    matrices: np.ndarray,
    valid: np.ndarray,
    quality: np.ndarray,
    status: tuple[str, ...],
    kind: Kind,
) -> None:
    """Raise TableRowError for the first row that breaks a table's contract."""
    seen: set[str] = set()
    for number, name in enumerate(ids):
        problem = _row_problem(name, quality[number], status[number])
        if problem is None and not valid[number]:
            try:
                _check_kind(_checked_matrix(matrices[number], "the matrix"), kind, "the matrix")
            except InputError as error:
                problem = str(error)
        if problem is None and name in seen:
            problem = "its id is given to an earlier row too; give each row its own id"
        if problem is not None:
            raise TableRowError(number, name, problem)
        seen.add(name)


def _no_line_break(name: str) -> bool:
    return "\n" not in name and "\r" not in name


def _row_problem(name: object, quality: float, status: str) -> str | None:
    """What is wrong with one row of a table apart from its matrix, or None."""
    if not isinstance(name, str) or not name or not _no_line_break(name):
        return f"the id {name!r} must be a non-empty string without line breaks"
    if math.isinf(quality):
        return f"quality is {quality}; give a finite number, or NaN when not measured"
    if status not in STATUSES:
        return f"status {status!r} is not one of {', '.join(STATUSES)}"
    return None


def _finite_pair(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    pair = np.asarray(values, dtype=float)
    if pair.shape != (2,) or not np.isfinite(pair).all():
        raise InputError(f"{what} is {np.asarray(values).tolist()}; give two finite numbers")
    return pair


def _homogeneous(matrix: np.ndarray | Sequence[Sequence[float]], what: str) -> np.ndarray:
    """A (3, 3) copy of a (2, 3) or (3, 3) matrix (the last row appended to the first)."""
    array = np.array(matrix, dtype=float, copy=True)
    if array.shape == (2, 3):
        array = np.vstack([array, _LAST_ROW])
    if array.shape != (3, 3):
        raise InputError(f"{what} has shape {array.shape}; give a (2, 3) or (3, 3) matrix")
    return array


def _checked_matrix(matrix: np.ndarray, what: str) -> np.ndarray:
    array = np.array(matrix, dtype=float, copy=True)
    if array.shape != (3, 3):
        raise InputError(f"{what} has shape {array.shape}; give a (3, 3) homogeneous matrix")
    if not np.isfinite(array).all():
        raise InputError(f"{what} {array.tolist()} is not finite; give finite numbers")
    if not np.array_equal(array[2], _LAST_ROW):
        raise InputError(
            f"{what} has last row {array[2].tolist()}; a homogeneous 2-D transform's last row "
            "is [0, 0, 1]"
        )
    return array


def _check_kind(matrix: np.ndarray, kind: Kind, what: str) -> None:
    if not _valid_matrices(matrix[None], kind)[0]:
        raise InputError(
            f"{what} has linear part {matrix[:2, :2].tolist()}, which is not a {kind} "
            f"({_KIND_FORMS[kind]}); give such a matrix or declare a more general kind"
        )


def _valid_matrices(matrices: np.ndarray, kind: Kind) -> np.ndarray:
    """(n,) bool: which of the (n, 3, 3) ``matrices`` are finite, homogeneous and of ``kind``.

    One pass over a whole table; the single-matrix checks say what is wrong with a row."""
    rank = _kind_rank(kind)
    with np.errstate(invalid="ignore"):  # NaN and inf rows are invalid whatever they compare
        valid = np.isfinite(matrices).all(axis=(1, 2)) & (matrices[:, 2] == _LAST_ROW).all(axis=1)
        if rank == KINDS.index("affine"):
            return valid
        linear = matrices[:, :2, :2]
        if rank == KINDS.index("translation"):
            departure = np.abs(linear - np.eye(2)).max(axis=(1, 2))
            size = np.ones(len(matrices))
        else:
            # A similarity is s [[c, -s'], [s', c]]: equal diagonal, opposite off-diagonal.
            size = np.hypot(linear[:, 0, 0], linear[:, 1, 0])
            departure = np.maximum(
                np.abs(linear[:, 0, 0] - linear[:, 1, 1]), np.abs(linear[:, 0, 1] + linear[:, 1, 0])
            )
            if rank == KINDS.index("rigid"):
                departure = np.maximum(departure, np.abs(size - 1.0))
                size = np.ones(len(matrices))
            else:
                valid &= size > 0.0
        return valid & (departure <= KIND_TOLERANCE * size)


_KIND_FORMS: dict[str, str] = {
    "translation": "the identity",
    "rigid": "a rotation [[cos, -sin], [sin, cos]]",
    "similarity": "a positive scale times a rotation",
}


def _fit_points(points: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] != 2:
        raise InputError(
            f"{name} has shape {array.shape}; give an (n, 2) array of (row, col) points"
        )
    if not np.isfinite(array).all():
        raise InputError(f"{name} has non-finite coordinates; drop those points before fitting")
    return array


def _fit_weights(weights: np.ndarray | Sequence[float], count: int) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    if array.shape != (count,):
        raise InputError(f"weights have shape {array.shape}; give one weight per point ({count},)")
    if not np.isfinite(array).all() or (array < 0).any():
        raise InputError("weights must be finite and >= 0; give 0 to leave a point out")
    return array


def _centre(points: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    if weight is None:
        return cast(np.ndarray, points.mean(axis=0))
    return cast(np.ndarray, (weight[:, None] * points).sum(axis=0) / weight.sum())
