"""The stage-to-layout map of the place stage, against the least-squares formula it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.core.transform import Transform
from ofs_stitch.stitching.place import SIGNIFICANT_SIGMAS, _stage_to_layout


def lstsq_stage_to_layout(stage: np.ndarray, placed: np.ndarray, use: np.ndarray) -> np.ndarray:
    """The formula place.py used before core.transform.fit, verbatim: a (3, 2) matrix A with
    [stage_row, stage_col, 1] @ A ~ placed, by numpy's lstsq."""
    translation = np.vstack([np.eye(2), np.zeros((1, 2))])
    if not use.any():
        return translation
    translation[2] = (placed[use] - stage[use]).mean(axis=0)
    count = int(use.sum())
    if count < 4:
        return translation
    design = np.column_stack([stage[use], np.ones(count)])
    affine, _, rank, _ = np.linalg.lstsq(design, placed[use], rcond=None)
    if rank < 3:
        return translation
    residual = placed[use] - design @ affine
    sigma = np.sqrt((residual**2).sum() / max(2 * (count - 3), 1))
    covariance = np.linalg.inv(design.T @ design)
    standard_error = sigma * np.sqrt(np.diag(covariance)[:2])
    deviation = np.abs(affine[:2] - np.eye(2))
    significant = (deviation > SIGNIFICANT_SIGMAS * standard_error[:, None] + 1e-12).any()
    return affine if significant else translation


def as_transform_matrix(affine: np.ndarray) -> np.ndarray:
    """The (3, 3) matrix M of a (3, 2) A: [p, 1] @ A = M @ (p, 1)."""
    matrix = np.eye(3)
    matrix[:2] = affine.T
    return matrix


def scan(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Stage positions (px) of a rows x cols scan far from the origin, with stage noise."""
    grid = np.array([(r * 336.0, c * 448.0) for r in range(rows) for c in range(cols)])
    return grid + [15_000.0, -42_000.0] + rng.normal(0.0, 12.0, grid.shape)


# (linear part of the true map, layout noise): a miscalibrated matrix the fit must keep, an
# accurate one it must drop for a translation.
CASES = {
    "miscalibrated": (np.array([[1.03, 0.02], [-0.015, 0.97]]), 0.5),
    "accurate": (np.eye(2), 3.0),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seed", range(6))
def test_the_map_is_the_old_least_squares_formulas(case: str, seed: int) -> None:
    linear, noise = CASES[case]
    rng = np.random.default_rng(seed)
    stage = scan(rng, 4, 5)
    placed = stage @ linear.T + [-15_010.0, 42_020.0] + rng.normal(0.0, noise, stage.shape)
    use = rng.random(len(stage)) < 0.8
    ours = _stage_to_layout(stage, placed, use)
    reference = as_transform_matrix(lstsq_stage_to_layout(stage, placed, use))
    np.testing.assert_allclose(ours.matrix, reference, rtol=0, atol=1e-9)
    assert ours.kind == ("affine" if case == "miscalibrated" else "translation")


@pytest.mark.parametrize("count", [0, 1, 3])
def test_few_tiles_give_a_translation_as_before(count: int) -> None:
    rng = np.random.default_rng(count)
    stage = scan(rng, 2, 3)
    placed = stage * 1.05 + rng.normal(0.0, 1.0, stage.shape)
    use = np.arange(len(stage)) < count
    ours = _stage_to_layout(stage, placed, use)
    assert ours.kind == "translation"
    reference = as_transform_matrix(lstsq_stage_to_layout(stage, placed, use))
    np.testing.assert_allclose(ours.matrix, reference, rtol=0, atol=1e-9)
    if count == 0:
        assert ours == Transform.identity()


def test_tiles_on_one_line_give_a_translation_as_before() -> None:
    stage = np.array([(0.0, 448.0 * k) for k in range(8)]) + [300.0, 900.0]
    placed = stage * 1.05 + [3.0, -4.0]
    use = np.ones(8, dtype=bool)
    ours = _stage_to_layout(stage, placed, use)
    assert ours.kind == "translation"
    reference = as_transform_matrix(lstsq_stage_to_layout(stage, placed, use))
    np.testing.assert_allclose(ours.matrix, reference, rtol=0, atol=1e-9)
