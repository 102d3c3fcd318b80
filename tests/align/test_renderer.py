"""``Renderer``: tiles painted through their maps, against ``scipy.ndimage.affine_transform``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ofs_stitch import InputError, Renderer


def tile_to_canvas_rc(affine: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    """scipy's matrix: canvas (row, col) -> tile (row, col) for a tile with model map A."""
    canvas_to_model = np.array([[0.0, 1.0, origin[0]], [1.0, 0.0, origin[1]], [0.0, 0.0, 1.0]])
    tile_xy = np.linalg.inv(np.vstack([affine, [0, 0, 1]])) @ canvas_to_model
    return tile_xy[[1, 0, 2]]


@pytest.fixture(scope="module")
def tile() -> np.ndarray:
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.random((60, 80)), 1.0).astype(np.float32)


AFFINE = np.array([[np.cos(0.1), -np.sin(0.1) * 1.02, 15.3], [np.sin(0.1), np.cos(0.1), -7.6]])


def test_linear_matches_scipy(tile) -> None:
    renderer = Renderer(affine={"t": AFFINE}, tile_size=(80, 60))
    renderer.render("t", tile)
    matrix = tile_to_canvas_rc(AFFINE, renderer.origin)
    expected = ndimage.affine_transform(
        tile, matrix, output_shape=renderer.image.shape, order=1, mode="constant", cval=0.0
    )
    np.testing.assert_allclose(renderer.image, expected, atol=1e-6)
    # Linear interpolation covers the tile's pixel centres, (w - 1) x (h - 1), scaled by det A.
    area = 79 * 59 * np.linalg.det(AFFINE[:, :2])
    assert renderer.coverage.sum() == pytest.approx(area, rel=0.01)


def test_nearest_matches_scipy(tile) -> None:
    renderer = Renderer(affine={"t": AFFINE}, interpolation="nearest")
    renderer.render("t", tile)
    matrix = tile_to_canvas_rc(AFFINE, renderer.origin)
    expected = ndimage.affine_transform(
        tile, matrix, output_shape=renderer.image.shape, order=0, mode="constant", cval=0.0
    )
    # scipy rounds positions at exactly .5 the other way; none fall there with this map.
    assert (renderer.image == expected).mean() > 0.999


def test_canvas_grows_and_rigid_tiles_land_exactly() -> None:
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 255, (100, 140, 3), dtype=np.uint8)
    origins = {"left": (0, 0), "right": (60, 30), "up": (20, -20)}  # (x, y)
    renderer = Renderer(rigid=origins, tile_size=(80, 50))
    for name, (x, y) in origins.items():
        renderer.render(name, scene[y + 20 : y + 70, x : x + 80])
    assert renderer.origin == (0.0, -20.0)
    assert renderer.image.shape == (100, 140, 3) and renderer.image.dtype == np.uint8
    covered = renderer.coverage
    np.testing.assert_array_equal(renderer.image, scene * covered[:, :, None])
    assert covered.sum() == 3 * 80 * 50 - 30 * 60 - 20 * 20  # three tiles less two overlaps
    assert not covered[0, 139]  # no tile reaches the top right corner


def test_feathering_blends_agreeing_tiles_seamlessly(tile) -> None:
    scene = ndimage.zoom(tile, 2, order=1)  # 120 x 160
    maps = {"a": (0.0, 0.0), "b": (50.0, 10.0)}
    renderer = Renderer(rigid=maps, tile_size=(100, 100), feather=12)
    renderer.render("a", scene[0:100, 0:100])
    renderer.render("b", scene[10:110, 50:150])
    np.testing.assert_allclose(renderer.image, scene[:110, :150] * renderer.coverage, atol=1e-5)
    # Where the tiles disagree, the feathered canvas moves smoothly from one to the other.
    ramp = Renderer(rigid=maps, tile_size=(100, 100), feather=12)
    ramp.render("a", np.zeros((100, 100), np.float32))
    ramp.render("b", np.ones((100, 100), np.float32))
    row = ramp.image[50, 40:110]
    assert np.all(np.diff(row) >= -1e-6) and row[0] == 0 and row[-1] == 1
    assert np.abs(np.diff(row)).max() < 0.1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Renderer(tile_size=(4, 4)), "one of them"),
        (lambda: Renderer(rigid={}, affine={}), "one of them"),
        (lambda: Renderer(rigid={"a": (1, 2, 3)}), "origin"),
        (lambda: Renderer(affine={"a": np.eye(2)}), "2x3"),
        (lambda: Renderer(affine={"a": np.zeros((2, 3))}), "singular"),
        (lambda: Renderer(rigid={"a": (0, 0)}, interpolation="cubic"), "interpolation"),
        (lambda: Renderer(rigid={"a": (0, 0)}, feather=-1), "feather"),
        (lambda: Renderer(rigid={"a": (0, 0)}, tile_size=(0, 4)), "tile_size"),
    ],
)
def test_bad_setup_says_what_to_change(make, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make()


def test_bad_tiles_say_what_to_change() -> None:
    renderer = Renderer(rigid={"a": (0, 0), "b": (5, 0)}, tile_size=(8, 6))
    with pytest.raises(InputError, match="has no map"):
        renderer.render("z", np.zeros((6, 8)))
    with pytest.raises(InputError, match="is 6x8 but tile_size is 8x6"):
        renderer.render("a", np.zeros((8, 6)))
    renderer.render("a", np.zeros((6, 8), np.uint8))
    with pytest.raises(InputError, match="render tiles of one kind"):
        renderer.render("b", np.zeros((6, 8), np.uint16))
