"""Every pair the placement leaves out carries its reason: the thresholds' (quality,
discrepancy) or the layout's (loop inconsistency)."""

from __future__ import annotations

import numpy as np

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.stitching.place import place_tiles, rejection_reasons
from ofs_stitch.stitching.thresholds import (
    REJECTED_AS_LOOP_INCONSISTENT,
    REJECTED_FOR_DISCREPANCY,
    REJECTED_FOR_QUALITY,
    ThresholdSettings,
    select_pairs,
)

ROWS, COLS = 4, 4
# Pairs (by index in grid_scan's list) spoilt in three ways.
BLANK, FAR_OFF, SLIGHTLY_WRONG = 2, 7, 12


def grid_scan() -> tuple[np.ndarray, list[PairMeasurement]]:
    """Stage positions of a 4x4 scan and its neighbour pairs, three of them spoilt: a blank
    overlap (no correlation), a wrong peak far from the stage's prediction (of middling
    quality), and a convincing match 3 px off, which only the loops around it can expose."""
    rng = np.random.default_rng(11)
    truth = np.array([(r * 336.0, c * 448.0) for r in range(ROWS) for c in range(COLS)])
    stage = truth + rng.normal(0.0, 3.0, truth.shape)
    index = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    edges = [(index[r, c], index[r, c + 1]) for r in range(ROWS) for c in range(COLS - 1)]
    edges += [(index[r, c], index[r + 1, c]) for r in range(ROWS - 1) for c in range(COLS)]
    measurements = []
    for k, (i, j) in enumerate(edges):
        shift = truth[j] - truth[i] + rng.normal(0.0, 0.05, 2)
        pearson_r, peak_ratio = 0.9, 10.0
        if k == BLANK:
            pearson_r = 0.02
        elif k == FAR_OFF:
            shift, pearson_r, peak_ratio = shift + (80.0, -60.0), 0.4, 4.0
        elif k == SLIGHTLY_WRONG:
            shift = shift + (3.0, 0.0)
        measurements.append(
            PairMeasurement(
                i=int(i),
                j=int(j),
                shift=(float(shift[0]), float(shift[1])),
                expected_shift=tuple(stage[j] - stage[i]),
                pearson_r=pearson_r,
                peak_ratio=peak_ratio,
            )
        )
    return stage, measurements


def test_the_thresholds_say_why_they_rejected_a_pair() -> None:
    _, measurements = grid_scan()
    selection = select_pairs(measurements, ThresholdSettings())
    expected = [None] * len(measurements)
    expected[BLANK], expected[FAR_OFF] = REJECTED_FOR_QUALITY, REJECTED_FOR_DISCREPANCY
    assert list(selection.rejected) == expected
    assert [r is None for r in selection.rejected] == selection.accepted.tolist()


def test_manual_thresholds_say_why_too() -> None:
    _, measurements = grid_scan()
    # A low-quality pair is rejected for its quality even when it is also far off.
    settings = ThresholdSettings("manual", min_peak_quality=0.5, max_stage_discrepancy=50.0)
    selection = select_pairs(measurements, settings)
    expected = [None] * len(measurements)
    expected[BLANK] = expected[FAR_OFF] = REJECTED_FOR_QUALITY
    assert list(selection.rejected) == expected
    settings = ThresholdSettings("manual", min_peak_quality=0.2, max_stage_discrepancy=50.0)
    selection = select_pairs(measurements, settings)
    expected[FAR_OFF] = REJECTED_FOR_DISCREPANCY
    assert list(selection.rejected) == expected


def test_the_layout_names_the_pairs_the_loops_contradict() -> None:
    stage, measurements = grid_scan()
    selection = select_pairs(measurements, ThresholdSettings())
    assert selection.accepted[SLIGHTLY_WRONG]  # convincing: the thresholds keep it
    layout = place_tiles(stage, measurements, selection.accepted)
    assert np.flatnonzero(layout.loop_inconsistent).tolist() == [SLIGHTLY_WRONG]
    reasons = rejection_reasons(selection, layout)
    expected: list[str | None] = [None] * len(measurements)
    expected[BLANK], expected[FAR_OFF] = REJECTED_FOR_QUALITY, REJECTED_FOR_DISCREPANCY
    expected[SLIGHTLY_WRONG] = REJECTED_AS_LOOP_INCONSISTENT
    assert list(reasons) == expected
    assert [r is None for r in reasons] == layout.accepted.tolist()


def test_without_the_loop_check_no_pair_is_dropped_for_its_loops() -> None:
    stage, measurements = grid_scan()
    selection = select_pairs(measurements, ThresholdSettings())
    layout = place_tiles(stage, measurements, selection.accepted, reject_inconsistent=False)
    assert not layout.loop_inconsistent.any()
    assert rejection_reasons(selection, layout) == selection.rejected
