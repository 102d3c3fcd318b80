import numpy as np

from ofs_stitch.stitching.live.common_move import common_move


def test_the_median_move_of_the_tiles_drawn_before_ignores_new_and_odd_ones() -> None:
    drawn_slots = np.array([0, 2, 3, 5])
    drawn = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 0.0], [100.0, 100.0]])
    slots = np.array([0, 2, 3, 4, 5])  # 4 is new; 5 moved on its own
    now = np.array([[6.5, -4.0], [6.5, 96.0], [106.5, -4.0], [500.0, 500.0], [130.0, 96.0]])
    assert np.allclose(common_move(drawn_slots, drawn, slots, now), [6.5, -4.0])


def test_no_move_without_tiles_in_common() -> None:
    none = np.zeros(0, np.int64)
    assert np.array_equal(
        common_move(none, np.zeros((0, 2)), np.array([1]), np.ones((1, 2))), [0, 0]
    )
    assert np.array_equal(
        common_move(np.array([0]), np.zeros((1, 2)), np.array([1]), np.ones((1, 2))), [0, 0]
    )
