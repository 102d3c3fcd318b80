"""Fusion methods on a small synthetic stack with known truth (no motion)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ofs_stitch.errors import InputError
from ofs_stitch.stack import FusionSettings, fuse
from ofs_stitch.testing import focus_stacks as fs


def argmax_baseline(frames: np.ndarray) -> np.ndarray:
    """The plain numpy baseline: argmax of the smoothed squared Laplacian."""
    energy = np.stack(
        [ndimage.gaussian_filter(ndimage.laplace(f.mean(axis=2)) ** 2, 2.0) for f in frames]
    )
    choice = energy.argmax(axis=0)
    rows, cols = np.indices(choice.shape)
    return frames[choice, rows, cols]


def test_pyramid_fusion_is_near_the_oracle_and_at_least_the_baseline(still_stack) -> None:
    stack = still_stack
    fused = fuse(stack.frames)
    ours = fs.psnr(fused.image, stack.truth, 8)
    assert ours >= fs.psnr(argmax_baseline(stack.frames), stack.truth, 8) - 0.2
    assert ours >= fs.psnr(stack.oracle(), stack.truth, 8) - 1.0
    assert fs.ssim(fused.image, stack.truth, 8) >= 0.995
    # The depth map follows the surface where there is texture to tell.
    confident = fused.confidence > 0.5
    assert confident.mean() > 0.2
    error = np.abs(fused.depth - stack.depth)[confident]
    assert np.median(error) <= 0.6


@pytest.mark.parametrize(
    "settings, margin",
    [
        (FusionSettings(method="depthmap"), 1.0),
        (FusionSettings(method="depthmap", energy="sobel"), 1.5),
        (FusionSettings(method="depthmap", energy="variance", smoothing=3), 3.0),
        (FusionSettings(method="depthmap", selection="weighted"), 4.0),
    ],
)
def test_depthmap_methods_come_close_to_the_oracle(still_stack, settings, margin) -> None:
    stack = still_stack
    fused = fuse(stack.frames, settings)
    assert fs.psnr(fused.image, stack.truth, 8) >= fs.psnr(stack.oracle(), stack.truth, 8) - margin


def test_average_is_a_blend_better_than_any_frame(still_stack) -> None:
    stack = still_stack
    fused = fuse(stack.frames, method="average")
    best_frame = max(fs.psnr(f, stack.truth, 8) for f in stack.frames)
    assert fs.psnr(fused.image, stack.truth, 8) > best_frame


def test_integer_frames_and_grey_frames_are_accepted(still_stack) -> None:
    frames8 = fs.to_uint8(still_stack.frames)
    fused8 = fuse(frames8)
    assert fused8.image.shape == (192, 192, 3)
    grey = fs.to_uint16(still_stack.frames.mean(axis=3))
    fused_grey = fuse(grey)
    assert fused_grey.image.shape == (192, 192, 1)
    assert fs.psnr(fused8.image, still_stack.truth, 8) > 40


def test_the_input_stack_is_never_written(still_stack) -> None:
    frames = still_stack.frames[:3].copy()
    before = frames.copy()
    for method in ("pyramid", "depthmap", "average"):
        fuse(frames, method=method)
    assert np.array_equal(frames, before)


def test_bad_settings_are_one_clear_error() -> None:
    with pytest.raises(InputError, match="method 'median' is unknown"):
        FusionSettings(method="median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="shape"):
        fuse(np.zeros((4, 4)))
    with pytest.raises(InputError, match="either settings or keyword"):
        fuse(np.zeros((2, 8, 8), np.float32), FusionSettings(), method="average")
