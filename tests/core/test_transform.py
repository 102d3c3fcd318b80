"""``Transform``, ``TransformTable`` and ``fit``: the algebra, the (x, y) / OpenCV / scikit-image
forms checked against those libraries and scipy.ndimage, fits against scikit-image's estimators
and numpy's least squares, and the bad-input contract."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.transform import (
    AffineTransform,
    EuclideanTransform,
    SimilarityTransform,
    warp,
)

from ofs_stitch import InputError
from ofs_stitch.core.transform import (
    KINDS,
    DegenerateFitError,
    TableRowError,
    Transform,
    TransformTable,
    fit,
    most_general,
)

EXACT = 1e-9  # what "the same transform" means for recovered and converted matrices


def random_transform(kind: str, rng: np.random.Generator) -> Transform:
    shift = rng.uniform(-300, 300, 2)
    if kind == "translation":
        return Transform.translation(*shift)
    angle = rng.uniform(-180, 180)
    if kind == "rigid":
        return Transform.rigid(angle, shift)
    if kind == "similarity":
        return Transform.similarity(angle, rng.uniform(0.3, 3.0), shift)
    linear = rng.uniform(-2, 2, (2, 2))
    while abs(np.linalg.det(linear)) < 0.2:
        linear = rng.uniform(-2, 2, (2, 2))
    return Transform.affine(np.column_stack([linear, shift]))


def textured_image(shape: tuple[int, int] = (48, 64), seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random(shape)
    return ndimage.gaussian_filter(noise, 2.0)


# -- constructors and properties -------------------------------------------------------------


def test_a_translation_holds_position_b_minus_position_a_in_its_last_column() -> None:
    t = Transform.translation(2.5, -7.0)
    assert t.kind == "translation"
    assert t.matrix.tolist() == [[1.0, 0.0, 2.5], [0.0, 1.0, -7.0], [0.0, 0.0, 1.0]]
    assert t.shift.tolist() == [2.5, -7.0]
    assert (t.angle_deg, t.scale) == (0.0, 1.0)


def test_a_translation_makes_b_from_a_as_the_convention_says() -> None:
    # b[p] ~ a[M @ p]: b is a's content seen from position_a + (d_row, d_col).
    a = textured_image()
    b = ndimage.affine_transform(a, Transform.translation(3, 5).matrix, order=0)
    assert np.array_equal(b[:-3, :-5], a[3:, 5:])


def test_a_positive_angle_turns_the_row_axis_towards_the_column_axis() -> None:
    quarter = Transform.rigid(90.0)
    np.testing.assert_allclose(quarter.apply([[1.0, 0.0]]), [[0.0, 1.0]], atol=1e-15)
    assert quarter.angle_deg == pytest.approx(90.0, abs=1e-12)
    # scikit-image counts angles in (x, y): the same matrix turns by -angle there.
    np.testing.assert_allclose(
        Transform.rigid(30.0).to_xy(), EuclideanTransform(rotation=-math.radians(30.0)).params
    )


@pytest.mark.parametrize("angle", [-179.0, -45.0, 0.0, 12.5, 90.0, 180.0])
def test_rigid_and_similarity_give_back_their_angle_scale_and_shift(angle: float) -> None:
    rigid = Transform.rigid(angle, (4.0, -2.0))
    assert rigid.angle_deg == pytest.approx(angle, abs=1e-12)
    assert rigid.scale == pytest.approx(1.0, abs=1e-15)
    assert rigid.shift.tolist() == [4.0, -2.0]
    similar = Transform.similarity(angle, 2.5, (1.0, 1.0))
    assert similar.angle_deg == pytest.approx(angle, abs=1e-12)
    assert similar.scale == pytest.approx(2.5, rel=1e-15)


def test_a_centre_stays_where_it_is() -> None:
    centre = np.array([[30.0, -12.0]])
    for t in (
        Transform.rigid(33.0, centre=centre[0]),
        Transform.similarity(-70, 1.7, [0, 0], centre[0]),
    ):
        np.testing.assert_allclose(t.apply(centre), centre, atol=1e-12)
    shifted = Transform.rigid(33.0, shift=(1.0, 2.0), centre=centre[0])
    np.testing.assert_allclose(shifted.apply(centre), centre + [1.0, 2.0], atol=1e-12)


def test_an_affine_comes_from_its_two_top_rows_or_the_whole_matrix() -> None:
    top = [[1.1, 0.2, 5.0], [-0.3, 0.9, -1.0]]
    t = Transform.affine(top)
    assert t == Transform.affine([*top, [0.0, 0.0, 1.0]])
    assert t.kind == "affine"
    assert not t.matrix.flags.writeable


def test_an_affines_angle_and_scale_are_those_of_its_nearest_similarity_and_its_area() -> None:
    linear = np.array([[1.3, -0.2], [0.7, 0.8]])
    t = Transform.affine(np.column_stack([linear, [0.0, 0.0]]))
    # The similarity [[a, -b], [b, a]] nearest to L in the Frobenius norm, by least squares.
    basis = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, -1.0, 1.0, 0.0]]).T  # row-major I and J
    (a, b), *_ = np.linalg.lstsq(basis, linear.ravel(), rcond=None)
    assert t.angle_deg == pytest.approx(math.degrees(math.atan2(b, a)), abs=1e-12)
    assert t.scale == pytest.approx(math.sqrt(abs(np.linalg.det(linear))), rel=1e-15)


# -- algebra ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), kinds=st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS))
)
def test_compose_is_the_matrix_product_and_inverse_undoes_it(
    seed: int, kinds: tuple[str, str]
) -> None:
    rng = np.random.default_rng(seed)
    first, second = (random_transform(kind, rng) for kind in kinds)
    product = first @ second
    assert product == first.compose(second)
    np.testing.assert_allclose(product.matrix, first.matrix @ second.matrix, rtol=0, atol=1e-12)
    assert product.kind == most_general(kinds)
    identity = product @ product.inverse()
    np.testing.assert_allclose(identity.matrix, np.eye(3), rtol=0, atol=1e-9)
    assert product.inverse().kind == product.kind
    np.testing.assert_allclose(product.inverse().inverse().matrix, product.matrix, atol=1e-9)


def test_a_translations_inverse_is_exact() -> None:
    t = Transform.translation(0.1, -1234.5678)
    assert t.inverse() == Transform.translation(-0.1, 1234.5678)
    assert t @ t.inverse() == Transform.identity()


def test_products_chain_pairs_of_images() -> None:
    # b[p] = a[M_ab p] and c[q] = b[M_bc q] give c[q] = a[M_ab M_bc q].
    a = textured_image((60, 80))
    m_ab, m_bc = Transform.translation(4, 9), Transform.translation(-2, 3)
    b = ndimage.affine_transform(a, m_ab.matrix, order=0)
    c = ndimage.affine_transform(b, m_bc.matrix, order=0)
    direct = ndimage.affine_transform(a, (m_ab @ m_bc).matrix, order=0)
    # Rows from 2 on: above that, c looks outside b.
    assert np.array_equal(c[2:50, :60], direct[2:50, :60])
    assert (m_ab @ m_bc).shift.tolist() == [2.0, 12.0]


@pytest.mark.parametrize("kind", KINDS)
def test_apply_is_the_matrix_product_on_homogeneous_points(kind: str) -> None:
    rng = np.random.default_rng(3)
    t = random_transform(kind, rng)
    points = rng.uniform(-500, 500, (25, 2))
    homogeneous = np.column_stack([points, np.ones(25)])
    np.testing.assert_allclose(t.apply(points), (t.matrix @ homogeneous.T).T[:, :2], atol=1e-12)
    assert t.apply(np.zeros((0, 2))).shape == (0, 2)


def test_equal_transforms_hash_alike() -> None:
    assert {Transform.rigid(10.0), Transform.rigid(10.0)} == {Transform.rigid(10.0)}
    assert Transform.identity("rigid") != Transform.identity("translation")  # kinds differ


# -- (x, y), scikit-image, OpenCV, scipy.ndimage ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_xy_form_swaps_rows_and_columns_and_twice_is_the_identity(kind: str) -> None:
    t = random_transform(kind, np.random.default_rng(11))
    xy = t.to_xy()
    assert xy[0, 0] == t.matrix[1, 1] and xy[0, 1] == t.matrix[1, 0]
    assert xy[:2, 2].tolist() == t.shift[::-1].tolist()
    assert Transform.from_xy(xy, kind) == t
    assert np.array_equal(Transform.from_xy(xy, kind).to_xy(), xy)
    points = np.random.default_rng(1).uniform(-50, 50, (10, 2))
    # The same map: apply in (x, y) then swap back.
    through_xy = (xy[:2, :2] @ points[:, ::-1].T).T + xy[:2, 2]
    np.testing.assert_allclose(through_xy[:, ::-1], t.apply(points), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_scikit_image_reads_the_xy_form_as_the_same_map(kind: str) -> None:
    t = random_transform(kind, np.random.default_rng(5))
    points = np.random.default_rng(6).uniform(-50, 50, (10, 2))
    mapped = AffineTransform(matrix=t.to_xy())(points[:, ::-1])[:, ::-1]
    np.testing.assert_allclose(mapped, t.apply(points), atol=1e-9)


def small_warp() -> Transform:
    """A rotation by 20 degrees with a small zoom about the middle of a 48x64 image, shifted."""
    return Transform.similarity(20.0, 1.1, shift=(1.5, -2.25), centre=(23.5, 31.5))


def inside(t: Transform, shape: tuple[int, int]) -> np.ndarray:
    """The output pixels whose source lies a pixel or more inside the image: libraries differ
    only in how they treat the border."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    source = t.apply(np.column_stack([rows.ravel(), cols.ravel()])).reshape(*shape, 2)
    return ((source >= 1) & (source <= np.array(shape) - 2)).all(axis=-1)


def test_scipy_affine_transform_with_the_matrix_makes_b_from_a() -> None:
    a = textured_image()
    t = small_warp()
    b = ndimage.affine_transform(a, t.matrix, order=1, mode="constant")
    pixels = np.array([[10, 20], [30, 40], [24, 31]])
    expected = ndimage.map_coordinates(a, t.apply(pixels).T, order=1, mode="constant")
    np.testing.assert_allclose(b[pixels[:, 0], pixels[:, 1]], expected, atol=1e-12)


def test_scikit_image_warp_with_the_xy_form_makes_the_same_b_as_scipy() -> None:
    a = textured_image()
    t = small_warp()
    by_scipy = ndimage.affine_transform(a, t.matrix, order=1, mode="constant")
    by_skimage = warp(a, AffineTransform(matrix=t.to_xy()), order=1, mode="constant")
    use = inside(t, a.shape)
    assert use.mean() > 0.5
    np.testing.assert_allclose(by_skimage[use], by_scipy[use], atol=1e-9)


def test_the_opencv_form_is_the_top_of_the_xy_form_for_warp_inverse_map() -> None:
    t = small_warp()
    assert np.array_equal(t.to_opencv(), t.to_xy()[:2])
    assert Transform.from_xy(t.to_opencv(), "similarity") == t
    # WARP_INVERSE_MAP as OpenCV documents it: dst(x, y) = src(m @ (x, y, 1)).
    a = textured_image()
    m = t.to_opencv()
    y, x = np.mgrid[: a.shape[0], : a.shape[1]]
    source_xy = np.tensordot(m, np.stack([x, y, np.ones_like(x)]), axes=1)
    documented = ndimage.map_coordinates(a, source_xy[::-1], order=1, mode="constant")
    by_scipy = ndimage.affine_transform(a, t.matrix, order=1, mode="constant")
    np.testing.assert_allclose(documented, by_scipy, atol=1e-12)


def test_opencv_warp_affine_with_warp_inverse_map_makes_the_same_b() -> None:
    cv2 = pytest.importorskip("cv2")
    a = textured_image().astype(np.float32)
    t = small_warp()
    size = (a.shape[1], a.shape[0])
    by_scipy = ndimage.affine_transform(a.astype(float), t.matrix, order=1, mode="constant")
    inverse_map = cv2.warpAffine(
        a, t.to_opencv(), size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    forward_map = cv2.warpAffine(a, t.inverse().to_opencv(), size, flags=cv2.INTER_LINEAR)
    # The same bilinear interpolation, in float32.
    use = inside(t, a.shape)
    for ours in (inverse_map, forward_map):
        assert np.abs(ours[use] - by_scipy[use]).max() < 1e-6


# -- fit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_free_points_give_back_the_transform(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = random_transform(kind, rng)
    src = rng.uniform(-1000, 1000, (12, 2))
    fitted = fit(kind, src, truth.apply(src))
    assert fitted.kind == kind
    np.testing.assert_allclose(fitted.matrix, truth.matrix, rtol=0, atol=EXACT)


@pytest.mark.parametrize(
    "kind, estimator", [("rigid", EuclideanTransform), ("similarity", SimilarityTransform)]
)
@pytest.mark.parametrize("seed", range(5))
def test_rigid_and_similarity_fits_agree_with_scikit_image_on_noisy_points(
    kind, estimator, seed
) -> None:
    rng = np.random.default_rng(seed)
    src = rng.uniform(-300, 300, (30, 2))
    dst = random_transform(kind, rng).apply(src) + rng.normal(0, 3.0, src.shape)
    ours = fit(kind, src, dst)
    theirs = estimator.from_estimate(src[:, ::-1], dst[:, ::-1])  # scikit-image takes (x, y)
    np.testing.assert_allclose(ours.to_xy(), theirs.params, rtol=0, atol=EXACT)


@pytest.mark.parametrize("seed", range(3))
def test_the_affine_fit_agrees_with_scikit_image_on_exact_points_and_with_lstsq_on_noisy(
    seed,
) -> None:
    rng = np.random.default_rng(seed)
    src = rng.uniform(-300, 300, (30, 2))
    truth = random_transform("affine", rng)
    theirs = AffineTransform.from_estimate(src[:, ::-1], truth.apply(src)[:, ::-1])
    np.testing.assert_allclose(
        fit("affine", src, truth.apply(src)).to_xy(), theirs.params, atol=EXACT
    )
    # scikit-image's affine estimate is a normalised DLT, not least squares, once points are
    # noisy: there the truth is numpy's least squares on [row, col, 1].
    dst = truth.apply(src) + rng.normal(0, 3.0, src.shape)
    coefficients, *_ = np.linalg.lstsq(np.column_stack([src, np.ones(30)]), dst, rcond=None)
    np.testing.assert_allclose(fit("affine", src, dst).matrix[:2], coefficients.T, atol=EXACT)


@pytest.mark.parametrize("kind", ["rigid", "similarity"])
def test_integer_weights_act_as_repeated_points(kind: str) -> None:
    rng = np.random.default_rng(9)
    src = rng.uniform(-300, 300, (15, 2))
    dst = random_transform(kind, rng).apply(src) + rng.normal(0, 5.0, src.shape)
    weights = rng.integers(0, 4, 15)
    estimator = EuclideanTransform if kind == "rigid" else SimilarityTransform
    repeated = estimator.from_estimate(
        np.repeat(src, weights, axis=0)[:, ::-1], np.repeat(dst, weights, axis=0)[:, ::-1]
    )
    np.testing.assert_allclose(fit(kind, src, dst, weights).to_xy(), repeated.params, atol=EXACT)


def test_weighted_affine_and_translation_fits_agree_with_weighted_least_squares() -> None:
    rng = np.random.default_rng(4)
    src = rng.uniform(-300, 300, (40, 2))
    dst = random_transform("affine", rng).apply(src) + rng.normal(0, 2.0, src.shape)
    weights = rng.uniform(0.0, 5.0, 40)
    root = np.sqrt(weights)[:, None]
    design = np.column_stack([src, np.ones(40)])
    coefficients, *_ = np.linalg.lstsq(root * design, root * dst, rcond=None)
    np.testing.assert_allclose(
        fit("affine", src, dst, weights).matrix[:2], coefficients.T, atol=EXACT
    )
    shift, *_ = np.linalg.lstsq(root * np.ones((40, 1)), root * (dst - src), rcond=None)
    np.testing.assert_allclose(fit("translation", src, dst, weights).shift, shift[0], atol=EXACT)


@pytest.mark.parametrize("kind", KINDS)
def test_a_zero_weight_leaves_its_point_out(kind: str) -> None:
    rng = np.random.default_rng(8)
    src = rng.uniform(-300, 300, (10, 2))
    dst = random_transform(kind, rng).apply(src) + rng.normal(0, 1.0, src.shape)
    weights = np.ones(10)
    weights[[2, 7]] = 0.0
    dst_with_outliers = dst.copy()
    dst_with_outliers[[2, 7]] += 1e4
    kept = weights > 0
    np.testing.assert_allclose(
        fit(kind, src, dst_with_outliers, weights).matrix,
        fit(kind, src[kept], dst[kept]).matrix,
        atol=EXACT,
    )


def test_a_mirrored_point_set_still_gets_a_proper_rotation() -> None:
    rng = np.random.default_rng(2)
    src = rng.uniform(-100, 100, (20, 2))
    mirrored = src * [1.0, -1.0]
    for kind, estimator in (("rigid", EuclideanTransform), ("similarity", SimilarityTransform)):
        fitted = fit(kind, src, mirrored)
        assert np.linalg.det(fitted.matrix[:2, :2]) > 0
        theirs = estimator.from_estimate(src[:, ::-1], mirrored[:, ::-1])
        np.testing.assert_allclose(fitted.to_xy(), theirs.params, atol=EXACT)


@pytest.mark.parametrize(
    "kind, count", [("translation", 0), ("rigid", 1), ("similarity", 1), ("affine", 2)]
)
def test_too_few_points_are_refused(kind: str, count: int) -> None:
    points = np.arange(2.0 * count).reshape(count, 2)
    with pytest.raises(DegenerateFitError, match="needs at least"):
        fit(kind, points, points)


def test_degenerate_configurations_are_refused() -> None:
    line = np.column_stack([np.arange(6.0), 2.0 * np.arange(6.0) + 1.0])
    with pytest.raises(DegenerateFitError, match="one line"):
        fit("affine", line, line + 1.0)
    same_place = np.full((5, 2), 0.1)
    for kind in ("rigid", "similarity"):
        with pytest.raises(DegenerateFitError, match="one place"):
            fit(kind, same_place, same_place)
        with pytest.raises(DegenerateFitError, match="do not move"):
            fit(kind, line, np.full((6, 2), 3.0))
    # Points at two places determine a similarity but not an affine map.
    two_places = np.repeat([[0.0, 100.0], [80.0, 0.0]], 3, axis=0)
    np.testing.assert_allclose(
        fit("similarity", two_places, two_places + 1.0).matrix,
        Transform.translation(1.0, 1.0).matrix,
        atol=EXACT,
    )
    with pytest.raises(DegenerateFitError):
        fit("affine", two_places, two_places)
    assert issubclass(DegenerateFitError, InputError)


def test_fit_refuses_bad_points_and_weights() -> None:
    points = np.zeros((4, 2)) + np.arange(4.0)[:, None] * [1.0, 0.5]
    cases = [
        (("affine", np.zeros((4, 3)), points), "(n, 2)"),
        (("affine", points, points[:3]), "one dst per src"),
        (("affine", points * np.nan, points), "non-finite"),
        (("shear", points, points), "use one of"),
        (("translation", points, points, [1.0, 2.0]), "one weight per point"),
        (("translation", points, points, [1.0, -1.0, 1.0, 1.0]), ">= 0"),
        (("translation", points, points, [1.0, np.nan, 1.0, 1.0]), "finite"),
        (("translation", points, points, np.zeros(4)), "positive weight"),
    ]
    for arguments, message in cases:
        with pytest.raises(InputError, match=message):
            fit(*arguments)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "matrix, kind, message",
    [
        (np.eye(2), "affine", r"shape \(2, 2\)"),
        (np.full((3, 3), np.nan), "affine", "not finite"),
        ([[1, 0, 0], [0, 1, 0], [0, 0.5, 1]], "affine", r"last row .*\[0, 0, 1\]"),
        (Transform.rigid(10.0).matrix, "translation", "not a translation"),
        (Transform.similarity(10.0, 2.0).matrix, "rigid", "not a rigid"),
        ([[1, 0.3, 0], [0, 1, 0], [0, 0, 1]], "similarity", "not a similarity"),
        ([[1, 0, 0], [0, -1, 0], [0, 0, 1]], "similarity", "not a similarity"),  # a reflection
        (np.eye(3), "projective", "use one of"),
    ],
)
def test_bad_matrices_are_refused_with_what_to_change(matrix, kind, message) -> None:
    with pytest.raises(InputError, match=message):
        Transform(np.asarray(matrix, dtype=float), kind)


def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(InputError, match="positive"):
        Transform.similarity(0.0, 0.0)
    with pytest.raises(InputError, match="finite"):
        Transform.rigid(math.inf)
    with pytest.raises(InputError, match="two finite numbers"):
        Transform.translation(math.nan, 0.0)
    with pytest.raises(InputError, match=r"\(2, 3\) or \(3, 3\)"):
        Transform.affine([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InputError, match="no inverse"):
        Transform.affine([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]).inverse()
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        Transform.identity().apply([1.0, 2.0])


def test_a_matrix_within_rounding_of_its_kind_is_accepted() -> None:
    chain = Transform.identity("rigid")
    for angle in np.random.default_rng(0).uniform(-180, 180, 1000):
        chain = chain @ Transform.rigid(float(angle), (1.0, 2.0))
    assert chain.kind == "rigid"


# -- TransformTable --------------------------------------------------------------------------


def example_table() -> TransformTable:
    return TransformTable.from_transforms(
        ["a", "b", "c"],
        [Transform.identity(), Transform.rigid(5.0, (1.0, 2.0)), Transform.translation(3.0, 4.0)],
        quality=[math.nan, 0.8, 0.1],
        status=["reference", "ok", "flagged"],
    )


def test_a_table_gives_each_row_as_a_transform_of_its_kind() -> None:
    table = example_table()
    assert table.kind == "rigid" and len(table) == 3
    assert table[1] == Transform.rigid(5.0, (1.0, 2.0))
    assert table["c"] == Transform(Transform.translation(3.0, 4.0).matrix, "rigid")
    assert table[-1] == table["c"] and table.index("b") == 1
    assert [t.shift.tolist() for t in table] == [[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]
    assert not table.matrices.flags.writeable and not table.quality.flags.writeable
    with pytest.raises(KeyError):
        table["missing"]
    with pytest.raises(IndexError):
        table[3]


def test_an_empty_table() -> None:
    table = TransformTable((), np.zeros((0, 3, 3)), np.zeros(0), (), "affine")
    assert len(table) == 0 and list(table) == []
    assert table == TransformTable.from_transforms([], [], kind="affine")


def test_table_equality_is_exact_and_counts_nan_qualities_equal() -> None:
    assert example_table() == example_table()
    other = TransformTable.from_transforms(
        ["a", "b", "c"],
        [
            Transform.identity(),
            Transform.rigid(5.0, (1.0, 2.0)),
            Transform.translation(3.0, 4.0 + 1e-12),
        ],
        quality=[math.nan, 0.8, 0.1],
        status=["reference", "ok", "flagged"],
    )
    assert example_table() != other


@pytest.mark.parametrize(
    "change, row, message",
    [
        ({"ids": ("a", "b", "a")}, 2, "earlier row"),
        ({"ids": ("a", "", "c")}, 1, "non-empty string"),
        ({"ids": ("a", "b\nx", "c")}, 1, "line breaks"),
        ({"status": ("ok", "ok", "maybe")}, 2, "ok, flagged, interpolated, reference, failed"),
        ({"quality": [0.1, math.inf, 0.2]}, 1, "finite"),
        ({"kind": "translation"}, 1, "not a translation"),
        ({"matrices": np.stack([np.eye(3), np.full((3, 3), np.nan), np.eye(3)])}, 1, "not finite"),
        ({"matrices": np.stack([np.eye(3), np.eye(3), np.eye(3) * 2])}, 2, "last row"),
    ],
)
def test_a_bad_row_is_refused_with_its_number(change: dict, row: int, message: str) -> None:
    table = example_table()
    fields = {
        "ids": table.ids,
        "matrices": table.matrices,
        "quality": table.quality,
        "status": table.status,
        "kind": table.kind,
        **change,
    }
    with pytest.raises(TableRowError, match=message) as error:
        TransformTable(**fields)
    assert error.value.row == row
    assert str(error.value).startswith(f"row {row} ")


def test_tables_of_mismatched_lengths_are_refused() -> None:
    table = example_table()
    with pytest.raises(InputError, match=r"\(3, 3, 3\)"):
        TransformTable(table.ids, table.matrices[:2], table.quality, table.status, "rigid")
    with pytest.raises(InputError, match="quality has 2 values"):
        TransformTable(table.ids, table.matrices, table.quality[:2], table.status, "rigid")
    with pytest.raises(InputError, match="status has 2 values"):
        TransformTable(table.ids, table.matrices, table.quality, table.status[:2], "rigid")
    with pytest.raises(InputError, match="use one of"):
        TransformTable(table.ids, table.matrices, table.quality, table.status, "any")  # type: ignore[arg-type]


# -- the package root --------------------------------------------------------------------------


def test_the_package_root_exports_the_transform_api_without_importing_numpy() -> None:
    code = """
        import sys
        import ofs_stitch
        before = "numpy" in sys.modules
        from ofs_stitch import Transform, TransformTable, fit
        from ofs_stitch.core import transform
        print(before, Transform is transform.Transform, TransformTable is transform.TransformTable,
              fit is transform.fit, {"Transform", "TransformTable", "fit"} <= set(dir(ofs_stitch)))
    """
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    assert done.stdout.strip() == "False True True True True"
