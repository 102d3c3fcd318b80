"""The C++ pyramid steps: exact reconstruction, sizes, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch._core import focus
from ofs_stitch.stack import pyramid


@pytest.mark.parametrize("shape", [(64, 64, 3), (37, 50, 1), (9, 8, 3), (1, 5, 1)])
def test_collapse_gives_back_the_image(shape) -> None:
    rng = np.random.default_rng(0)
    image = rng.random(shape, dtype=np.float32)
    original = image.copy()
    levels = pyramid.level_count(shape[:2], 4)
    bands = pyramid.build(image, max(levels, 1) if min(shape[:2]) > 1 else 0, threads=2)
    assert np.array_equal(image, original), "the input must not be written"
    assert np.allclose(pyramid.collapse(bands, threads=2), original, atol=1e-5)


def test_reduce_of_a_constant_is_the_constant_and_halves_the_size() -> None:
    image = np.full((11, 6, 3), 0.25, np.float32)
    smaller = np.empty((6, 3, 3), np.float32)
    focus.reduce(image, smaller, 1)
    assert np.allclose(smaller, 0.25)
    with pytest.raises(ValueError, match="dst must be"):
        focus.reduce(image, np.empty((5, 3, 3), np.float32), 1)


def test_results_do_not_depend_on_the_thread_count() -> None:
    image = np.random.default_rng(1).random((200, 120, 3), dtype=np.float32)
    one = pyramid.build(image, 3, threads=1)
    four = pyramid.build(image, 3, threads=4)
    assert all(np.array_equal(a, b) for a, b in zip(one, four))


def test_wrong_arrays_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="src must be float32"):
        focus.reduce(np.zeros((8, 8)), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="best_index"):
        focus.select_max(
            np.zeros((4, 4), np.float32),
            np.zeros((4, 4), np.float32),
            np.zeros((4, 4), np.float32),
            np.zeros((4, 4), np.int64),
            None,
            0,
        )


def test_selection_keeps_the_most_energetic_frame_and_gathers_it() -> None:
    energy = np.zeros((2, 2), np.float32) - 1
    chosen = np.zeros((2, 2), np.int32)
    best = np.zeros((2, 2, 1), np.float32)
    for index, values in enumerate([[[1, 5], [2, 0]], [[3, 1], [2, 7]]]):
        e = np.array(values, np.float32)
        focus.select_max(e, e[:, :, None].copy(), energy, chosen, best, index)
    assert chosen.tolist() == [[1, 0], [0, 1]]  # ties keep the earlier frame
    assert best[:, :, 0].tolist() == [[3, 5], [2, 7]]
    out = np.zeros((2, 2, 1), np.float32)
    focus.gather(np.ones((2, 2, 1), np.float32), chosen, 1, out)
    assert out[:, :, 0].tolist() == [[1, 0], [0, 1]]
