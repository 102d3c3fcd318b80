"""Real data: the PC12 fluorescence series of pystackreg's examples, against ImageJ StackReg's
rigid-body result (skipped when ../shared/data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from data_paths import SHARED_DATA

from ofs_stitch.core.affine_registration import refine_transform
from ofs_stitch.drift import apply, estimate
from ofs_stitch.drift.report import endpoint_motion

DATA = SHARED_DATA / "drift_pc12_pystackreg"
# Residual motion is measured away from the edges, where StackReg's fill and ours differ.
MARGIN = 20

pytestmark = pytest.mark.skipif(
    not (DATA / "pc12-unreg.tif").is_file(), reason="shared data drift_pc12_pystackreg absent"
)


def _motion(a: np.ndarray, b: np.ndarray) -> float:
    """Mean endpoint motion (px) of b against a, both cut to the interior."""
    cut_a = np.ascontiguousarray(a[MARGIN:-MARGIN, MARGIN:-MARGIN], dtype=np.float32)
    cut_b = np.ascontiguousarray(b[MARGIN:-MARGIN, MARGIN:-MARGIN], dtype=np.float32)
    found = refine_transform(cut_a, cut_b, np.eye(3), "rigid", factors=(2, 1))
    assert found.found
    box = (0, 0, cut_a.shape[0], cut_a.shape[1])
    return float(endpoint_motion(found.matrix[np.newaxis], box)[0])


def test_rigid_drift_agrees_with_stackreg_within_its_precision() -> None:
    frames = tifffile.imread(DATA / "pc12-unreg.tif")
    stackreg = tifffile.imread(DATA / "pc12-reg-rigid-body.tif")
    table = estimate(frames, model="rigid")
    assert table.status.count("interpolated") == 0
    ours = apply(frames, table, interpolation="cubic")
    # The frames jump by up to ~15 px along rows.
    assert table.parameters()[:, 0].min() < -14
    # StackReg's own precision: the motion its registered frames keep against its first.
    theirs = [_motion(stackreg[0], stackreg[k]) for k in range(1, 5)]
    disagreement = [_motion(stackreg[k], ours[k]) for k in range(1, 5)]
    left = [_motion(ours[0], ours[k]) for k in range(1, 5)]
    # Measured: disagreement 0.24-0.37 px where StackReg keeps 0.21-0.36 px and we 0.02-0.14.
    assert max(disagreement) <= max(theirs) + 0.1
    assert np.mean(left) < np.mean(theirs)
