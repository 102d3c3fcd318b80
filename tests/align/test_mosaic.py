"""The maps of a placement handed to the mosaic writers: the files show what `Renderer.image`
shows, for tiles held as arrays or read from files, and bad input says what to change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pyvips = pytest.importorskip("pyvips")

from ofs_stitch.align import Renderer, write_mosaic  # noqa: E402
from ofs_stitch.errors import ImageReadError, InputError  # noqa: E402
from ofs_stitch.testing.affine_grids import affine_grid  # noqa: E402


@pytest.fixture(scope="module")
def grid():
    return affine_grid(2, 2, tile_size=(160, 120), seed=3)


@pytest.fixture(scope="module")
def tiles16(grid) -> dict:
    return {k: np.clip(t * 65535, 0, 65535).astype(np.uint16) for k, t in grid.tiles.items()}


def covered_once(maps: dict, tiles: dict, interpolation: str, reference: Renderer) -> np.ndarray:
    """Canvas pixels of ``reference`` that exactly one tile covers (no blending rule applies)."""
    count = np.zeros(reference.image.shape[:2], int)
    for key, tile in tiles.items():
        single = Renderer(affine={key: maps[key]}, interpolation=interpolation)
        single.render(key, tile)
        y = int(single.origin[1] - reference.origin[1])
        x = int(single.origin[0] - reference.origin[0])
        rows, cols = single.coverage.shape
        count[y : y + rows, x : x + cols] += single.coverage
    return count == 1


def read(path: Path) -> np.ndarray:
    return pyvips.Image.new_from_file(str(path)).numpy()


def test_written_mosaic_equals_the_renderer_where_one_tile_covers(grid, tiles16, tmp_path) -> None:
    renderer = Renderer(affine=grid.maps, tile_size=grid.tile_size, interpolation="nearest")
    for key, tile in tiles16.items():
        renderer.render(key, tile)
    written = renderer.write(tmp_path / "mosaic.ome.tiff", tiles16, blend="nearest")
    assert written.paths == (tmp_path / "mosaic.ome.tiff",)
    assert written.origin == renderer.origin
    mosaic = read(tmp_path / "mosaic.ome.tiff")  # 16-bit: lossless
    assert mosaic.shape == renderer.image.shape == (written.height, written.width)
    once = covered_once(grid.maps, tiles16, "nearest", renderer)
    assert once.mean() > 0.5
    np.testing.assert_array_equal(mosaic[once], renderer.image[once])
    # Where tiles overlap the rules differ (nearest centre; the Renderer: last painted), but
    # both show the scene: the maps line the tiles up.
    both = renderer.coverage & ~once
    difference = np.abs(mosaic[both].astype(float) - renderer.image[both]) / 65535
    assert np.median(difference) < 0.02


def test_tile_files_rigid_maps_and_every_format_in_one_pass(grid, tiles16, tmp_path) -> None:
    files = {}
    for (r, c), tile in tiles16.items():
        files[(r, c)] = tmp_path / f"tile_{r}_{c}.png"
        pyvips.Image.new_from_array(tile).copy(interpretation="grey16").pngsave(str(files[(r, c)]))
    origins = {k: (float(m[0, 2]), float(m[1, 2])) for k, m in grid.maps.items()}
    outputs = [tmp_path / "m.jpg", tmp_path / "m.ome.tiff", tmp_path / "m.dzi"]
    written = write_mosaic(outputs, origins, files, blend="feather")
    assert set(written.paths) == set(outputs) | {tmp_path / "m_files"}
    assert all(p.exists() for p in written.paths)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("m")) == [
        "m.dzi",
        "m.jpg",
        "m.ome.tiff",
        "m_files",
    ]  # nothing staged left behind
    renderer = Renderer(rigid=origins, interpolation="linear")
    for key, tile in tiles16.items():
        renderer.render(key, tile)
    mosaic = read(tmp_path / "m.ome.tiff")
    once = covered_once(
        {k: np.column_stack([np.eye(2), o]) for k, o in origins.items()},
        tiles16,
        "linear",
        renderer,
    )
    # Bilinear samples of the same tile; the two round differently by at most one level.
    assert np.abs(mosaic[once].astype(int) - renderer.image[once]).max() <= 1
    # The JPEG: 8-bit (16-bit white stretched to the preview's white level), lossy.
    jpeg = read(tmp_path / "m.jpg")
    assert jpeg.shape == mosaic.shape
    assert np.corrcoef(jpeg[once].astype(float), mosaic[once].astype(float))[0, 1] > 0.99


@pytest.mark.parametrize(
    ("paths", "maps_keys", "tile", "message"),
    [
        ("mosaic.png", None, None, "unknown kind of mosaic file"),
        (["a.jpg", "b.jpeg"], None, None, "write one of each kind"),
        ("missing/mosaic.jpg", None, None, "does not exist"),
        ("mosaic.jpg", [(0, 0)], None, "have no map"),
        ("mosaic.jpg", None, np.zeros((120, 160), np.float32), "uint8 or uint16"),
        ("mosaic.jpg", None, np.zeros((60, 80), np.uint8), "tile_size"),
    ],
)
def test_bad_input_says_what_to_change(
    grid, tiles16, tmp_path, paths, maps_keys, tile, message
) -> None:
    maps = grid.maps if maps_keys is None else {k: grid.maps[k] for k in maps_keys}
    renderer = Renderer(affine=maps, tile_size=grid.tile_size)
    tiles = dict(tiles16)
    if tile is not None:
        tiles[(0, 0)] = tile
    listed = [tmp_path / p for p in ([paths] if isinstance(paths, str) else paths)]
    with pytest.raises(InputError, match=message):
        renderer.write(listed, tiles)
    assert not any(tmp_path.iterdir())


def test_a_corrupt_tile_leaves_no_file(grid, tiles16, tmp_path) -> None:
    files = {}
    for (r, c), tile in tiles16.items():
        files[(r, c)] = tmp_path / f"tile_{r}_{c}.png"
        pyvips.Image.new_from_array(tile).copy(interpretation="grey16").pngsave(str(files[(r, c)]))
    data = files[(1, 1)].read_bytes()
    files[(1, 1)].write_bytes(data[: len(data) // 3])
    before = sorted(tmp_path.iterdir())
    with pytest.raises((ImageReadError, InputError), match="tile_1_1"):
        write_mosaic(tmp_path / "m.ome.tiff", grid.maps, files, blend="nearest")
    assert sorted(tmp_path.iterdir()) == before
