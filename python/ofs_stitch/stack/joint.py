"""Every frame's transform to the reference from all measured links at once, bad links rejected.

Each frame's transform is ``M_k(p) = s_k R(theta_k) (p - c) + c + d_k`` (c the frame's
centre). A link measured from frame i to frame j says ``M_j = M_i L``, that is
``theta_j - theta_i = theta_L``, ``log s_j - log s_i = log s_L`` and ``d_j - d_i = A_i t_L``
(A = s R, t_L the link's move of the centre). The angles and log scales are differences of
node values: one sparse least-squares solve (``core.solve.solve_positions``, a "position" of
(theta, log s) per frame); given them, the translations are differences too, a second solve.
Both use a Cauchy loss, so that a false link barely moves the solution and stands out.

Links are judged by how they agree: each solve is followed by every link's residual (how far
its measurement and the solution put the frame's corners and centre, in px); links beyond
max(``RESIDUAL_FLOOR_PX``, ``REJECT_SIGMAS`` robust sigmas of all residuals) are rejected, the
worst first (a false link drags the solution and with it its good neighbours' residuals), and
the solve repeats. A frame that no chain of accepted links joins to the reference is
``failed``: it is never given a guessed transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.centred import centred_matrix, centred_parameters, probe_points, similarity_linear
from ..core.components import component_labels
from ..core.solve import solve_positions

# A link disagrees with the others beyond max(floor, sigmas x 1.4826 x median residual).
RESIDUAL_FLOOR_PX = 1.0
REJECT_SIGMAS = 6.0
# The scale of the solves' Cauchy loss: links off by more count less and less.
ROBUST_SCALE_PX = 0.5
# A round rejects only links whose residual exceeds this fraction of the largest one.
WORST_FRACTION = 0.5


@dataclass(frozen=True)
class Measured:
    """One link: ``frames[to][p] ~ frames[source][matrix @ p]``, and whether its registration
    was trusted at all (quality, plausible motion)."""

    source: int
    to: int
    matrix: np.ndarray
    trusted: bool


@dataclass(frozen=True)
class JointSolution:
    """Per frame: ``matrices`` (None where failed); per link: ``accepted``, ``residual_px``."""

    matrices: list[np.ndarray | None]
    accepted: np.ndarray
    residual_px: np.ndarray


def solve_links(
    links: list[Measured], count: int, reference: int, model: str, shape: tuple[int, int]
) -> JointSolution:
    centre = (np.asarray(shape, float) - 1.0) / 2.0
    measured = np.array([centred_parameters(link.matrix, centre) for link in links]).reshape(-1, 4)
    accepted = np.array([link.trusted for link in links], bool) & np.isfinite(measured).all(1)
    residual = np.full(len(links), np.inf)
    for _ in range(max(1, len(links))):
        placed = _connected(links, accepted, count, reference)
        params = _solve(links, measured, accepted, placed, count, reference, model, centre)
        residual = _residuals(links, params, centre)
        usable = accepted & placed[[link.to for link in links]]
        if not usable.any():
            break
        spread = 1.4826 * float(np.median(residual[usable]))
        limit = max(RESIDUAL_FLOOR_PX, REJECT_SIGMAS * spread)
        largest = float(residual[usable].max())
        rejected = usable & (residual > max(limit, WORST_FRACTION * largest))
        if not rejected.any():
            break
        accepted &= ~rejected
    placed = _connected(links, accepted, count, reference)
    params = _solve(links, measured, accepted, placed, count, reference, model, centre)
    residual = _residuals(links, params, centre)
    matrices = [centred_matrix(params[k], centre) if placed[k] else None for k in range(count)]
    return JointSolution(matrices, accepted, residual)


def _connected(
    links: list[Measured], accepted: np.ndarray, count: int, reference: int
) -> np.ndarray:
    """Frames joined to the reference by a chain of accepted links."""
    joined = [(link.source, link.to) for link, kept in zip(links, accepted, strict=True) if kept]
    labels = component_labels(joined, count)
    return np.asarray(labels == labels[reference])


def _solve(
    links: list[Measured],
    measured: np.ndarray,
    accepted: np.ndarray,
    placed: np.ndarray,
    count: int,
    reference: int,
    model: str,
    centre: np.ndarray,
) -> np.ndarray:
    """(count, 4): theta, log s, d_row, d_col per frame, the reference's all zero (frames not
    placed stay zero)."""
    use = accepted & placed[[link.source for link in links]]
    i = np.array([link.source for link in links], np.int64)[use]
    j = np.array([link.to for link in links], np.int64)[use]
    rows = measured[use]
    params = np.zeros((count, 4))
    if len(i) == 0:
        return params
    # Cauchy's loss: a false link pulls the solution little, so its residual stands out
    # instead of spreading over its neighbours'. Angles and log scales are scaled by the
    # frame's half diagonal, so that the loss's scale means pixels at the corners for them too.
    radius = float(np.hypot(*centre))
    if model != "translation":
        solved = solve_positions(
            count,
            np.column_stack([i, j, rows[:, :2] * radius]),
            robust="cauchy",
            robust_scale=ROBUST_SCALE_PX,
        )
        params[:, :2] = (solved.positions - solved.positions[reference]) / radius
        if model == "rigid":
            params[:, 1] = 0.0
    # d_j - d_i = A_i t_L, with every A_i now known.
    moves = np.array([similarity_linear(params[a]) @ rows[n, 2:] for n, a in enumerate(i)])
    solved = solve_positions(
        count, np.column_stack([i, j, moves]), robust="cauchy", robust_scale=ROBUST_SCALE_PX
    )
    params[:, 2:] = solved.positions - solved.positions[reference]
    params[~placed] = 0.0
    return params


def _residuals(links: list[Measured], params: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Per link, the mean distance (px) between where its measurement and the solution
    (M_i^-1 M_j) put the frame's corners and centre."""
    points = probe_points(centre).T
    matrices = [centred_matrix(p, centre) for p in params]
    out = np.empty(len(links))
    for n, link in enumerate(links):
        predicted = np.linalg.inv(matrices[link.source]) @ matrices[link.to]
        difference = (link.matrix - predicted)[:2] @ points
        out[n] = float(np.hypot(difference[0], difference[1]).mean())
    return out
