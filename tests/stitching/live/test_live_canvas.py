"""The live preview: repainted only where tiles arrived or moved, yet equal to a full repaint."""

from __future__ import annotations

import numpy as np

from ofs_stitch.stitching.live.canvas import LiveCanvas


def _grid(rows: int, cols: int) -> np.ndarray:
    return np.array([(r * 340.0, c * 450.0) for r in range(rows) for c in range(cols)])


def _tiles(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


def test_a_new_tile_repaints_its_footprint_only_and_matches_a_full_repaint() -> None:
    tiles = _tiles(30)
    positions = _grid(5, 6) + 1000.0  # the solve's frame need not start at 0
    canvas = LiveCanvas(width=600)
    for slot in range(29):
        canvas.set_tile(slot, tiles[slot])
        canvas.update(np.arange(slot + 1), positions[: slot + 1])
    area = canvas.pixels().shape[0] * canvas.pixels().shape[1]
    # The last row: the scale is settled, so a tile only paints about its own footprint.
    canvas.set_tile(29, tiles[29])
    moved = positions.copy()
    moved[:3] += 0.01  # far tiles moving by a hundredth of a pixel are not repainted
    canvas.update(np.arange(30), moved)
    assert 0 < canvas.painted_pixels < area / 10
    # Equal to painting everything afresh (where the far tiles were: their move was too small
    # to show, so they were left as they were painted).
    full = canvas.render(np.arange(30), positions, 600)
    np.testing.assert_array_equal(canvas.pixels(), full)
    # Each pixel shows the tile whose centre is nearest: the middle of tile 14 is its own.
    scale = full.shape[1] / (moved[:, 1].max() + 640 - moved[:, 1].min())
    centre = ((moved[14] + (240, 320) - moved.min(axis=0)) * scale).astype(int)
    assert full[centre[0], centre[1]].any()


def test_a_moved_or_removed_tile_is_repainted_where_it_was() -> None:
    tiles = _tiles(6)
    positions = _grid(2, 3)
    canvas = LiveCanvas(width=500)
    for slot in range(6):
        canvas.set_tile(slot, tiles[slot])
    canvas.update(np.arange(6), positions)
    shifted = positions.copy()
    shifted[4] += (30.0, -20.0)
    canvas.update(np.arange(6), shifted)
    np.testing.assert_array_equal(canvas.pixels(), canvas.render(np.arange(6), shifted, 500))
    kept = np.array([0, 1, 2, 3, 5])
    canvas.drop(4)
    canvas.update(kept, shifted[kept])
    np.testing.assert_array_equal(canvas.pixels(), canvas.render(kept, shifted[kept], 500))


def test_sixteen_bit_grey_tiles_are_shown_in_eight_bits() -> None:
    canvas = LiveCanvas(width=200)
    tile = np.full((100, 120), 4000, np.uint16)
    tile[:50] = 1000
    canvas.set_tile(0, tile)
    canvas.update(np.array([0]), np.zeros((1, 2)))
    pixels = canvas.pixels()
    assert pixels.dtype == np.uint8 and pixels.shape == (100, 120, 1)
    assert pixels[75, 60, 0] == 255 and 60 < pixels[25, 60, 0] < 70


def test_naming_the_changed_slots_repaints_as_looking_at_every_tile() -> None:
    tiles = _tiles(6)
    positions = _grid(2, 3)
    canvas = LiveCanvas(width=500)
    for slot in range(6):
        canvas.set_tile(slot, tiles[slot])
    canvas.update(np.arange(6), positions)
    shifted = positions.copy()
    shifted[4] += (30.0, -20.0)
    canvas.update(np.arange(6), shifted, changed=np.array([4]))
    np.testing.assert_array_equal(canvas.pixels(), canvas.render(np.arange(6), shifted, 500))
    kept = np.array([0, 1, 2, 3, 5])
    canvas.drop(4)
    canvas.update(kept, shifted[kept], changed=np.array([4]))
    np.testing.assert_array_equal(canvas.pixels(), canvas.render(kept, shifted[kept], 500))
    # A slot left out of ``changed`` is not looked at: it keeps what was painted.
    moved = shifted[kept].copy()
    moved[0] += (40.0, 40.0)
    canvas.update(kept, moved, changed=np.array([], np.int64))
    assert canvas.painted_pixels == 0


def test_the_whole_layout_moving_together_repaints_nothing() -> None:
    # A full placement moves every tile in the solve's frame by about the same few pixels.
    tiles = _tiles(6)
    positions = _grid(2, 3) + (0.31, 0.57)  # (solved positions: not whole pixels)
    canvas = LiveCanvas(width=500)
    for slot in range(6):
        canvas.set_tile(slot, tiles[slot])
    canvas.update(np.arange(6), positions)
    before = canvas.pixels()
    canvas.update(np.arange(6), positions + (37.3, -21.8))
    assert canvas.painted_pixels == 0
    np.testing.assert_array_equal(canvas.pixels(), before)
    # A tile moving besides is repainted where it is now, beside the others as drawn.
    moved = positions + (37.3, -21.8)
    moved[4] += (30.0, -20.0)
    canvas.update(np.arange(6), moved)
    assert 0 < canvas.painted_pixels < before.shape[0] * before.shape[1]
    expected = positions.copy()
    expected[4] += (30.0, -20.0)
    np.testing.assert_array_equal(canvas.pixels(), canvas.render(np.arange(6), expected, 500))
