"""apply(): the series warped onto the reference, in its own dtype, on each canvas."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.core.transform import TransformTable
from ofs_stitch.drift import apply
from ofs_stitch.drift.alignment import frame_maps, output_canvas
from ofs_stitch.drift.table import DriftTable, matrix_from_parameters
from ofs_stitch.errors import InputError


def _truth_table(series) -> DriftTable:
    n = len(series.frames)
    transforms = TransformTable(
        tuple(str(k) for k in range(n)), series.matrices, np.full(n, np.nan), ("ok",) * n, "rigid"
    )
    return DriftTable(transforms, series.shape, "rigid")


def test_aligned_frames_match_the_reference(retina_series) -> None:
    aligned = apply(retina_series.frames, _truth_table(retina_series), interpolation="cubic")
    assert aligned.shape == retina_series.frames.shape and aligned.dtype == np.uint16
    inner = (slice(24, -24), slice(24, -24))
    reference = retina_series.frames[0][inner].astype(float)
    raw = np.abs(retina_series.frames[-1][inner] - reference).mean()
    after = np.abs(aligned[-1][inner] - reference).mean()
    # What is left is the two frames' own noise.
    noise = np.sqrt(2 / np.pi) * np.sqrt(2 * reference.mean())
    assert after < 1.3 * noise < raw


def test_integer_shifts_copy_samples() -> None:
    shape = (40, 50)
    frames = np.random.default_rng(0).integers(0, 255, (3, *shape), dtype=np.uint8)
    matrices = [matrix_from_parameters(d, -d, 0.3 * d, 1.0, shape) for d in (0.0, 2.2, 4.6)]
    table = DriftTable(
        TransformTable(
            ("0", "1", "2"), np.array(matrices), np.full(3, np.nan), ("ok",) * 3, "rigid"
        ),
        shape,
        "rigid",
    )
    aligned = apply(frames, table, integer=True)
    # Frame 2 moved by round(4.6) = 5 each way: out[p] = frame[p + (5, -5)].
    assert np.array_equal(aligned[2][:35, 5:], frames[2][5:, :45])
    assert set(np.unique(aligned[2])) <= set(np.unique(frames[2])) | {0}


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_dtype_and_channels_are_kept(dtype) -> None:
    shape = (32, 36)
    frames = np.random.default_rng(1).uniform(0, 200, (2, 2, *shape)).astype(dtype)
    matrices = np.array([np.eye(3), matrix_from_parameters(1.5, 0.5, 0, 1.0, shape)])
    table = DriftTable(
        TransformTable(("0", "1"), matrices, np.full(2, np.nan), ("ok",) * 2, "translation"),
        shape,
        "translation",
    )
    aligned = apply(frames, table)
    assert aligned.shape == frames.shape and aligned.dtype == dtype
    # Both channels moved the same way: out[p] = frame[p + (1.5, 0.5)].
    expected = 0.25 * (
        frames[1, :, 1:-1, 0:-1].astype(float)
        + frames[1, :, 2:, 0:-1]
        + frames[1, :, 1:-1, 1:]
        + frames[1, :, 2:, 1:]
    )
    tolerance = 0.51 if dtype == np.uint8 else 1e-3
    assert np.abs(aligned[1, :, :-2, :-1] - expected[:, :, :]).max() <= tolerance


def test_canvases(retina_series) -> None:
    table = _truth_table(retina_series)
    maps = frame_maps(table)
    same = output_canvas(maps, retina_series.shape, "same")
    crop = output_canvas(maps, retina_series.shape, "crop")
    expand = output_canvas(maps, retina_series.shape, "expand")
    assert (same.rows, same.cols) == retina_series.shape
    assert crop.rows < same.rows and crop.cols < same.cols
    assert expand.rows > same.rows and expand.cols > same.cols
    # Every pixel of the crop is seen by every frame; of the expanded canvas, by some frame.
    aligned = apply(retina_series.frames, table, canvas="crop")
    assert aligned.shape[1:] == (crop.rows, crop.cols)
    assert (aligned > 0).all()
    wide = apply(retina_series.frames, table, canvas="expand")
    assert wide.shape[1:] == (expand.rows, expand.cols)
    seen = (wide > 0).any(axis=0)
    # The bounding box of the union: tight on every side (rotated frames leave its corners).
    assert seen.mean() > 0.95
    assert seen[0].any() and seen[-1].any() and seen[:, 0].any() and seen[:, -1].any()


def test_mismatched_table_is_refused(retina_series) -> None:
    table = _truth_table(retina_series)
    with pytest.raises(InputError, match="12 frames but the series has 11"):
        apply(retina_series.frames[:11], table)
    with pytest.raises(InputError, match="measured on 192 x 192"):
        apply(retina_series.frames[:, :100], table)
