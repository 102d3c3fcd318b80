"""``solve_positions`` against scipy's LSQR on the same weighted system, and its robust mode;
its two linear solvers (direct factorisation, conjugate gradients) against each other."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.linalg import lsqr

from ofs_stitch import InputError, SolvedPositions, solve_positions

AGREEMENT = 1e-6  # px, ours vs LSQR
ROBUST_AGREEMENT = 1e-5  # px, robust solves that take different paths to one minimum


def lsqr_positions(
    n_tiles: int,
    pairs: np.ndarray,
    priors: np.ndarray | None = None,
    prior_weights: np.ndarray | None = None,
) -> np.ndarray:
    """The same weighted least squares, solved independently by LSQR (float64).

    Rows sqrt(w) (p_j - p_i) = sqrt(w) d per pair and sqrt(v) p_t = sqrt(v) q per prior. Started
    from zero, LSQR converges to the minimum-norm solution, which for a component without priors
    (free translation) is the one with mean position zero: the gauge solve_positions documents.
    """
    i, j = pairs[:, 0].astype(int), pairs[:, 1].astype(int)
    root_w = np.sqrt(pairs[:, 4] if pairs.shape[1] == 5 else np.ones(len(pairs)))
    m = len(pairs)
    rows = np.repeat(np.arange(m), 2)
    cols = np.column_stack([i, j]).ravel()
    values = np.column_stack([-root_w, root_w]).ravel()
    rhs = root_w[:, None] * pairs[:, 2:4]
    if priors is not None:
        tiles = np.flatnonzero(np.isfinite(priors).all(axis=1) & (prior_weights > 0))
        root_v = np.sqrt(prior_weights[tiles])
        rows = np.concatenate([rows, m + np.arange(len(tiles))])
        cols = np.concatenate([cols, tiles])
        values = np.concatenate([values, root_v])
        rhs = np.vstack([rhs, root_v[:, None] * priors[tiles]])
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(rhs.shape[0], n_tiles))
    solution = np.empty((n_tiles, 2))
    for axis in range(2):
        result = lsqr(matrix, rhs[:, axis], atol=1e-15, btol=1e-15, conlim=0, iter_lim=100_000)
        solution[:, axis] = result[0]
    return solution


def random_graph(n_tiles: int, n_pairs: int, rng: np.random.Generator, noise: float = 0.5):
    """A connected random graph: a random spanning tree plus extra random edges, weighted."""
    truth = rng.uniform(-2000, 2000, (n_tiles, 2))
    edges = [(int(rng.integers(0, t)), t) for t in range(1, n_tiles)]
    while len(edges) < n_pairs:
        i, j = rng.integers(0, n_tiles, 2)
        if i != j:
            edges.append((int(i), int(j)))
    edges_array = np.array(edges)
    i, j = edges_array[:, 0], edges_array[:, 1]
    d = truth[j] - truth[i] + rng.normal(0, noise, (len(edges), 2))
    weights = rng.uniform(0.1, 5.0, len(edges))
    return truth, np.column_stack([i, j, d, weights])


def grid_pairs(rows: int, cols: int, pitch=(336.0, 448.0)) -> tuple[np.ndarray, np.ndarray]:
    """True positions of a rows x cols raster and its (i, j) neighbour index pairs."""
    grid = np.array([(r, c) for r in range(rows) for c in range(cols)], dtype=float)
    truth = grid * pitch
    index = np.arange(rows * cols).reshape(rows, cols)
    across = np.column_stack([index[:, :-1].ravel(), index[:, 1:].ravel()])
    down = np.column_stack([index[:-1, :].ravel(), index[1:, :].ravel()])
    return truth, np.vstack([across, down])


def assert_solved_by(placement: SolvedPositions, method: str) -> None:
    """The solver that ``method`` names is the one that ran."""
    if method == "cg":
        assert placement.factorisations == 0 and placement.cg_iterations > 0
    else:
        assert placement.factorisations > 0 and placement.cg_iterations == 0


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_agrees_with_lsqr_without_priors(method: str) -> None:
    rng = np.random.default_rng(1)
    _, pairs = random_graph(200, 500, rng)
    placement = solve_positions(200, pairs, method=method)
    reference = lsqr_positions(200, pairs)
    difference = np.abs(placement.positions - reference).max()
    print(
        f"200 tiles, 500 pairs ({method}): max |ours - LSQR| = {difference:.2e} px, "
        f"converged {placement.converged}"
    )
    assert_solved_by(placement, method)
    assert placement.converged
    assert difference < AGREEMENT


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_agrees_with_lsqr_with_priors(method: str) -> None:
    rng = np.random.default_rng(2)
    truth, pairs = random_graph(200, 500, rng)
    priors = truth + rng.normal(0, 5.0, truth.shape)
    priors[rng.random(200) < 0.6] = np.nan  # tiles without a stage position
    prior_weights = rng.uniform(0.001, 0.1, 200)
    placement = solve_positions(
        200, pairs, priors=priors, prior_weights=prior_weights, method=method
    )
    reference = lsqr_positions(200, pairs, priors, prior_weights)
    difference = np.abs(placement.positions - reference).max()
    print(
        f"200 tiles, 500 pairs, {np.isfinite(priors[:, 0]).sum()} priors ({method}): "
        f"max |ours - LSQR| = {difference:.2e} px"
    )
    assert_solved_by(placement, method)
    assert difference < AGREEMENT
    # With priors there is no free translation: the solution is not re-centred.
    assert np.abs(placement.positions.mean(axis=0)).max() > 1.0


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_each_component_without_priors_has_mean_position_zero(method: str) -> None:
    rng = np.random.default_rng(3)
    _, first = random_graph(50, 120, rng)
    _, second = random_graph(30, 70, rng)
    second[:, :2] += 50
    _, anchored = random_graph(20, 40, rng)
    anchored[:, :2] += 80
    pairs = np.vstack([first, second, anchored])
    n_tiles = 101  # tile 100 has no pairs and no prior: a component of its own
    priors = np.full((n_tiles, 2), np.nan)
    priors[85] = (1000.0, -500.0)
    placement = solve_positions(n_tiles, pairs, priors=priors, prior_weights=0.01, method=method)
    assert_solved_by(placement, method)
    positions = placement.positions
    for group in (slice(0, 50), slice(50, 80)):
        np.testing.assert_allclose(positions[group].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_array_equal(positions[100], (0.0, 0.0))
    # The component with a prior keeps the prior's frame instead of being centred.
    assert np.abs(positions[80:100].mean(axis=0)).max() > 100.0
    reference = lsqr_positions(n_tiles, pairs, priors, np.full(n_tiles, 0.01))
    assert np.abs(positions - reference).max() < AGREEMENT


def test_tile_without_pairs_lands_on_its_prior() -> None:
    pairs = np.array([[0, 1, 0.0, 448.0], [1, 2, 0.5, 447.0], [2, 3, 336.0, -1.0]])
    priors = np.array(
        [[0.0, 0.0], [1.0, 449.0], [np.nan, np.nan], [336.0, 900.0], [1234.5, -678.25]]
    )
    placement = solve_positions(
        5, pairs, priors=priors, prior_weights=[0.01, 0.01, 0.0, 0.01, 0.003]
    )
    assert placement.positions[4] == pytest.approx((1234.5, -678.25), abs=1e-9)


def test_weak_priors_stop_a_long_chain_from_drifting() -> None:
    """A 1x150 strip whose pair measurements carry noise and a small shared bias (0.05 px, the
    kind upstream's biased peak adds) drifts linearly; stage priors of 5 px pin it."""
    rng = np.random.default_rng(4)
    n = 150
    truth = np.column_stack([rng.normal(0, 1.0, n), np.arange(n) * 448.0])
    pair_noise, pair_bias, stage_noise = 0.2, 0.05, 5.0
    i, j = np.arange(n - 1), np.arange(1, n)
    d = truth[j] - truth[i] + pair_bias + rng.normal(0, pair_noise, (n - 1, 2))
    pairs = np.column_stack([i, j, d, np.full(n - 1, 1 / pair_noise**2)])
    priors = truth + rng.normal(0, stage_noise, truth.shape)

    def drift(positions: np.ndarray) -> float:
        error = positions - truth
        error -= error.mean(axis=0)  # a global translation is not drift
        return float(np.sqrt((error**2).sum(axis=1).mean()))

    free = drift(solve_positions(n, pairs).positions)
    pinned = drift(
        solve_positions(n, pairs, priors=priors, prior_weights=1 / stage_noise**2).positions
    )
    print(
        f"1x150 chain, RMS drift: pairs only {free:.2f} px, with 5 px stage priors {pinned:.2f} px"
    )
    assert pinned < 0.5 * free


@pytest.mark.parametrize("loss", ["huber", "cauchy"])
def test_robust_loss_survives_five_percent_gross_outliers(loss: str) -> None:
    rng = np.random.default_rng(5)
    truth, index_pairs = grid_pairs(20, 20)
    truth = truth + rng.uniform(-2, 2, truth.shape)
    i, j = index_pairs[:, 0], index_pairs[:, 1]
    d = truth[j] - truth[i] + rng.normal(0, 0.05, (len(i), 2))
    outliers = rng.choice(len(i), size=round(0.05 * len(i)), replace=False)
    angle = rng.uniform(0, 2 * np.pi, len(outliers))
    size = rng.uniform(20, 100, len(outliers))
    d[outliers] += size[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    pairs = np.column_stack([i, j, d])

    def rms_error(positions: np.ndarray) -> float:
        error = positions - truth
        error -= error.mean(axis=0)
        return float(np.sqrt((error**2).sum(axis=1).mean()))

    plain = rms_error(solve_positions(400, pairs).positions)
    robust = solve_positions(400, pairs, robust=loss)
    robust_rms = rms_error(robust.positions)
    print(
        f"20x20 grid, {len(outliers)} outliers of 20-100 px: "
        f"RMS error least squares {plain:.3f} px, "
        f"{loss} {robust_rms:.4f} px ({robust.reweighting_iterations} reweightings)"
    )
    assert plain > 1.0
    if loss == "cauchy":
        # A redescending loss ignores gross outliers entirely.
        assert robust_rms < 0.1
    else:
        # Huber's influence is bounded but never vanishes: each outlier still pulls with the
        # robust scale (1 px), which leaves a few tenths of a pixel on this grid. Still more
        # than ten times better than plain least squares.
        assert robust_rms < 1.0
        assert robust_rms < plain / 10
    inliers = np.setdiff1d(np.arange(len(i)), outliers)
    assert robust.robust_weights[outliers].max() < 0.1
    assert np.median(robust.robust_weights[inliers]) > 0.9


def test_placement_unpacks_and_residuals_are_defined_per_pair() -> None:
    rng = np.random.default_rng(6)
    _, pairs = random_graph(40, 90, rng, noise=2.0)
    placement = solve_positions(40, pairs)
    positions, residuals = placement
    assert isinstance(placement, SolvedPositions)
    assert positions is placement.positions and residuals is placement.residuals
    assert positions.shape == (40, 2) and residuals.shape == (90, 2)
    i, j = pairs[:, 0].astype(int), pairs[:, 1].astype(int)
    np.testing.assert_allclose(residuals, positions[j] - positions[i] - pairs[:, 2:4], atol=1e-9)
    np.testing.assert_array_equal(placement.robust_weights, np.ones(90))
    # Four columns mean weight 1.
    unweighted = solve_positions(40, pairs[:, :4]).positions
    ones = solve_positions(40, np.column_stack([pairs[:, :4], np.ones(90)])).positions
    np.testing.assert_allclose(unweighted, ones, atol=1e-9)


@pytest.mark.parametrize(
    ("n_tiles", "pairs", "options", "advice"),
    [
        (3, [[0, 5, 1.0, 1.0]], {}, "n_tiles must exceed"),
        (3, [[2, 2, 1.0, 1.0]], {}, "two different tiles"),
        (3, [[0, 1, np.nan, 1.0]], {}, "NaN"),
        (3, [[0, 1, 1.0, np.inf, 1.0]], {}, "NaN or infinite"),
        (3, [[0, 1, 1.0]], {}, r"\(i, j, d_row, d_col"),
        (3, [0, 1, 1.0, 1.0], {}, r"\(i, j, d_row, d_col"),
        (3, [[0, 1, 1.0, 1.0, -0.5]], {}, ">= 0"),
        (3, [[0.5, 1, 1.0, 1.0]], {}, "whole numbers"),
        (-1, [], {}, "non-negative integer"),
        (2.0, [[0, 1, 1.0, 1.0]], {}, "non-negative integer"),
        (3, [[0, 1, 1.0, 1.0]], {"priors": np.zeros((2, 2))}, r"\(3, 2\)"),
        (3, [[0, 1, 1.0, 1.0]], {"priors": np.zeros((3, 3))}, r"\(3, 2\)"),
        (3, [[0, 1, 1.0, 1.0]], {"priors": np.zeros((3, 2)), "prior_weights": -1.0}, ">= 0"),
        (3, [[0, 1, 1.0, 1.0]], {"prior_weights": 1.0}, "pass priors"),
        (3, [[0, 1, 1.0, 1.0]], {"robust": "tukey"}, "'huber', 'cauchy' or None"),
        (3, [[0, 1, 1.0, 1.0]], {"robust": "huber", "robust_scale": 0.0}, "robust_scale"),
    ],
)
def test_bad_input_raises_input_error_saying_what_to_change(
    n_tiles, pairs, options, advice
) -> None:
    with pytest.raises(InputError, match=advice) as raised:
        solve_positions(n_tiles, pairs, **options)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_a_warm_start_gives_the_same_positions_in_fewer_iterations(method: str) -> None:
    """Live stitching adds one tile and solves again from the last layout: the same answer as
    a cold solve, in fewer iterations."""
    rng = np.random.default_rng(4)
    side = 20
    truth = np.array([(r * 400.0, c * 500.0) for r in range(side) for c in range(side)])
    pairs = []
    for r in range(side):
        for c in range(side):
            k = r * side + c
            for other in ([k + 1] if c + 1 < side else []) + ([k + side] if r + 1 < side else []):
                pairs.append((k, other, *(truth[other] - truth[k] + rng.normal(0, 0.1, 2))))
    table = np.array(pairs)
    priors = truth + rng.normal(0, 10, truth.shape)
    n = len(truth)
    # The layout before the last tile came (its pairs left out), then with it.
    before = solve_positions(
        n - 1,
        table[table[:, 1] < n - 1],
        priors=priors[:-1],
        prior_weights=1e-4,
        robust="cauchy",
        method=method,
    )
    start = np.vstack([before.positions, priors[-1:]])
    cold = solve_positions(
        n, table, priors=priors, prior_weights=1e-4, robust="cauchy", method=method
    )
    warm = solve_positions(
        n, table, priors=priors, prior_weights=1e-4, robust="cauchy", initial=start, method=method
    )
    np.testing.assert_allclose(warm.positions, cold.positions, atol=1e-4)
    if method == "cg":
        # (695 against 788 here: CG still has to reach the same tolerance from a closer start.)
        assert warm.cg_iterations < cold.cg_iterations
    assert warm.reweighting_iterations <= cold.reweighting_iterations
    with pytest.raises(InputError, match="initial"):
        solve_positions(3, [(0, 1, 1.0, 0.0)], initial=np.zeros((2, 2)))


def awkward_graph(rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Everything the direct solver must pin or pass over: two groups with no prior, one with
    priors, pairs of weight 0 (one the only link of a tile, which then floats alone), a tile
    with a prior and no pairs, a tile with neither, and duplicate measurements of one pair."""
    _, free_a = random_graph(60, 150, rng)
    _, free_b = random_graph(25, 60, rng)
    free_b[:, :2] += 60
    truth_c, anchored = random_graph(40, 90, rng)
    anchored[:, :2] += 85
    weightless = np.array([[10, 70, 5.0, 5.0, 0.0], [84, 125, 3.0, -2.0, 0.0]])
    duplicate = anchored[:3].copy()
    duplicate[:, 2:4] += rng.normal(0, 0.5, (3, 2))
    pairs = np.vstack([free_a, free_b, anchored, weightless, duplicate])
    n_tiles = 128  # 125: reached only by a weight-0 pair; 126: a prior only; 127: nothing
    priors = np.full((n_tiles, 2), np.nan)
    priors[85:125] = truth_c + rng.normal(0, 3.0, truth_c.shape)
    priors[126] = (321.0, -45.5)
    return n_tiles, pairs, priors, rng.uniform(0.01, 0.1, n_tiles)


@pytest.mark.parametrize("robust", [None, "huber", "cauchy"])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_direct_and_conjugate_gradient_solves_agree(robust: str | None, seed: int) -> None:
    n_tiles, pairs, priors, prior_weights = awkward_graph(np.random.default_rng(seed))
    solved = {
        method: solve_positions(
            n_tiles,
            pairs,
            priors=priors,
            prior_weights=prior_weights,
            robust=robust,  # type: ignore[arg-type]
            robust_scale=0.5,
            method=method,
        )
        for method in ("direct", "cg")
    }
    direct, cg = solved["direct"], solved["cg"]
    assert_solved_by(direct, "direct")
    assert_solved_by(cg, "cg")
    difference = np.abs(direct.positions - cg.positions).max()
    print(f"seed {seed}, {robust}: max |direct - CG| = {difference:.2e} px")
    # Conjugate gradients stop at a relative residual of 1e-12; the reweighting carries their
    # last digits on from round to round, and its stretched steps (up to 16x) amplify them, so
    # the two may stop a round apart: both within the reweighting's own convergence (weights
    # settled to 1e-6, which leaves positions within about 1e-5 px).
    assert difference < (AGREEMENT if robust is None else ROBUST_AGREEMENT)
    np.testing.assert_allclose(direct.robust_weights, cg.robust_weights, atol=1e-5)
    for group in (slice(0, 60), slice(60, 85)):  # no prior: centred
        np.testing.assert_allclose(direct.positions[group].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_array_equal(direct.positions[[125, 127]], 0.0)
    np.testing.assert_allclose(direct.positions[126], (321.0, -45.5), atol=1e-9)


def test_automatic_method_factors_a_grid_and_iterates_on_a_graph_without_a_band() -> None:
    truth, index_pairs = grid_pairs(40, 40)
    i, j = index_pairs[:, 0], index_pairs[:, 1]
    grid = np.column_stack([i, j, truth[j] - truth[i]])
    on_grid = solve_positions(1600, grid, priors=truth, prior_weights=1e-4)
    assert_solved_by(on_grid, "direct")
    np.testing.assert_allclose(on_grid.positions, truth, atol=1e-6)
    # 3,000 tiles joined at random: no ordering keeps the factor narrow.
    rng = np.random.default_rng(8)
    truth, pairs = random_graph(3000, 6000, rng, noise=0.0)
    tangled = solve_positions(3000, pairs, priors=truth, prior_weights=1e-4)
    assert_solved_by(tangled, "cg")
    np.testing.assert_allclose(tangled.positions, truth, atol=1e-6)


def test_direct_solve_is_exact_where_tiny_priors_leave_the_matrix_nearly_singular() -> None:
    """The batch placement's first solve: pairs plus priors of weight 1e-9, which only fix the
    translation. Conjugate gradients converge slowly there; the factorisation is exact."""
    rng = np.random.default_rng(9)
    truth, index_pairs = grid_pairs(30, 30)
    i, j = index_pairs[:, 0], index_pairs[:, 1]
    pairs = np.column_stack([i, j, truth[j] - truth[i] + rng.normal(0, 0.1, (len(i), 2))])
    priors = truth + rng.normal(0, 20.0, truth.shape)
    weights = np.full(900, 1e-9)
    direct = solve_positions(900, pairs, priors=priors, prior_weights=weights, method="direct")
    reference = lsqr_positions(900, pairs, priors, weights)
    assert_solved_by(direct, "direct")
    assert np.abs(direct.positions - reference).max() < 1e-4
    # The translation the priors fix: the mean offset from them is zero.
    np.testing.assert_allclose((direct.positions - priors).mean(axis=0), 0.0, atol=1e-4)


def test_unknown_method_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'auto', 'direct' or 'cg'"):
        solve_positions(2, [[0, 1, 1.0, 1.0]], method="lu")  # type: ignore[arg-type]


def test_a_matrix_too_nearly_singular_to_factor_falls_back_to_conjugate_gradients() -> None:
    """Priors of weight 1e-30 anchor the group, but its last pivot drowns in rounding: the
    direct solve gives up and conjugate gradients solve the round instead."""
    rng = np.random.default_rng(10)
    truth, pairs = random_graph(50, 120, rng)
    fallback = solve_positions(
        50, pairs, priors=truth, prior_weights=1e-30, method="direct", robust="cauchy"
    )
    assert fallback.factorisations == 0 and fallback.cg_iterations > 0
    free = solve_positions(50, pairs, method="direct", robust="cauchy")
    shape = fallback.positions - fallback.positions.mean(axis=0)
    np.testing.assert_allclose(shape, free.positions, atol=1e-6)


def robust_gradient(
    positions: np.ndarray, pairs: np.ndarray, priors: np.ndarray, prior_weight: float, scale: float
) -> np.ndarray:
    """The gradient of the Cauchy objective (sum of s^2/2 log(1 + |r|^2/s^2) over pairs, plus
    the priors' v/2 |p - q|^2) at ``positions``: zero at its minimum."""
    i, j = pairs[:, 0].astype(int), pairs[:, 1].astype(int)
    residual = positions[j] - positions[i] - pairs[:, 2:4]
    pull = residual / (1.0 + (residual**2).sum(axis=1, keepdims=True) / scale**2)
    gradient = prior_weight * (positions - priors)
    np.add.at(gradient, j, pull)
    np.subtract.at(gradient, i, pull)
    return gradient


def slowly_settling_scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 20 x 20 grid whose pairs are off by about the robust scale (1 px) or grossly: the
    reweighting that settles slowly, as on a real scan's distorted optics."""
    truth, index_pairs = grid_pairs(20, 20)
    i, j = index_pairs[:, 0], index_pairs[:, 1]
    d = truth[j] - truth[i] + rng.normal(0, 0.7, (len(i), 2))
    gross = rng.choice(len(i), size=round(0.05 * len(i)), replace=False)
    d[gross] += rng.uniform(-30, 30, (len(gross), 2))
    priors = truth + rng.normal(0, 5.0, truth.shape)
    return np.column_stack([i, j, d]), priors


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_robust_solve_settles_at_the_minimum_of_its_objective(method: str) -> None:
    pairs, priors = slowly_settling_scan(np.random.default_rng(8))
    solved = solve_positions(
        400, pairs, priors=priors, prior_weights=1e-3, robust="cauchy", method=method
    )
    gradient = np.abs(robust_gradient(solved.positions, pairs, priors, 1e-3, 1.0)).max()
    print(f"{solved.reweighting_iterations} reweightings, largest gradient {gradient:.1e}")
    # The weights settled to 1e-6 within the 50 rounds (plain reweighting, one step a round,
    # had not after 50 here), where the gradient vanishes.
    assert solved.converged
    assert gradient < 1e-5


def test_a_position_tolerance_ends_the_reweighting_sooner_near_the_same_minimum() -> None:
    pairs, priors = slowly_settling_scan(np.random.default_rng(9))
    settings = dict(priors=priors, prior_weights=1e-3, robust="cauchy")
    settled = solve_positions(400, pairs, **settings)  # type: ignore[arg-type]
    sooner = solve_positions(400, pairs, position_tolerance=1e-4, **settings)  # type: ignore[arg-type]
    distance = np.abs(sooner.positions - settled.positions).max()
    print(
        f"{sooner.reweighting_iterations} rounds instead of {settled.reweighting_iterations}: "
        f"{distance:.1e} px apart"
    )
    assert sooner.reweighting_iterations < settled.reweighting_iterations
    assert distance < 1e-3
    with pytest.raises(InputError, match="position_tolerance"):
        solve_positions(3, [(0, 1, 1.0, 0.0)], robust="cauchy", position_tolerance=-1.0)
