"""A large live scan: each tile's work stays local (the placement of the tiles around it, the
candidate pairs from stage buckets), and positions.json keeps the batch file's schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from live_support import largest_difference

from ofs_stitch.stitching.live import layout as live_layout
from ofs_stitch.stitching.live.neighbourhood import StageGrid
from ofs_stitch.stitching.live.stitcher import LiveStitcher
from ofs_stitch.stitching.report import positions_document
from ofs_stitch.stitching.thresholds import REASONS


def test_the_stage_grid_finds_every_overlapping_tile() -> None:
    rng = np.random.default_rng(4)
    shape = (120, 160)
    stage = rng.uniform(0, 2000, (300, 2))
    grid = StageGrid(shape)
    for slot, position in enumerate(stage):
        grid.put(slot, position)
    grid.discard(7)
    for slot in range(0, 300, 17):
        gap = np.abs(stage - stage[slot])
        overlapping = set(np.flatnonzero((gap[:, 0] < shape[0]) & (gap[:, 1] < shape[1])))
        found = set(grid.near(stage[slot]))
        assert overlapping - {7} <= found and 7 not in found
        # Only the 3 x 3 buckets around it: a few tiles, not the scan.
        assert len(found) < 30


@pytest.fixture()
def local_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Place locally from the 6th tile on, 3 x 3 tiles around the new one: the small scan
    then takes the path a scan of hundreds of tiles takes."""
    monkeypatch.setattr(live_layout, "FULL_PLACEMENT_BELOW", 6)
    monkeypatch.setattr(live_layout, "LOCAL_REACH_TILES", 1)


def test_a_large_scan_places_locally_and_still_ends_as_the_batch_run(
    small_scan, small_scan_batch, tmp_path: Path, local_placement: None
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    folder.mkdir()
    warnings: list[str] = []
    live = LiveStitcher(folder, quiet=True, warn=warnings.append)
    changed_counts = []
    for source in small_scan.paths:
        live.add(Path(shutil.copy(source, folder / source.name)))
        assert live.wait(60)
        update = live._update
        assert update is not None
        if update.changed_slots is not None:
            changed_counts.append((len(update.changed_slots), len(update.tiles)))
        on_disk = json.loads((folder / "positions.json").read_text())
        assert on_disk["tile_count"] == len(update.tiles)
        # The pairs are in the live file too, one entry per pair in play.
        assert on_disk["pair_count"] == len(on_disk["pairs"]) == len(update.pair_rows)
    # Full placements at 5 tiles (below 6, each tile), then when the scan doubled (10): the
    # others placed the tiles around the new one only, fewer than all in a 3 x 4 scan.
    assert [n for _, n in changed_counts] == [6, 7, 8, 9, 11, 12]
    assert any(changed < n for changed, n in changed_counts)

    batch, batch_files = small_scan_batch
    # The live layout before the final run (the last tile: a full placement) is the batch's.
    assert largest_difference(batch, live.positions) < 0.05
    final = live.finish()
    assert final is not None and not warnings
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".jpeg") == batch_files


def test_live_positions_between_full_placements_stay_close_to_a_full_solve(
    small_scan, tmp_path: Path, local_placement: None
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch")
    for source in small_scan.paths[:11]:
        live.add(Path(shutil.copy(source, folder / source.name)))
    assert live.wait(60)
    local = live.positions
    assert live._update is not None and live._update.changed_slots is not None
    final = live.finish()
    assert final is not None
    full = dict(zip(final.names, final.positions, strict=True))
    assert largest_difference(full, local) < 0.5


def test_the_live_positions_file_is_the_batch_document_of_the_same_layout(
    small_scan, tmp_path: Path, local_placement: None
) -> None:  # type: ignore[no-untyped-def]
    from ofs_stitch.core.matches import PairMeasurement

    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch")
    for source in small_scan.paths[:9]:
        live.add(Path(shutil.copy(source, folder / source.name)))
    assert live.wait(60)
    update = live._update
    assert update is not None
    on_disk = json.loads((folder / "positions.json").read_text())
    measurements = [
        PairMeasurement(
            i=int(i),
            j=int(j),
            shift=update.book.measurements[row].shift,
            expected_shift=update.book.measurements[row].expected_shift,
            pearson_r=update.book.measurements[row].pearson_r,
            peak_ratio=update.book.measurements[row].peak_ratio,
        )
        for (i, j), row in zip(update.pair_ij.tolist(), update.pair_rows.tolist(), strict=True)
    ]
    expected = positions_document(
        update.tiles,
        update.positions,
        measurements,
        [REASONS[code] for code in update.pair_reasons.tolist()],
        update.pair_residuals,
        csm_matrix=live._frame.matrix,
        pixel_size_um=live._frame.pixel_size_um,
        extra={key: on_disk[key] for key in ("live", "thresholds", "stage_sigma_px")},
    )
    live.close()
    assert list(on_disk) == list(expected)
    assert json.loads(json.dumps(expected, allow_nan=False)) == on_disk
