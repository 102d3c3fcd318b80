"""LiveStitcher: a scan handed over tile by tile ends as the batch run does."""

from __future__ import annotations

import gc
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from live_support import batch_positions, copy_tiles, largest_difference
from PIL import Image

from ofs_stitch.errors import InputError, OutputError
from ofs_stitch.stitching.live import stitcher as stitcher_module
from ofs_stitch.stitching.live.canvas import LiveCanvas
from ofs_stitch.stitching.live.stitcher import LiveStitcher


def test_tiles_added_one_by_one_end_as_the_batch_run(
    small_scan, small_scan_batch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    folder.mkdir()
    warnings: list[str] = []
    live = LiveStitcher(folder, quiet=True, warn=warnings.append)
    seen: list[dict[str, tuple[float, float]]] = []
    for source in small_scan.paths:
        path = Path(shutil.copy(source, folder / source.name))
        live.add(path)
        assert live.wait(60)
        seen.append(live.positions)
        on_disk = json.loads((folder / "positions.json").read_text())
        assert on_disk["tile_count"] == len(seen)
        assert (folder / "preview.jpg").read_bytes()[:2] == b"\xff\xd8"
    final = live.finish()
    assert final is not None and not warnings

    batch, batch_files = small_scan_batch
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01
    # The same files as the batch run writes (the cache included); no temporary file is left.
    written = sorted(p.name for p in folder.iterdir() if p.suffix not in (".jpeg",))
    assert written == batch_files
    # Each tile's update measured only its new pairs: every pair of the final run, each once
    # (the final run found them all in the cache).
    pair_count = json.loads((folder / "positions.json").read_text())["pair_count"]
    assert sum(r.new_pairs for r in live.reports) == pair_count >= 17
    # The live layout before the last tile already had every other tile within a pixel.
    before_last = seen[-2]
    assert max(np.abs(np.subtract(before_last[n], seen[-1][n])).max() for n in before_last) < 1.0


def test_tiles_still_queued_at_finish_are_placed_for_the_final_outputs_only(
    small_scan, small_scan_batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    held, release = threading.Event(), threading.Event()

    def hold_the_worker(report) -> None:  # type: ignore[no-untyped-def]
        # The update of the last tile but two holds the worker until `finish` is called: the
        # last two are then still queued.
        if len(live.reports) == len(tiles) - 2:
            held.set()
            release.wait(60)

    thumbnails: list[int] = []
    set_tile = LiveCanvas.set_tile

    def count_thumbnails(canvas, slot, pixels) -> None:  # type: ignore[no-untyped-def]
        thumbnails.append(slot)
        set_tile(canvas, slot, pixels)

    monkeypatch.setattr(LiveCanvas, "set_tile", count_thumbnails)
    live = LiveStitcher(folder, quiet=True, on_update=hold_the_worker)
    for path in tiles:
        live.add(path)
    assert held.wait(60)
    ended: list[object] = []
    finisher = threading.Thread(target=lambda: ended.append(live.finish()))
    finisher.start()
    deadline = time.monotonic() + 60
    while not live._finishing and time.monotonic() < deadline:
        time.sleep(0.005)
    preview_before = (folder / "preview.jpg").read_bytes()
    shown_before = json.loads((folder / "positions.json").read_text())["tile_count"]
    release.set()
    finisher.join(120)

    assert shown_before == len(tiles) - 2
    assert [r.shown for r in live.reports] == [True] * (len(tiles) - 2) + [False, False]
    assert "for the final outputs" in live.reports[-1].status_line()
    # The queued tiles were not shrunk for the live preview (the final outputs show them).
    assert len(thumbnails) == len(tiles) - 2
    (final,) = ended
    assert final is not None and sorted(final.names) == sorted(p.name for p in tiles)
    batch, _ = small_scan_batch
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01
    # The final outputs replaced the live ones (the preview with all the tiles).
    assert (folder / "preview.jpg").read_bytes() != preview_before
    assert "live" not in json.loads((folder / "positions.json").read_text())


def test_the_cache_file_is_written_between_tiles(small_scan, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not only at the end (what an interruption loses is bounded by the write interval), and
    once the worker is idle, not inside a tile's update."""
    monkeypatch.setattr(stitcher_module, "CACHE_WRITE_INTERVAL_S", 0.0)
    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True)

    def cached_pairs() -> int:
        path = folder / "openflexure_stitching_cache.json"
        if not path.is_file():
            return 0
        return sum(len(run["pairs"]) for run in json.loads(path.read_text())["runs"])

    for source in small_scan.paths[:4]:
        live.add(Path(shutil.copy(source, folder / source.name)))
        assert live.wait(60)
        measured = sum(r.new_pairs for r in live.reports)
        deadline = time.monotonic() + 10
        while cached_pairs() < measured and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cached_pairs() == measured
    assert measured > 0
    live.close()


def test_changes_not_yet_due_are_written_once_due_without_another_tile(  # type: ignore[no-untyped-def]
    small_scan, tmp_path: Path, monkeypatch
) -> None:
    """A scan that pauses (or has ended without `finish`) still gets its pairs saved: the idle
    worker waits for the write to fall due instead of for the next tile."""
    monkeypatch.setattr(stitcher_module, "CACHE_WRITE_INTERVAL_S", 1.0)
    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True)
    for source in small_scan.paths[:4]:  # back to back: the first idle moment is not due yet
        live.add(Path(shutil.copy(source, folder / source.name)))
    assert live.wait(60)
    measured = sum(r.new_pairs for r in live.reports)
    path = folder / "openflexure_stitching_cache.json"

    def cached_pairs() -> int:
        if not path.is_file():
            return 0
        return sum(len(run["pairs"]) for run in json.loads(path.read_text())["runs"])

    deadline = time.monotonic() + 10
    while cached_pairs() < measured and time.monotonic() < deadline:
        time.sleep(0.02)
    assert measured > 0
    assert cached_pairs() == measured
    live.close()


def test_a_busy_worker_still_writes_the_cache_when_overdue(
    small_scan, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Tiles queued back to back leave the worker no idle moment: the cache is written
    between them once overdue, so an interruption still loses a bounded part."""
    monkeypatch.setattr(stitcher_module, "CACHE_WRITE_INTERVAL_S", 0.0)
    monkeypatch.setattr(stitcher_module, "CACHE_WRITE_AFTER_IDLE_S", 3600.0)  # never idle
    folder = tmp_path / "scan"
    folder.mkdir()
    live = LiveStitcher(folder, quiet=True)
    for source in small_scan.paths[:4]:
        live.add(Path(shutil.copy(source, folder / source.name)))
    assert live.wait(60)
    assert (folder / "openflexure_stitching_cache.json").is_file()
    live.close()


def test_tiles_added_out_of_order_end_as_the_batch_run_from_the_live_cache(
    small_scan, small_scan_batch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The live cache numbers tiles by arrival, the final run by name: it is handed over,
    pairs come out of it and go into it under the right numbers."""
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    live = LiveStitcher(folder, quiet=True)
    for path in reversed(tiles):
        live.add(path)
    final = live.finish()
    assert final is not None
    batch, batch_files = small_scan_batch
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".jpeg") == batch_files
    # Arriving in reverse, a tile or two chose other pairs than the final run's, which measured
    # the few missing ones into the same cache; the file holds every pair of both.
    pair_count = json.loads((folder / "positions.json").read_text())["pair_count"]
    measured_live = sum(r.new_pairs for r in live.reports)
    assert pair_count - 3 <= measured_live <= pair_count + 3
    cache = json.loads((folder / "openflexure_stitching_cache.json").read_text())
    assert sum(len(run["pairs"]) for run in cache["runs"]) >= pair_count


def test_the_last_tile_barely_moves_tiles_far_from_it(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    live = LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch")
    for path in tiles[:-1]:
        live.add(path)
    live.wait(60)
    before = live.positions
    live.add(tiles[-1])
    live.wait(60)
    after = live.positions
    live.close()
    # Compare shapes, not the frame: the offset of the whole mosaic is free.
    last = np.array(after[tiles[-1].name])
    names = [n for n in before if np.hypot(*(np.array(after[n]) - last)) > 500]
    assert names
    offsets = np.array([np.subtract(after[n], before[n]) for n in names])
    assert np.abs(offsets - offsets.mean(axis=0)).max() < 0.05


def test_preview_as_array_jpeg_and_at_another_size(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths[:4], folder)
    live = LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch", preview_width=600)
    assert live.preview().size == 0  # nothing yet
    for path in tiles:
        live.add(path)
    live.wait(60)
    pixels = live.preview()
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8
    assert 500 < pixels.shape[1] <= 600 and pixels.shape[2] == 3
    assert pixels.mean() > 20  # painted, not black
    small = live.preview(200)
    assert isinstance(small, np.ndarray) and small.shape[1] <= 200
    jpeg = live.preview(jpeg=True)
    assert isinstance(jpeg, bytes) and jpeg[:2] == b"\xff\xd8"
    live.close()


def test_add_is_thread_safe(small_scan, small_scan_batch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Four acquisition threads adding at once: every tile is placed once, as in order."""
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    live = LiveStitcher(folder, quiet=True)
    reading: list[int] = []

    def acquire(part: list[Path]) -> None:
        for path in part:
            live.add(path)
            reading.append(len(live.positions))  # reads while the worker writes

    threads = [threading.Thread(target=acquire, args=(tiles[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = live.finish()
    assert final is not None and len(final.names) == len(tiles)
    assert len(live.reports) == len(tiles)
    batch, _ = small_scan_batch
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01


def test_array_tiles_are_saved_in_the_folder_and_stitched(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ofs_stitch.io.decode import read_pixels

    folder = tmp_path / "arrays"
    live = LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch")
    # Stage positions in pixels (x = column): the generator's own stage positions.
    for path, (row, col) in zip(small_scan.paths, small_scan.stage_positions_px, strict=True):
        live.add(read_pixels(path), stage_position=(col, row))
    final = live.finish()
    assert final is not None and len(final.names) == len(small_scan.paths)
    saved = sorted(folder.glob("tile_*.tif"))
    assert len(saved) == len(small_scan.paths)
    # The folder is a scan ofs-stitch stitches the same way afterwards.
    batch, _ = batch_positions(saved, tmp_path / "batch", "arrays")
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01
    # And the layout is right: the true positions, up to the free offset.
    truth = dict(zip(small_scan.file_names, small_scan.true_positions, strict=True))
    names = [p.name for p in small_scan.paths]
    placed = np.array([final.positions[k] for k in range(len(names))])
    errors = placed - np.array([truth[n] for n in names])
    assert np.abs(errors - errors.mean(axis=0)).max() < 0.5


def test_bad_tiles_are_warnings_and_the_rest_is_stitched(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ofs_stitch.io.decode import read_pixels
    from ofs_stitch.testing.files import write_tile

    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    corrupt = folder / "img_9000_9000_0.jpeg"
    corrupt.write_bytes(tiles[0].read_bytes()[:2000])  # cut short
    bare = folder / "img_no_metadata_1_2.jpeg"
    write_tile(bare, read_pixels(tiles[0]))  # no EXIF: no stage position
    other_size = folder / "img_9100_9100_0.jpeg"
    write_tile(other_size, np.zeros((100, 100, 3), np.uint8))
    warnings: list[str] = []
    live = LiveStitcher(folder, quiet=True, warn=warnings.append)
    for path in [*tiles[:6], corrupt, bare, other_size, folder / "missing.jpeg", *tiles[6:]]:
        live.add(path)
    live.add(tmp_path / tiles[0].name)  # not in the folder
    final = live.finish()
    assert len(warnings) == 5, warnings
    assert all("\n" not in w for w in warnings)
    for name in (corrupt.name, bare.name, other_size.name, "missing.jpeg"):
        assert any(name in w for w in warnings), (name, warnings)
    # The final run leaves out what the live run left out, and writes every output.
    assert final is not None and sorted(final.names) == sorted(p.name for p in tiles)
    assert (folder / "scan_stitched.jpg").is_file()
    assert not list(folder.glob(".*"))  # no temporary file left


def test_a_deleted_tile_is_taken_out_and_a_replaced_one_measured_again(
    small_scan, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    tiles = copy_tiles(small_scan.paths, folder)
    warnings: list[str] = []
    live = LiveStitcher(folder, quiet=True, warn=warnings.append)
    for path in tiles:
        live.add(path)
    live.wait(60)
    tiles[5].unlink()
    live.remove(tiles[5])
    live.wait(60)
    assert tiles[5].name not in live.positions and len(live.positions) == len(tiles) - 1
    assert any("deleted" in w for w in warnings)
    measured = sum(r.new_pairs for r in live.reports)
    shutil.copy(small_scan.paths[6], tiles[6])  # re-captured: same content, new mtime
    live.add(tiles[6])
    live.wait(60)
    assert sum(r.new_pairs for r in live.reports) > measured
    # Replaced by an unusable file: the old picture is gone too.
    tiles[8].write_bytes(tiles[8].read_bytes()[:1500])
    live.add(tiles[8])
    live.wait(60)
    assert tiles[8].name not in live.positions
    assert any(tiles[8].name in w for w in warnings)
    final = live.finish()
    assert final is not None and tiles[5].name not in final.names
    kept = [p for p in small_scan.paths if p.name not in (tiles[5].name, tiles[8].name)]
    batch, _ = batch_positions(kept, tmp_path / "batch")
    assert largest_difference(batch, dict(zip(final.names, final.positions, strict=True))) < 0.01


def test_fewer_than_two_tiles_finish_without_a_mosaic(small_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "scan"
    (tile,) = copy_tiles(small_scan.paths[:1], folder)
    warnings: list[str] = []
    live = LiveStitcher(folder, quiet=True, warn=warnings.append)
    live.add(tile)
    assert live.finish() is None
    assert warnings and "at least 2" in warnings[-1]
    assert json.loads((folder / "positions.json").read_text())["tile_count"] == 1
    # The preview shows the tile, though it was placed once `finish` was called, or before.
    preview = np.asarray(Image.open(folder / "preview.jpg"))
    assert preview.shape[1] > 100 and preview.mean() > 10
    with pytest.raises(InputError, match="finished"):
        live.add(tile)


def test_wrong_calls_raise_at_once(tmp_path: Path) -> None:
    live = LiveStitcher(tmp_path, quiet=True, stitching_mode="preview_stitch")
    with pytest.raises(InputError, match="stage_position"):
        live.add(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="uint8 or uint16"):
        live.add(np.zeros((10, 10), np.float32), stage_position=(0, 0))
    live.close()
    with pytest.raises(InputError, match="--grid"):
        LiveStitcher(tmp_path, grid="2x2")
    with pytest.raises(InputError, match="stitching_mode"):
        LiveStitcher(tmp_path, stitching_mode="only_correlate")
    with pytest.raises(InputError, match="no option"):
        LiveStitcher(tmp_path, watch=True)


def test_the_final_run_goes_without_the_cyclic_gc_and_gives_it_back(
    small_scan, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The cyclic garbage collector is off during the final run and on again after it (also
    when the run fails); a host application that turned it off keeps it off."""
    enabled_during_run: list[bool] = []
    real_stitch = stitcher_module.stitch

    def stitch(*args, **kwargs):  # type: ignore[no-untyped-def]
        enabled_during_run.append(gc.isenabled())
        return real_stitch(*args, **kwargs)

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        enabled_during_run.append(gc.isenabled())
        raise OutputError("disk full")

    was_enabled = gc.isenabled()
    try:
        for case in ("host collects", "host turned it off", "run fails"):
            folder = tmp_path / case.replace(" ", "_")
            folder.mkdir()
            gc.disable() if case == "host turned it off" else gc.enable()
            monkeypatch.setattr(
                stitcher_module, "stitch", failing if case == "run fails" else stitch
            )
            live = LiveStitcher(folder, quiet=True)
            for source in small_scan.paths[:3]:
                live.add(Path(shutil.copy(source, folder / source.name)))
            if case == "run fails":
                with pytest.raises(OutputError):
                    live.finish()
            else:
                assert live.finish() is not None
            assert enabled_during_run[-1] is False
            assert gc.isenabled() is (case != "host turned it off")
    finally:
        gc.enable() if was_enabled else gc.disable()
