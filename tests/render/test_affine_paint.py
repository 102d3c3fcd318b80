"""Rendering layouts whose tiles carry affine maps (``--transform affine``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ofs_stitch.io.pixel_format import pixel_format_of
from ofs_stitch.render.compose import file_source, render_array
from ofs_stitch.render.geometry import (
    affine_layout,
    layout_from_arrays,
    scaled_layout,
    with_headers,
)
from ofs_stitch.testing.mosaics import save_tile, smooth_canvas


def turned(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    m = np.eye(3)
    m[:2, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m[:2, 2] = shift
    return m


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return smooth_canvas((260, 330), 1, np.uint8, seed=4)[:, :, 0]


def tiles_of(scene: np.ndarray, maps: list[np.ndarray], shape: tuple[int, int], folder) -> list:
    """Tile files whose pixel (r, c) shows the scene at map @ (r, c, 1) (bilinear)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    paths = []
    for t, m in enumerate(maps):
        r = m[0, 0] * rows + m[0, 1] * cols + m[0, 2]
        c = m[1, 0] * rows + m[1, 1] * cols + m[1, 2]
        pixels = ndimage.map_coordinates(scene.astype(float), [r, c], order=1)
        paths.append(save_tile(np.rint(pixels).astype(np.uint8), folder / f"t{t}.png"))
    return paths


@pytest.mark.parametrize("blend", ["nearest", "feather"])
def test_whole_pixel_maps_render_as_the_translation_layout(scene, tmp_path, blend: str) -> None:
    shape = (100, 120)
    origins = [(10, 10), (10, 100), (80, 40)]
    maps = [turned(0, 1, o) for o in origins]
    paths = tiles_of(scene, maps, shape, tmp_path)
    shapes = np.array([shape] * 3)
    plain = with_headers(layout_from_arrays(paths, np.array(origins, float), shapes))
    mapped = with_headers(affine_layout(paths, np.array(maps), shapes))
    assert (mapped.height, mapped.width) == (plain.height, plain.width)
    fmt = pixel_format_of(plain.headers)
    expected = render_array(plain, file_source(plain, fmt), blend=blend)
    found = render_array(mapped, file_source(mapped, fmt), blend=blend)
    if blend == "nearest":
        np.testing.assert_array_equal(found, expected)
    else:  # bilinear against the translation painter's exact copies at whole pixels
        assert np.abs(found.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("blend", ["nearest", "feather"])
def test_turned_tiles_land_on_the_scene(scene, tmp_path, blend: str) -> None:
    shape = (110, 130)
    maps = [turned(1.5, 1.01, (20, 20)), turned(-1.0, 0.99, (25, 120)), turned(0.5, 1.0, (110, 60))]
    paths = tiles_of(scene, maps, shape, tmp_path)
    layout = with_headers(affine_layout(paths, np.array(maps), np.array([shape] * 3)))
    fmt = pixel_format_of(layout.headers)
    mosaic = render_array(layout, file_source(layout, fmt), blend=blend, alpha=True)
    covered = mosaic[:, :, 1] > 0
    r0, c0 = (int(v) for v in layout.origin)
    truth = scene[r0 : r0 + layout.height, c0 : c0 + layout.width]
    inner = ndimage.binary_erosion(covered, iterations=3)
    difference = np.abs(mosaic[:, :, 0].astype(int) - truth.astype(int))[inner]
    # The scene changes by 11.7 levels per pixel on average: a tile one pixel off would differ
    # by about that much; sampling the nearest pixel costs up to half of it, bilinear far less.
    assert np.mean(difference) < (6.0 if blend == "nearest" else 2.5)
    assert inner.sum() > 0.5 * covered.sum()
    # The preview's scaled layout shows the same at half size.
    half = scaled_layout(layout, 0.5)
    small = render_array(half, file_source(half, fmt), blend=blend)
    assert small.shape[:2] == (int(np.ceil(layout.height / 2)), int(np.ceil(layout.width / 2)))
    qr, qc = np.mgrid[0 : small.shape[0], 0 : small.shape[1]].astype(float)
    inside = inner[::2, ::2][: small.shape[0], : small.shape[1]]
    inside = ndimage.binary_erosion(inside, iterations=2)

    def error(shift: tuple[int, int]) -> float:
        # Preview pixel q covers full-size pixels 2q and 2q + 1: the scene at 2q + 0.5.
        rows, cols = r0 + 2 * (qr + shift[0]) + 0.5, c0 + 2 * (qc + shift[1]) + 0.5
        truth = ndimage.map_coordinates(scene.astype(float), [rows, cols], order=1)
        return float(np.mean(np.abs(small[:, :, 0] - truth)[inside]))

    assert error((0, 0)) < 0.6 * min(error(s) for s in ((1, 0), (0, 1), (-1, 0), (0, -1)))
