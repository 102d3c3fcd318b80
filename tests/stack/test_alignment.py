"""Alignment and balance of a moving stack, and what happens when frames cannot be aligned."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.stack import MisalignedError, align, balance, focus_stack
from ofs_stitch.testing import focus_stacks as fs


def test_every_frame_is_placed_within_a_tenth_of_a_pixel(moving_stack) -> None:
    stack = moving_stack
    alignment = align(stack.frames, "translation")
    assert alignment.reference == stack.reference
    assert alignment.table.status[stack.reference] == "reference"
    assert all(s in ("ok", "reference") for s in alignment.table.status)
    measured = np.array([m[:2, 2] for m in alignment.table.matrices])
    assert np.abs(measured - stack.shifts).max() < 0.1


def test_balance_recovers_the_gains(moving_stack) -> None:
    stack = moving_stack
    alignment = align(stack.frames, "translation")
    gains = balance(stack.frames, alignment)
    assert np.abs(gains.gains[:, 0] * stack.gains - 1).max() < 0.005
    per_channel = balance(stack.frames, alignment, mode="channels")
    assert per_channel.gains.shape == (6, 3)


def test_the_one_call_fuses_a_moving_stack(moving_stack) -> None:
    stack = moving_stack
    result = focus_stack(stack.frames)
    assert result.misaligned == [] and result.used == tuple(range(6))
    assert fs.psnr(result.fused.image, stack.truth, 8) >= 42.0


def test_frames_that_cannot_be_aligned_are_named(still_stack) -> None:
    frames = still_stack.frames.copy()
    rng = np.random.default_rng(0)
    frames[0] = rng.random(frames[0].shape, dtype=np.float32)  # nothing in common
    with pytest.raises(MisalignedError, match="could not align frame 0 ") as caught:
        focus_stack(frames, align_model="translation")
    assert caught.value.names == ("0",)
    result = focus_stack(frames, align_model="translation", allow_misaligned=True)
    assert result.misaligned == [0] and 0 not in result.used
    assert result.alignment.table.status[0] == "failed"
    assert result.fused.depth.min() >= 1.0  # depth counts the input's frames
