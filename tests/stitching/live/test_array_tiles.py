"""Array tiles handed to a LiveStitcher are saved in the order they came, under new names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.stitching.live import arrival
from ofs_stitch.stitching.live.arrival import ArrayTiles, last_array_sequence
from ofs_stitch.stitching.live.stitcher import LiveStitcher


def test_a_restarted_scan_saves_after_the_earlier_runs_tiles(tmp_path: Path) -> None:
    """A new process saving into a folder that holds an earlier run's array tiles numbers
    its tiles after them: the tile at the same stage position keeps its file."""
    earlier = ArrayTiles(tmp_path)
    first = earlier.save(np.full((8, 10), 7, np.uint8), (5.0, -7.0))
    second = earlier.save(np.full((8, 10), 9, np.uint8), (15.0, -7.0))
    assert [first.name, second.name] == ["tile_5_-7_00001.tif", "tile_15_-7_00002.tif"]
    (tmp_path / "tile_overview.tif").write_bytes(b"not an array tile")
    assert last_array_sequence(tmp_path) == 2

    again = ArrayTiles(tmp_path).save(np.full((8, 10), 3, np.uint8), (5.0, -7.0))
    assert again.name == "tile_5_-7_00003.tif"
    from ofs_stitch.io.decode import read_pixels

    assert int(read_pixels(first).max()) == 7 and int(read_pixels(again).max()) == 3


def test_tiles_saved_within_one_tick_of_the_clock_keep_their_arrival_order(
    small_scan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A file system whose clock did not move between saves (a coarse clock, a fast
    machine) gave every tile the same modification time; the capture order then fell back
    to name order, by stage x, and the final positions came out in another order than the
    tiles were added."""
    from ofs_stitch.io.decode import read_pixels

    save = arrival.save_array_tile
    frozen_ns = 1_700_000_000_000_000_000

    def save_on_a_stopped_clock(pixels: np.ndarray, path: Path) -> None:
        save(pixels, path)
        os.utime(path, ns=(frozen_ns, frozen_ns))

    monkeypatch.setattr(arrival, "save_array_tile", save_on_a_stopped_clock)
    live = LiveStitcher(tmp_path / "arrays", quiet=True, stitching_mode="preview_stitch")
    for path, (row, col) in zip(small_scan.paths, small_scan.stage_positions_px, strict=True):
        live.add(read_pixels(path), stage_position=(col, row))
    final = live.finish()
    assert final is not None
    sequence = [int(name.rsplit("_", 1)[1].split(".")[0]) for name in final.names]
    assert sequence == list(range(1, len(small_scan.paths) + 1))
    # In that order, the tiles sit where the scan put them, up to the free offset.
    errors = np.asarray(final.positions) - np.asarray(small_scan.true_positions)
    assert np.abs(errors - errors.mean(axis=0)).max() < 0.5
