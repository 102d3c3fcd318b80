"""The synthetic focus stacks: their truth is what the module says it is."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.core.registration import register_pair
from ofs_stitch.errors import InputError
from ofs_stitch.testing import focus_stacks as fs


def test_the_slice_nearest_the_surface_is_sharp_and_the_others_are_not(still_stack) -> None:
    stack = still_stack
    assert stack.frames.shape == (6, 192, 192, 3) and stack.frames.dtype == np.float32
    assert 0.3 <= stack.depth.min() and stack.depth.max() <= 6 - 1.3 + 1e-4
    per_slice = [fs.psnr(frame, stack.truth, 8) for frame in stack.frames]
    oracle = fs.psnr(stack.oracle(), stack.truth, 8)
    assert oracle > max(per_slice) + 10
    assert oracle > 45


def test_shifts_follow_the_registration_convention(moving_stack) -> None:
    stack = moving_stack
    reference = stack.frames[stack.reference]
    k = 0 if stack.reference != 0 else 1
    neighbour = stack.frames[stack.reference + 1]
    result = register_pair(reference.mean(axis=2), neighbour.mean(axis=2))
    expected = stack.shifts[stack.reference + 1]
    assert np.allclose(result.shift, expected, atol=0.15), (result.shift, expected, k)
    assert stack.gains[stack.reference] == 1.0 and np.all(np.abs(stack.gains - 1) <= 0.05)


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="slices"):
        fs.focus_stack(slices=1, size=64)
    with pytest.raises(InputError, match="unknown focus-stack source"):
        fs.focus_stack("moon", size=64)


def test_frames_are_written_as_8_or_16_bit_files(tmp_path, still_stack) -> None:
    import pyvips

    paths = fs.write_stack(tmp_path, still_stack, suffix=".tif", dtype=np.uint16)
    assert len(paths) == 6
    image = pyvips.Image.new_from_file(str(paths[0]))
    assert image.format == "ushort" and image.bands == 3
