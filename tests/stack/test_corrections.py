"""Hot-pixel masking and vignetting correction (options before alignment)."""

from __future__ import annotations

import numpy as np

from ofs_stitch.stack.corrections import (
    Corrections,
    estimate_vignetting,
    find_hot_pixels,
    vignetting_profile,
)
from ofs_stitch.stack.frames import ArrayFrames


def test_hot_pixels_are_found_in_most_frames_and_filled_from_neighbours(still_stack) -> None:
    frames = still_stack.frames.copy()
    hot = [(10, 20), (100, 5), (150, 150)]
    for row, col in hot:
        frames[:, row, col, :] = 1.0
    # A bright speck in one frame only is scene, not sensor.
    frames[0, 60, 60, :] = 1.0
    found = find_hot_pixels(ArrayFrames(frames))
    assert sorted(zip(*np.nonzero(found))) == hot
    fixed = Corrections(hot=found).apply(frames[2].copy())
    for row, col in hot:
        neighbours = still_stack.frames[2, row - 1 : row + 2, col - 1 : col + 2].mean(axis=(0, 1))
        assert np.abs(fixed[row, col] - neighbours).max() < 0.1


def test_vignetting_is_estimated_and_removed() -> None:
    # The estimate assumes a scene evenly bright on average from centre to corners (a texture
    # here; on immunohistochemistry, whose stain is itself uneven, the content dominates it).
    from scipy import ndimage

    rng = np.random.default_rng(4)
    scene = ndimage.gaussian_filter(rng.random((256, 256)), 2).astype(np.float32)
    scene = (0.5 + (scene - scene.mean()) * 4)[:, :, None]
    falloff = vignetting_profile((256, 256), (-0.3, 0.0))[:, :, None]
    frames = np.stack([scene * falloff] * 3)
    a, b = estimate_vignetting(ArrayFrames(frames), block=8)
    corrected = Corrections(vignetting=(a, b)).apply(frames[1].copy())
    ratio = corrected / scene
    centre, corner = ratio[112:144, 112:144].mean(), ratio[:24, :24].mean()
    assert abs(corner / centre - 1) < 0.05
    before = frames[1] / scene
    assert before[:24, :24].mean() / before[112:144, 112:144].mean() < 0.8
