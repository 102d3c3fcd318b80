"""The live Deep Zoom image: after each tile only the tiles over the changed region are
written, at every level, and every tile shows the current placement."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.stitching.live import deep_zoom
from ofs_stitch.stitching.live.deep_zoom import LiveDeepZoom, _Painter, levels_of, mean_shrink
from ofs_stitch.stitching.live.stitcher import LiveStitcher

SHAPE = (200, 260)


def _tile(k: int) -> np.ndarray:
    """Smooth content (JPEG keeps it within a grey level or two), different per tile."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    base = 40 + 9 * k + 0.2 * rows + 0.1 * cols
    return np.stack([base, base[::-1] * 0.8, 255 - base], axis=2).clip(0, 255).astype(np.uint8)


def _positions(count: int) -> np.ndarray:
    """A snake-free 3-column grid, 180 x 230 px apart, with sub-pixel stage noise."""
    rng = np.random.default_rng(2)
    grid = np.array([(k // 3 * 180.0, k % 3 * 230.0) for k in range(count)])
    return grid + rng.uniform(-0.4, 0.4, grid.shape) + (0.5, 0.5)


def _read(path: Path) -> np.ndarray:
    import pyvips

    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture()
def small_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small level of 128 px: the tiny mosaics here then have levels finer than it
    (rendered by blocks) and coarser (shrunk from it), as a large scan has."""
    monkeypatch.setattr(deep_zoom, "SMALL_LEVEL_SIDE", 128)


def test_only_the_changed_region_is_rewritten_at_every_level(
    tmp_path: Path, small_levels: None
) -> None:
    tiles = [_tile(k) for k in range(9)]
    positions = _positions(9)
    live = LiveDeepZoom(tmp_path / "mosaic.dzi")
    shapes = np.array([SHAPE] * 9)
    for n in range(1, 9):
        live.update(
            np.arange(n), positions[:n] - positions[:n].min(axis=0), shapes[:n], tiles.__getitem__
        )
    before = _files(live.folder)
    old_size = live.size
    assert old_size is not None
    live.update(np.arange(9), positions - positions.min(axis=0), shapes, tiles.__getitem__)
    after = _files(live.folder)
    written = {str(p.relative_to(live.folder)) for p in live.written}
    assert live.size is not None

    # The new tile (bottom right) changes the tiles over it at every level, and the tiles
    # along the old bottom and right edges, which grow with the mosaic; no others.
    top, left = np.round(positions[8] - positions.min(axis=0)).astype(int)
    changed = [
        (top, left, top + SHAPE[0], left + SHAPE[1]),
        (old_size[0], 0, *live.size),
        (0, old_size[1], *live.size),
    ]
    top_level = levels_of(*live.size)
    assert {int(name.split("/")[0]) for name in written} == set(range(top_level + 1))
    for name in after:
        level = int(name.split("/")[0])
        if level != top_level:
            continue
        col, row = (int(v) for v in re.findall(r"\d+", name.split("/")[1]))
        box = (row * 254 - 1, col * 254 - 1, (row + 1) * 254 + 1, (col + 1) * 254 + 1)
        meets = deep_zoom._meets(box, changed)
        assert meets == (name in written), name
    unchanged = set(before) - written
    assert unchanged and all(after[name] == before[name] for name in unchanged)
    assert all(after[name][0] != before.get(name, (0, b""))[0] for name in written)

    # Every tile of every level shows the current placement: the full-size render, shrunk.
    tops = np.round(positions - positions.min(axis=0)).astype(np.int64)
    reference = _Painter(np.arange(9), tops, shapes, tiles.__getitem__).window(0, 0, *live.size)
    levels = [reference]  # each level half the next
    while len(levels) <= top_level:
        levels.append(mean_shrink(levels[-1], 2))
    for name in after:
        level = int(name.split("/")[0])
        col, row = (int(v) for v in re.findall(r"\d+", name.split("/")[1]))
        expected = levels[top_level - level]
        box = deep_zoom._tile_box(row, col, *expected.shape[:2])
        assert box is not None, name
        want = expected[box[0] : box[2], box[1] : box[3]].astype(float)
        got = _read(live.folder / name).astype(float)
        assert got.shape == want.shape, name
        # (JPEG's colour subsampling blurs the few pixels of the coarsest levels' tiles.)
        assert np.abs(got - want).mean() < (2.0 if min(got.shape[:2]) >= 32 else 12.0), name

    # The same files as libvips' dzsave of that mosaic (the batch DZI's writer), and a
    # descriptor that says its size.
    import pyvips

    pyvips.Image.new_from_array(reference).copy(interpretation="srgb").dzsave(
        str(tmp_path / "vips"), suffix=".jpeg[Q=90]"
    )
    vips = {
        str(p.relative_to(tmp_path / "vips_files"))
        for p in (tmp_path / "vips_files").rglob("*.jpeg")
    }
    assert set(after) == vips
    text = (tmp_path / "mosaic.dzi").read_text()
    assert f'Height="{live.size[0]}"' in text and f'Width="{live.size[1]}"' in text
    assert 'TileSize="254"' in text and 'Overlap="1"' in text


def test_the_top_left_tile_moving_a_fraction_of_a_pixel_repaints_only_itself(
    tmp_path: Path, small_levels: None
) -> None:
    # Counted from the mosaic's minimum, the top-left tile's move would move every tile by
    # the same fraction of a pixel, and some to another whole pixel: all repainted.
    tiles = [_tile(k) for k in range(9)]
    positions = _positions(9) + (1000.0, -500.0)  # the solve's frame: anywhere
    positions[0] = (1000.6, -499.6)  # the top-left tile
    positions[1, 0] = 1000.2  # (the top row's whole pixel: 1000)
    shapes = np.array([SHAPE] * 9)
    live = LiveDeepZoom(tmp_path / "mosaic.dzi")
    live.update(np.arange(9), positions, shapes, tiles.__getitem__)
    before = _files(live.folder)
    # A placement that moves every tile by the same fraction of a pixel changes nothing.
    live.update(np.arange(9), positions + (0.37, -0.41), shapes, tiles.__getitem__)
    assert live.written == [] and _files(live.folder) == before
    live.update(np.arange(9), positions, shapes, tiles.__getitem__)
    moved = positions.copy()
    moved[0] -= 0.45  # the top-left tile, up across half a pixel (1001 -> 1000)
    live.update(np.arange(9), moved, shapes, tiles.__getitem__)
    assert live.written
    origin = np.round(positions).min(axis=0).astype(int)
    old_top = np.round(positions[0]).astype(int) - origin
    new_top = np.round(moved[0]).astype(int) - origin
    assert (new_top != old_top).any() and new_top.min() >= 0
    footprints = [
        (int(t[0]), int(t[1]), int(t[0]) + SHAPE[0], int(t[1]) + SHAPE[1])
        for t in (old_top, new_top)
    ]
    assert live.size is not None
    top_level = levels_of(*live.size)
    for path in live.written:
        name = str(path.relative_to(live.folder))
        if int(name.split("/")[0]) != top_level:
            continue
        col, row = (int(v) for v in re.findall(r"\d+", name.split("/")[1]))
        box = (row * 254 - 1, col * 254 - 1, (row + 1) * 254 + 1, (col + 1) * 254 + 1)
        assert deep_zoom._meets(box, footprints), name
    # The rest of the pyramid's files are as they were.
    after = _files(live.folder)
    written = {str(p.relative_to(live.folder)) for p in live.written}
    assert all(after[name] == before[name] for name in set(before) - written)
    assert len(written) < len(before)
    # Every full-size tile shows the tiles where they are now (from the kept origin).
    tops = np.round(moved).astype(np.int64) - origin
    reference = _Painter(np.arange(9), tops, shapes, tiles.__getitem__).window(0, 0, *live.size)
    for name in after:
        if int(name.split("/")[0]) != top_level:
            continue
        col, row = (int(v) for v in re.findall(r"\d+", name.split("/")[1]))
        box = deep_zoom._tile_box(row, col, *reference.shape[:2])
        assert box is not None
        want = reference[box[0] : box[2], box[1] : box[3]].astype(float)
        got = _read(live.folder / name).astype(float)
        assert got.shape == want.shape and np.abs(got - want).mean() < 2.0, name


def test_the_live_stitcher_keeps_a_deep_zoom_image_growing(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True, stitch_dzi=True)
    dzi = folder / "scan_stitched.dzi"
    widths = []
    for source in small_scan.paths[:6]:
        live.add(Path(shutil.copy(source, folder / source.name)))
        assert live.wait(60)
        widths.append(int(re.findall(r'Width="(\d+)"', dzi.read_text())[0]))
        assert live._deep_zoom is not None and live._deep_zoom.written
        assert live._deep_zoom.size is not None and widths[-1] == live._deep_zoom.size[1]
    # The mosaic grew along the first row (the layout may also tighten it by a few pixels).
    assert widths[-1] > 2 * widths[0]
    live.finish()
    # The final run wrote the batch DZI over the live one; no temporary file is left.
    assert dzi.is_file() and (folder / "scan_stitched_files").is_dir()
    assert not [p for p in folder.rglob("*") if "partial" in p.name]


def test_halving_is_the_rounded_mean_of_each_block_odd_edges_included() -> None:
    rng = np.random.default_rng(0)
    for shape in [(7, 9, 3), (8, 8, 1), (1, 1, 3), (1, 4, 3), (4, 1, 1)]:
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        rows, cols = -(-shape[0] // 2), -(-shape[1] // 2)
        padded = np.zeros((rows * 2, cols * 2, shape[2]))
        padded[: shape[0], : shape[1]] = pixels
        counts = np.zeros((rows * 2, cols * 2))
        counts[: shape[0], : shape[1]] = 1
        sums = padded.reshape(rows, 2, cols, 2, shape[2]).sum(axis=(1, 3))
        means = sums / counts.reshape(rows, 2, cols, 2).sum(axis=(1, 3))[:, :, None]
        np.testing.assert_array_equal(mean_shrink(pixels, 2), np.floor(means + 0.5))
