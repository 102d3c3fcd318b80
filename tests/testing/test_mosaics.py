"""Tile files cut from a known image: the files hold exactly the truth the renderer must draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pyvips = pytest.importorskip("pyvips")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.testing.mosaics import (  # noqa: E402
    cut_scene,
    grid_positions,
    make_jpeg_scan,
    psnr,
    smooth_canvas,
    subpixel_scene,
)


def read(path: Path) -> np.ndarray:
    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def test_grid_positions_are_whole_jittered_and_start_at_zero() -> None:
    positions = grid_positions(3, 4, (100, 150), 5, seed=1)
    assert positions.shape == (12, 2) and positions.dtype.kind == "i"
    assert positions.min(axis=0).tolist() == [0, 0]
    nominal = np.array([(r * 100, c * 150) for r in range(3) for c in range(4)])
    assert np.ptp(positions - nominal, axis=0).max() <= 10


def test_cut_tiles_are_the_canvas_at_their_positions(tmp_path: Path) -> None:
    canvas = smooth_canvas((120, 200), 3, np.uint8, seed=2)
    assert canvas.dtype == np.uint8 and canvas.shape == (120, 200, 3) and canvas.std() > 20
    positions = grid_positions(2, 3, (40, 60), 3, seed=4)
    scene = cut_scene(tmp_path, canvas, positions, (50, 70))
    for path, (r, c) in zip(scene.layout.paths, positions):
        assert np.array_equal(read(path), canvas[r : r + 50, c : c + 70])
    assert np.array_equal(scene.truth, canvas[: scene.layout.height, : scene.layout.width])
    with pytest.raises(InputError, match="too small"):
        cut_scene(tmp_path / "big", canvas, positions, (150, 70))


def test_subpixel_tiles_are_the_waves_at_their_positions(tmp_path: Path) -> None:
    layout, waves, positions = subpixel_scene(tmp_path, 2, 2, (30, 40), seed=3)
    rows, cols = np.mgrid[0:30, 0:40]
    for path, (r, c) in zip(layout.paths, positions):
        truth = waves(r + rows, c + cols)
        assert np.abs(read(path) - truth).max() <= 0.5 + 1e-9  # rounding only
    assert np.ptp(positions - np.round(positions)) > 0.5  # really sub-pixel


def test_jpeg_scan_names_tiles_by_position(tmp_path: Path) -> None:
    paths, positions = make_jpeg_scan(tmp_path, 2, 2, (32, 48), seed=1)
    for path, (r, c) in zip(paths, positions):
        assert path.name == f"img_{int(c)}_{int(r)}.jpg"
        assert read(path).shape == (32, 48, 3)


def test_psnr_of_a_known_error() -> None:
    truth = np.zeros((10, 10))
    image = truth + 2.55  # RMS error 2.55 = peak / 100: 40 dB
    assert abs(psnr(image, truth, np.ones((10, 10), bool)) - 40.0) < 1e-9
