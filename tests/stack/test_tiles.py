"""Fusion in tiles gives the whole-frame result: every method, odd sizes, masked frames, and
frames read from the command's cache through a memory map."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.stack import FusionSettings, fuse
from ofs_stitch.stack.corrected import CorrectedFrames
from ofs_stitch.stack.frames import ArrayFrames, Frame
from ofs_stitch.stack.tiles import Box, plan, read_area

# Pyramid: the coarse levels are collapsed separately and added (float rounding); the others
# are pixel by pixel the same.
PYRAMID_TOLERANCE = 1e-6


class MaskedFrames(ArrayFrames):
    """Frames with a validity mask that differs per frame (as warped frames have), and no
    region reader of their own: tiles crop whole frames."""

    def frame(self, index: int) -> Frame:
        frame = super().frame(index)
        valid = np.ones(frame.pixels.shape[:2], bool)
        valid[:, : 3 + 5 * index] = False
        valid[-2 - index :, :] = False
        return Frame(frame.pixels, valid)

    region = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"consistency": 3, "window": 4},
        {"levels": 2},
        {"method": "depthmap"},
        {"method": "depthmap", "energy": "variance", "smoothing": 3.0},
        {"method": "depthmap", "energy": "sobel", "selection": "weighted"},
        {"method": "average"},
    ],
)
@pytest.mark.parametrize("wrapper", [ArrayFrames, MaskedFrames])
def test_tiles_give_the_whole_frame_result(still_stack, options, wrapper) -> None:
    frames = still_stack.frames[:, :181, :157]  # odd sizes: tiles end mid-way
    whole = fuse(wrapper(frames), FusionSettings(tile=None, **options))
    tiled = fuse(wrapper(frames), FusionSettings(tile=48, **options))
    tolerance = PYRAMID_TOLERANCE if options.get("method", "pyramid") == "pyramid" else 0.0
    assert np.abs(tiled.image - whole.image).max() <= tolerance
    assert np.array_equal(tiled.depth, whole.depth)
    assert np.array_equal(tiled.confidence, whole.confidence)


def test_grey_frames_and_one_tile_per_frame(still_stack) -> None:
    grey = still_stack.frames[:, :100, :90].mean(axis=3)
    whole = fuse(grey, FusionSettings(tile=None))
    assert np.abs(fuse(grey, FusionSettings(tile=32)).image - whole.image).max() <= 1e-6
    # A frame no larger than one tile is fused whole.
    assert np.array_equal(fuse(grey, FusionSettings(tile=512)).image, whole.image)


def test_the_plan_covers_the_frame_once_and_aligns_its_regions() -> None:
    tiles = plan((300, 500), 128, 40, align=8)
    covered = np.zeros((300, 500), int)
    for tile in tiles:
        covered[tile.inside.slices] += 1
        region = tile.region
        assert region.top % 8 == 0 and region.left % 8 == 0
        assert region.top <= tile.inside.top and region.bottom >= tile.inside.bottom
        assert tile.inside.top - region.top in (0, 40) and region.bottom <= 300
    assert (covered == 1).all()
    assert 1.0 < read_area((300, 500), tiles) < 2.5
    assert plan((300, 500), None, 40) == plan((300, 500), 512, 40)


def test_cached_frames_are_read_by_region(tmp_path, moving_stack) -> None:
    from ofs_stitch.stack import align

    alignment = align(moving_stack.frames, "translation")
    cached = CorrectedFrames(ArrayFrames(moving_stack.frames), alignment, cache=tmp_path)
    box = Box(10, 70, 33, 101)
    for index in (0, 5):  # moved frames (the middle one, 3, is not warped: no mask)
        whole = cached.frame(index)
        part = cached.region(index, box)
        assert np.array_equal(part.pixels, whole.pixels[box.slices])
        assert whole.valid is not None and part.valid is not None
        assert np.array_equal(part.valid, whole.valid[box.slices])
    assert (tmp_path / "frame_00000.npy").exists() and (tmp_path / "frame_00000_valid.npy").exists()
    assert not list(tmp_path.glob("*.npz"))
