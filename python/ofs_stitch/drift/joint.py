"""Every frame's transform from all the measured pairs at once, with unreliable frames found.

Each frame's transform is ``M_k(p) = s_k R(theta_k) (p - c) + c + d_k`` (`table`). A measured
pair ``M_ij = M_i M_j^-1`` then says ``theta_i - theta_j = theta_ij``, ``log s_i - log s_j =
log s_ij`` and ``d_i - A_ij d_j = t_ij`` (A = s R, t_ij the pair's move of the centre c). The
angles and log scales are differences of node values: one sparse least-squares solve
(``core.solve.solve_positions``, a "position" of (theta, log s) per node). Given them the
translations are differences too, up to the small term ``(A_ij - I) d_j`` (at most
0.026 rad x 12 px = 0.3 px in the issue's series), which a fixed-point iteration of a few more
solves removes.

Then the measurements are judged: a pair is rejected when its quality (Pearson r) falls far
below the series' typical, or when it disagrees with the solution of all the others (its
endpoint residual above max(``RESIDUAL_FLOOR_PX``, ``REJECT_SIGMAS`` robust sigmas)); the solve
repeats without it. A frame is unreliable when none of its pairs survives, when most were
rejected (disagreement between lags), or when it is cut off from the reference; unreliable
frames take their transform from their neighbours in time, by linear interpolation of
(d, theta, log s), and are marked ``interpolated``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.centred import centred_matrix, centred_parameters, probe_points, similarity_linear
from ..core.components import DisjointSets, component_labels
from ..core.solve import solve_positions
from ..core.transform import Kind
from .measure import Measurements, PairResult
from .table import centre

# Pairs whose Pearson r is below this fraction of the median of the found pairs are rejected.
RELATIVE_MIN_R = 0.5
# A pair disagrees with the others beyond max(floor, sigmas x 1.4826 x median residual).
RESIDUAL_FLOOR_PX = 0.5
REJECT_SIGMAS = 6.0
# A measured frame is still "flagged" (kept, but doubtful) when one of its accepted pairs
# leaves more than this residual.
FLAG_RESIDUAL_PX = 0.25
# Weight of the links that hold a frame cut off from the reference next to its neighbours.
HOLD_WEIGHT = 1e-4
# The fixed-point iteration of the translations stops when no node moves more than this (each
# round shrinks the coupling term's error by about the largest angle in radians).
TRANSLATION_TOLERANCE_PX = 1e-9
TRANSLATION_ITERATIONS = 20
REJECTION_ROUNDS = 40
# A round rejects only pairs whose residual exceeds this fraction of the largest one.
WORST_FRACTION = 0.5


@dataclass(frozen=True)
class JointSolution:
    """Per frame: ``matrices`` (n, 3, 3), ``quality`` (median r of its accepted pairs, NaN for
    the reference), ``status``; per pair: ``accepted``, ``residual_px``."""

    matrices: np.ndarray
    quality: np.ndarray
    status: tuple[str, ...]
    accepted: np.ndarray
    residual_px: np.ndarray


def solve_series(
    measurements: Measurements, n_frames: int, shape: tuple[int, int], model: Kind
) -> JointSolution:
    pairs = measurements.pairs
    nodes, reference = measurements.nodes, measurements.reference_node
    c = centre(shape)
    measured = _pair_parameters(pairs, c)
    found = np.array([p.found for p in pairs], bool)
    r = np.array([p.pearson_r for p in pairs])
    floor = RELATIVE_MIN_R * float(np.median(r[found])) if found.any() else math.inf
    accepted = found & (r >= floor) & np.isfinite(measured).all(axis=1)

    residual = np.full(len(pairs), np.inf)
    unreliable = np.zeros(n_frames, bool)
    for _ in range(REJECTION_ROUNDS):
        params = _solve(
            pairs, measured, accepted & ~_touches(pairs, unreliable), nodes, reference, model
        )
        residual = _residuals(pairs, params, c)
        usable = accepted & ~_touches(pairs, unreliable)
        spread = 1.4826 * float(np.median(residual[usable])) if usable.any() else 0.0
        limit = max(RESIDUAL_FLOOR_PX, REJECT_SIGMAS * spread)
        # Only the worst pairs go in one round: a pair far off drags the solution, and with it
        # the residuals of its good neighbours, which come back below the limit once it is gone.
        largest = float(residual[usable].max()) if usable.any() else 0.0
        still = accepted & ~(usable & (residual > max(limit, WORST_FRACTION * largest)))
        now_unreliable = _unreliable(pairs, found, still, n_frames, nodes, reference)
        if np.array_equal(still, accepted) and np.array_equal(now_unreliable, unreliable):
            break
        accepted, unreliable = still, now_unreliable
    params = _solve(
        pairs, measured, accepted & ~_touches(pairs, unreliable), nodes, reference, model
    )
    residual = _residuals(pairs, params, c)
    params = _interpolated(params, unreliable, n_frames)

    quality = np.full(n_frames, np.nan)
    worst = np.zeros(n_frames)
    for number, pair in enumerate(pairs):
        if not accepted[number]:
            continue
        for node in (pair.i, pair.j):
            if node < n_frames:
                worst[node] = max(worst[node], residual[number])
    for frame in range(n_frames):
        values = [p.pearson_r for k, p in enumerate(pairs) if accepted[k] and frame in (p.i, p.j)]
        if values and not unreliable[frame]:
            quality[frame] = float(np.median(values))
    status = tuple(
        "reference"
        if frame == reference
        else "interpolated"
        if unreliable[frame]
        else "flagged"
        if worst[frame] > FLAG_RESIDUAL_PX
        else "ok"
        for frame in range(n_frames)
    )
    matrices = np.array([centred_matrix(params[k], c) for k in range(n_frames)]).reshape(
        n_frames, 3, 3
    )
    return JointSolution(matrices, quality, status, accepted, residual)


def _pair_parameters(pairs: tuple[PairResult, ...], c: np.ndarray) -> np.ndarray:
    """(m, 4): theta_ij, log s_ij, t_ij (row, col) of each measured matrix."""
    return np.array([centred_parameters(pair.matrix, c) for pair in pairs]).reshape(-1, 4)


def _touches(pairs: tuple[PairResult, ...], frames: np.ndarray) -> np.ndarray:
    marked = set(np.flatnonzero(frames).tolist())
    return np.array([p.i in marked or p.j in marked for p in pairs], bool)


def _solve(
    pairs: tuple[PairResult, ...],
    measured: np.ndarray,
    use: np.ndarray,
    nodes: int,
    reference: int,
    model: Kind,
) -> np.ndarray:
    """(nodes, 4): theta, log s, d_row, d_col per node, the reference's all zero."""
    i = np.array([p.i for p in pairs], np.int64)[use]
    j = np.array([p.j for p in pairs], np.int64)[use]
    rows = measured[use]
    # Hold links join neighbouring nodes that no path of measurements joins, so the graph is
    # connected and the solve determined (their frames are interpolated afterwards anyway).
    hold_i = _hold_links(component_labels(zip(i.tolist(), j.tolist(), strict=True), nodes))
    hold_j = hold_i + 1
    weights = np.concatenate([np.ones(len(i)), np.full(len(hold_i), HOLD_WEIGHT)])
    all_i = np.concatenate([i, hold_i])
    all_j = np.concatenate([j, hold_j])

    params = np.zeros((nodes, 4))
    if model != "translation":
        # node_j - node_i = -(theta_ij, log s_ij)
        angle_rows = np.concatenate([-rows[:, :2], np.zeros((len(hold_i), 2))])
        solved = solve_positions(nodes, np.column_stack([all_i, all_j, angle_rows, weights]))
        params[:, :2] = solved.positions - solved.positions[reference]
        if model == "rigid":
            params[:, 1] = 0.0
    linear = [similarity_linear(params[k]) for k in range(nodes)]
    for _ in range(TRANSLATION_ITERATIONS):
        previous = params[:, 2:].copy()
        shifts = np.zeros((len(all_i), 2))
        for k in range(len(i)):
            a_ij = linear[i[k]] @ np.linalg.inv(linear[j[k]])
            # d_j - d_i = -t_ij - (A_ij - I) d_j
            shifts[k] = -rows[k, 2:] - (a_ij - np.eye(2)) @ params[j[k], 2:]
        solved = solve_positions(nodes, np.column_stack([all_i, all_j, shifts, weights]))
        params[:, 2:] = solved.positions - solved.positions[reference]
        if np.abs(params[:, 2:] - previous).max() < TRANSLATION_TOLERANCE_PX:
            break
    return params


def _residuals(pairs: tuple[PairResult, ...], params: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per pair, the mean distance (px) between where its measurement and the solution put the
    probe points."""
    points = probe_points(c).T
    matrices = [centred_matrix(params[k], c) for k in range(len(params))]
    out = np.empty(len(pairs))
    for number, pair in enumerate(pairs):
        predicted = matrices[pair.i] @ np.linalg.inv(matrices[pair.j])
        difference = (pair.matrix - predicted)[:2] @ points
        out[number] = float(np.hypot(difference[0], difference[1]).mean())
    return out


def _unreliable(
    pairs: tuple[PairResult, ...],
    found: np.ndarray,
    accepted: np.ndarray,
    n_frames: int,
    nodes: int,
    reference: int,
) -> np.ndarray:
    """Frames with no accepted pair, most of their pairs rejected, or no path of accepted
    pairs to the reference."""
    measured = np.zeros(nodes)
    kept = np.zeros(nodes)
    for number, pair in enumerate(pairs):
        for node in (pair.i, pair.j):
            measured[node] += 1
            kept[node] += accepted[number]
    i = np.array([p.i for p in pairs], np.int64)[accepted]
    j = np.array([p.j for p in pairs], np.int64)[accepted]
    labels = component_labels(zip(i.tolist(), j.tolist(), strict=True), nodes)
    cut_off = labels != labels[reference]
    bad = (kept == 0) | (kept < 0.5 * measured) | cut_off
    bad[reference] = False
    return np.asarray(bad[:n_frames])


def _hold_links(labels: np.ndarray) -> np.ndarray:
    """Nodes k whose link to k + 1 joins two groups not yet joined (a spanning tree of the
    groups, so the links add no loop that would pull measured frames)."""
    groups = DisjointSets(int(labels.max()) + 1)
    links = [k for k in range(len(labels) - 1) if groups.join(int(labels[k]), int(labels[k + 1]))]
    return np.array(links, np.int64)


def _interpolated(params: np.ndarray, unreliable: np.ndarray, n_frames: int) -> np.ndarray:
    """Unreliable frames' parameters, linear in time between the nearest reliable frames
    (held at the ends)."""
    if not unreliable.any():
        return params
    out = params.copy()
    good = np.flatnonzero(~unreliable)
    bad = np.flatnonzero(unreliable)
    if len(good) == 0:
        out[bad] = 0.0
        return out
    for column in range(4):
        out[bad, column] = np.interp(bad, good, params[good, column])
    return out
