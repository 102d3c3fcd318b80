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


def test_lag_two_links_are_predicted_and_threads_do_not_change_the_result(moving_stack) -> None:
    stack = moving_stack
    one = align(stack.frames, "similarity", threads=1)
    every = align(stack.frames, "similarity", threads=0)
    for a, b in zip(one.table.matrices, every.table.matrices, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    lag2 = [link for link in every.links if abs(link.to - link.source) == 2]
    assert len(lag2) == 4 and all(link.accepted for link in lag2)
    lag1 = {(link.source, link.to): link for link in every.links if abs(link.to - link.source) == 1}
    for link in lag2:
        mid = (link.source + link.to) // 2
        spanned = [lag1.get((link.source, mid)), lag1.get((mid, link.to))]
        spanned += [lag1.get((mid, link.source)), lag1.get((link.to, mid))]
        qualities = [s.quality for s in spanned if s is not None]
        assert link.quality == min(qualities)  # predicted, not searched
    measured = np.array([m[:2, 2] for m in every.table.matrices])
    assert np.abs(measured - stack.shifts).max() < 0.1
