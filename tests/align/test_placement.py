"""``Placement``: the sparse solve against a dense ``numpy.linalg.lstsq`` of the same system,
robust losses against injected bad matches and blank tiles, gauges, groups and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch import InputError, Placement

TILE = 500.0  # px, the side of the tiles the matches are drawn in
# Ours vs the dense solve, endpoint error over a tile (the affine solve adds a pull of the
# linear parts towards the identity at a millionth of the matches' stiffness).
AGREEMENT = 1e-6


def homogeneous(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def random_affines(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Tiles on a 3-wide grid, each rotated by up to 1 degree, scaled by up to 1 %, sheared."""
    maps = []
    for t in range(n):
        angle = np.deg2rad(rng.uniform(-1, 1))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        linear = (
            (1 + rng.uniform(-0.01, 0.01)) * rotation @ [[1, rng.uniform(-0.005, 0.005)], [0, 1]]
        )
        offset = [(t % 3) * 400 + rng.uniform(-5, 5), (t // 3) * 400 + rng.uniform(-5, 5)]
        maps.append(np.column_stack([linear, offset]))
    return maps


def matches_between(
    maps: list[np.ndarray], rng: np.random.Generator, per_pair: int = 8, noise: float = 0.05
) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Matches between every pair of tiles closer than a tile apart: points of a, where they
    fall in b (plus noise), random weights."""
    out = []
    for a in range(len(maps)):
        for b in range(a + 1, len(maps)):
            if np.linalg.norm(maps[a][:, 2] - maps[b][:, 2]) > 1.5 * TILE:
                continue
            p = rng.uniform(0, TILE, (per_pair, 2))
            model = homogeneous(maps[a]) @ np.column_stack([p, np.ones(per_pair)]).T
            q = (np.linalg.inv(homogeneous(maps[b])) @ model)[:2].T
            q += rng.normal(0, noise, q.shape)
            out.append((a, b, p, q, rng.uniform(0.2, 3.0, per_pair)))
    return out


def placement_of(matches) -> Placement:
    placement = Placement()
    for a, b, p, q, w in matches:
        placement.add_match(a, b, p, q, w)
    return placement


def dense_affine(n: int, matches, gauge: str) -> np.ndarray:
    """The same weighted system, dense: rows sqrt(w) (A_a (p, 1) - A_b (q, 1)) = 0 for the x and
    y rows; tile 0 eliminated (gauge "first") or the mean held at the identity with Lagrange
    multipliers (gauge "mean")."""
    rows, rhs = [], []
    for a, b, p, q, w in matches:
        for k in range(len(p)):
            for axis in range(2):
                row = np.zeros(6 * n)
                row[6 * a + 3 * axis : 6 * a + 3 * axis + 3] = [p[k, 0], p[k, 1], 1.0]
                row[6 * b + 3 * axis : 6 * b + 3 * axis + 3] = [-q[k, 0], -q[k, 1], -1.0]
                rows.append(np.sqrt(w[k]) * row)
                rhs.append(0.0)
    design, target = np.array(rows), np.array(rhs)
    identity = np.array([1.0, 0, 0, 0, 1.0, 0])
    if gauge == "first":
        target = target - design[:, :6] @ identity
        x, *_ = np.linalg.lstsq(design[:, 6:], target, rcond=None)
        return np.concatenate([identity, x]).reshape(n, 2, 3)
    constraint = np.tile(np.eye(6), n)  # the sum of every tile's six numbers
    kkt = np.block([[design.T @ design, constraint.T], [constraint, np.zeros((6, 6))]])
    solution = np.linalg.solve(kkt, np.concatenate([design.T @ target, n * identity]))
    return solution[: 6 * n].reshape(n, 2, 3)


def dense_rigid(n: int, matches, gauge: str) -> np.ndarray:
    """Origins o with rows sqrt(w) (o_a - o_b) = sqrt(w) (q - p), per axis."""
    rows, rhs = [], []
    for a, b, p, q, w in matches:
        for k in range(len(p)):
            row = np.zeros(n)
            row[a], row[b] = 1.0, -1.0
            rows.append(np.sqrt(w[k]) * row)
            rhs.append(np.sqrt(w[k]) * (q[k] - p[k]))
    design, target = np.array(rows), np.array(rhs)
    if gauge == "first":
        x, *_ = np.linalg.lstsq(design[:, 1:], target, rcond=None)
        return np.vstack([[0.0, 0.0], x])
    x, *_ = np.linalg.lstsq(
        np.vstack([design, np.ones(n)]), np.vstack([target, [0, 0]]), rcond=None
    )
    return x


def endpoint_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance between where two maps send the corners of a tile."""
    corners = np.array([[0, 0, 1], [TILE, 0, 1], [0, TILE, 1], [TILE, TILE, 1]]).T
    return float(np.abs(np.asarray(a) @ corners - np.asarray(b) @ corners).max())


def aligned_error(found: dict, reference: dict, tiles: list) -> float:
    """Largest corner distance between two sets of maps after the one common affine that best
    lines the first set up with the second (the part of a solution no match decides)."""
    corners = np.array([[0, 0, 1], [TILE, 0, 1], [0, TILE, 1], [TILE, TILE, 1]]).T
    source = np.hstack([np.asarray(found[t]) @ corners for t in tiles]).T
    target = np.hstack([np.asarray(reference[t]) @ corners for t in tiles]).T
    common, *_ = np.linalg.lstsq(
        np.column_stack([source, np.ones(len(source))]), target, rcond=None
    )
    return float(np.abs(np.column_stack([source, np.ones(len(source))]) @ common - target).max())


@pytest.mark.parametrize("gauge", ["first", "mean"])
def test_affine_matches_dense_least_squares(gauge: str) -> None:
    rng = np.random.default_rng(3)
    maps = random_affines(9, rng)
    matches = matches_between(maps, rng, noise=0.3)
    solution = placement_of(matches).solve("affine", gauge=gauge)
    reference = dense_affine(9, matches, gauge)
    assert solution.converged
    worst = max(endpoint_error(solution.transforms[t], reference[t]) for t in range(9))
    assert worst < AGREEMENT
    if gauge == "mean":
        mean = np.mean([solution.transforms[t] for t in range(9)], axis=0)
        np.testing.assert_allclose(mean, [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    else:
        np.testing.assert_allclose(solution.transforms[0], [[1, 0, 0], [0, 1, 0]], atol=1e-12)


@pytest.mark.parametrize("gauge", ["first", "mean"])
def test_rigid_matches_dense_least_squares(gauge: str) -> None:
    rng = np.random.default_rng(4)
    maps = random_affines(9, rng)
    matches = matches_between(maps, rng, noise=0.3)
    placement = placement_of(matches)
    origins = placement.rigid(gauge=gauge)
    reference = dense_rigid(9, matches, gauge)
    np.testing.assert_allclose([origins[t] for t in range(9)], reference, atol=1e-7)
    assert placement.solution is not None and placement.solution.model == "rigid"


def test_affine_recovers_exact_maps_and_residuals_are_per_match() -> None:
    rng = np.random.default_rng(5)
    maps = random_affines(6, rng)
    truth = [(np.linalg.inv(homogeneous(maps[0])) @ homogeneous(m))[:2] for m in maps]
    matches = matches_between(maps, rng, noise=0.0)
    placement = placement_of(matches)
    solution = placement.solve("affine")
    assert max(endpoint_error(solution.transforms[t], truth[t]) for t in range(6)) < 1e-6
    assert solution.residuals.shape == (len(placement), 2)
    assert solution.residual_lengths.max() < 1e-6
    # The rigid model cannot follow the rotations and scales: pixels off.
    rigid = placement.solve("rigid")
    assert rigid.residual_lengths.max() > 2.0
    a, b, p, q, _ = matches[0]
    expected = rigid.transforms[a] @ [*p[0], 1] - rigid.transforms[b] @ [*q[0], 1]
    np.testing.assert_allclose(rigid.residuals[0], expected, atol=1e-9)


def test_fix_pins_the_named_tile() -> None:
    rng = np.random.default_rng(6)
    maps = random_affines(6, rng)
    placement = Placement()
    for a, b, p, q, w in matches_between(maps, rng):
        placement.add_match(f"tile{a}", f"tile{b}", p, q, w)
    affines = placement.affine(fix="tile4")
    np.testing.assert_allclose(affines["tile4"], [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(placement.rigid(fix="tile4")["tile4"], (0.0, 0.0), atol=1e-9)


@pytest.mark.parametrize("loss", ["huber", "cauchy"])
def test_robust_loss_ignores_injected_bad_matches(loss: str) -> None:
    rng = np.random.default_rng(7)
    maps = random_affines(9, rng)
    matches = matches_between(maps, rng, per_pair=10, noise=0.05)
    clean = placement_of(matches).solve("affine")
    for a, b, p, q, w in matches[::2]:  # every other pair: 2 of 10 matches off by 20-60 px
        q[:2] += rng.uniform(20, 60, (2, 2)) * rng.choice([-1, 1], (2, 2))
    placement = placement_of(matches)
    plain = placement.solve("affine")
    robust = placement.solve("affine", robust=loss, robust_scale=0.3)

    def worst(solution) -> float:
        return aligned_error(solution.transforms, clean.transforms, list(range(9)))

    assert worst(plain) > 1.0
    if loss == "cauchy":  # redescending: the bad matches lose all weight
        assert worst(robust) < 0.03
        bad = robust.robust_weights.reshape(len(matches), 10)[::2, :2]
        assert bad.max() < 0.001
    else:  # convex: the bad matches keep a bounded pull
        assert worst(robust) < worst(plain) / 3


def blank_tile_grid(
    rng: np.random.Generator, blank: set[int]
) -> tuple[Placement, Placement, np.ndarray]:
    """A 4x4 grid of translated tiles, 6 matches per overlap; overlaps of the ``blank`` tiles
    have arbitrary matches, as a correlation of nothing gives: the whole overlap off by one
    random offset of up to 100 px. Returns the placement with them, the one without them, and
    the true origins."""
    origins = np.array([[(t % 4) * 400.0, (t // 4) * 400.0] for t in range(16)])
    origins += rng.uniform(-10, 10, origins.shape)
    with_blank, without = Placement(), Placement()
    for a in range(16):
        for b in range(a + 1, 16):
            step = np.abs(origins[a] - origins[b])
            if step.max() > 450 or step.min() > 50:
                continue
            p = rng.uniform(0, TILE, (6, 2))
            q = p + origins[a] - origins[b] + rng.normal(0, 0.05, (6, 2))
            if a in blank or b in blank:
                q = q + rng.uniform(-100, 100, 2)
            else:
                without.add_match(a, b, p, q)
            with_blank.add_match(a, b, p, q)
    return with_blank, without, origins - origins[0]


def test_blank_tiles_do_not_move_good_ones() -> None:
    """spectralign's failure: three blank tiles gave arbitrary matches that moved good tiles
    110 px. With a robust loss the good tiles stay where their own matches put them."""
    blank = {5, 6, 9}
    placement, without, expected = blank_tile_grid(np.random.default_rng(8), blank)
    good = [t for t in range(16) if t not in blank]

    def worst(origins: dict) -> float:
        return max(float(np.abs(np.subtract(origins[t], expected[t])).max()) for t in good)

    assert worst(placement.rigid()) > 20.0
    assert worst(placement.rigid(robust="cauchy", robust_scale=0.3)) < 0.1
    # Affines of a ring of tiles each matched to two neighbours are only loosely held (by
    # 0.05 px of noise, 0.19 px apart at the corners here): the robust solve with the blank
    # tiles must do as well as the plain solve without them.
    truth = {t: np.column_stack([np.eye(2), expected[t]]) for t in range(16)}
    reference = aligned_error(without.solve("affine").transforms, truth, good)
    robust = placement.solve("affine", robust="cauchy", robust_scale=0.3)
    assert aligned_error(robust.transforms, truth, good) < reference + 0.02
    assert aligned_error(placement.solve("affine").transforms, truth, good) > 20.0


def test_separate_groups_each_take_a_gauge() -> None:
    placement = Placement()
    placement.add_match("a", "b", [(10, 10), (20, 30)], [(0, 10), (10, 30)])
    placement.add_match("c", "d", (5, 5), (0, 5))
    placement.add_match("a", "e", (1, 1), (2, 2), weight=0.0)  # e: joined by nothing it counts
    solution = placement.solve("rigid")
    assert solution.groups == (frozenset("ab"), frozenset("cd"), frozenset("e"))
    origins = solution.origins
    assert origins["a"] == (0.0, 0.0) and origins["c"] == (0.0, 0.0) and origins["e"] == (0.0, 0.0)
    np.testing.assert_allclose(origins["b"], (10, 0))
    np.testing.assert_allclose(origins["d"], (5, 0))


def test_one_point_per_pair_leaves_an_affine_unrotated() -> None:
    """A tile joined by a single point cannot be rotated or scaled by the matches: it keeps the
    identity's linear part and only moves."""
    placement = Placement()
    placement.add_match(0, 1, [(0, 0), (100, 0), (0, 100)], [(-50, 0), (50.5, 0), (-50, 100)])
    placement.add_match(1, 2, (60, 60), (10, 20))
    affine = placement.affine()
    np.testing.assert_allclose(affine[2][:, :2], np.eye(2), atol=1e-6)
    assert abs(affine[1][0, 0] - 1 / 1.005) < 1e-6  # tile 1 is scaled by its three points
    model_1 = affine[1] @ [60, 60, 1]
    np.testing.assert_allclose(affine[2] @ [10, 20, 1], model_1, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.add_match(0, 0, (1, 2), (3, 4)), "itself"),
        (lambda p: p.add_match(0, 1, (1, 2, 3), (3, 4)), "p has shape"),
        (lambda p: p.add_match(0, 1, [(1, 2), (3, 4)], (3, 4)), "p2 has 1"),
        (lambda p: p.add_match(0, 1, (1, np.nan), (3, 4)), "NaN"),
        (lambda p: p.add_match(0, 1, (1, 2), (3, 4), weight=-1), "weight"),
        (
            lambda p: p.add_match(0, 1, [(1, 2)] * 3, [(3, 4)] * 3, weight=[1, 2]),
            "weight has shape",
        ),
        (lambda p: p.add_match([0], 1, (1, 2), (3, 4)), "not hashable"),
        (lambda p: p.affine(), "no matches"),
    ],
)
def test_bad_input_says_what_to_change(call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(Placement())


def test_bad_solve_options_say_what_to_change() -> None:
    placement = Placement()
    placement.add_match("a", "b", (1, 2), (3, 4))
    with pytest.raises(InputError, match="fix='z' is not a tile"):
        placement.affine(fix="z")
    with pytest.raises(InputError, match="gauge="):
        placement.solve("affine", gauge="median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="model="):
        placement.solve("similarity")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="robust="):
        placement.rigid(robust="tukey")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="robust_scale"):
        placement.rigid(robust="huber", robust_scale=0)
    zero = Placement()
    zero.add_match("a", "b", (1, 2), (3, 4), weight=0)
    with pytest.raises(InputError, match="weight 0"):
        zero.rigid()
    assert issubclass(InputError, ValueError)
