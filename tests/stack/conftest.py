"""Small synthetic focus stacks shared by the stack family's tests (made once per session)."""

from __future__ import annotations

import pytest

pytest.importorskip("skimage")

from ofs_stitch.testing.focus_stacks import FocusStack, focus_stack  # noqa: E402


@pytest.fixture(scope="session")
def still_stack() -> FocusStack:
    """192x192 of immunohistochemistry, 6 slices, light noise, no motion."""
    return focus_stack("immunohistochemistry", slices=6, noise=0.002, size=192, seed=3)


@pytest.fixture(scope="session")
def moving_stack() -> FocusStack:
    """The same with +-3 px shifts and +-5 % gains."""
    return focus_stack(
        "immunohistochemistry",
        slices=6,
        noise=0.002,
        size=192,
        seed=3,
        max_shift=3.0,
        max_gain=0.05,
    )
