"""The joint solve of a stack's links: redundant links place every frame, a link that
disagrees with the others is rejected, a frame no accepted link reaches fails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ofs_stitch.stack import align
from ofs_stitch.stack.joint import Measured, solve_links

SHAPE = (200, 300)


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """A similarity about the frame's centre, then a shift."""
    centre = (np.asarray(SHAPE, float) - 1) / 2
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    matrix = np.eye(3)
    matrix[:2, :2] = scale * np.array([[cos, -sin], [sin, cos]])
    matrix[:2, 2] = centre + np.asarray(shift) - matrix[:2, :2] @ centre
    return matrix


def _truth(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    middle = count // 2
    return [
        np.eye(3)
        if k == middle
        else _similarity(
            rng.uniform(-0.5, 0.5), 1 + rng.uniform(-0.01, 0.01), rng.uniform(-3, 3, 2)
        )
        for k in range(count)
    ]


def _links(truth: list[np.ndarray], lags=(1, 2)) -> list[Measured]:
    """Exact links M_j = M_i L between frames ``lags`` apart."""
    links = []
    for lag in lags:
        for i in range(len(truth) - lag):
            j = i + lag
            links.append(Measured(i, j, np.linalg.inv(truth[i]) @ truth[j], True))
    return links


@pytest.mark.parametrize("model", ["translation", "rigid", "similarity"])
def test_exact_links_give_back_every_transform(model) -> None:
    truth = _truth(7)
    if model != "similarity":
        centre = (np.asarray(SHAPE, float) - 1) / 2
        truth = [_similarity(0, 1, (m @ [*centre, 1])[:2] - centre) for m in truth]
    solution = solve_links(_links(truth), 7, 3, model, SHAPE)
    assert solution.accepted.all()
    for placed, true in zip(solution.matrices, truth, strict=True):
        assert placed is not None and np.abs(placed - true).max() < 1e-9


def test_a_false_link_is_outvoted_and_rejected() -> None:
    truth = _truth(7)
    links = _links(truth)
    wrong = 4  # the link 4 -> 5 (lag 1)
    bad = links[wrong].matrix.copy()
    bad[:2, 2] += (6.0, -4.0)
    links[wrong] = Measured(links[wrong].source, links[wrong].to, bad, True)
    solution = solve_links(links, 7, 3, "similarity", SHAPE)
    assert not solution.accepted[wrong]
    assert solution.accepted.sum() == len(links) - 1
    assert solution.residual_px[wrong] > 5.0
    for placed, true in zip(solution.matrices, truth, strict=True):
        assert placed is not None and np.abs(placed - true).max() < 1e-6


def test_a_frame_without_trusted_links_fails_and_the_lag_two_links_bridge_it() -> None:
    truth = _truth(7)
    links = [
        Measured(link.source, link.to, link.matrix, 5 not in (link.source, link.to))
        for link in _links(truth)
    ]
    solution = solve_links(links, 7, 3, "similarity", SHAPE)
    assert solution.matrices[5] is None
    # Frame 6 is still placed, through 4 -> 6.
    assert solution.matrices[6] is not None
    assert np.abs(solution.matrices[6] - truth[6]).max() < 1e-9


def test_align_bridges_a_frame_that_cannot_be_aligned(moving_stack) -> None:
    frames = moving_stack.frames.copy()
    noise = np.random.default_rng(0).random(frames[4].shape, dtype=np.float32)
    frames[4] = noise  # nothing in common with any frame
    alignment = align(frames, "translation")
    assert alignment.failed == [4]
    assert alignment.table.status[5] == "ok"
    measured = np.array([m[:2, 2] for m in alignment.table.matrices])
    good = [k for k in range(len(frames)) if k != 4]
    assert np.abs(measured[good] - moving_stack.shifts[good]).max() < 0.1
    # Every link touching the noise frame is left out; the others are all kept.
    for link in alignment.links:
        assert link.accepted == (4 not in (link.source, link.to))
    assert {(link.source, link.to) for link in alignment.links} >= {(3, 5), (2, 4), (3, 4)}
