"""The fusion's Dask graph: a task per block of 2^d x 2^d full-size chunks (which also makes
the block's chunks of levels 1 to d), then a task per chunk of the higher levels, or, for a
few blocks dealt into a task per worker, the last of those makes them; blocks as deep as the
workers can share evenly."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr")
dask = pytest.importorskip("dask")

from graph_support import few_blocks, new_store  # noqa: E402

from ofs_stitch.fusion import layout_from_positions  # noqa: E402
from ofs_stitch.fusion.chunks import ChunkPlan, plan_chunks  # noqa: E402
from ofs_stitch.fusion.graph import (  # noqa: E402
    TOP_FOLDER,
    BlockWork,
    FusionGraph,
    FusionJob,
    block_depth,
    blocks_task,
    build_graph,
    busiest_share,
    run_threaded,
    shares,
)
from ofs_stitch.fusion.layout import FusionLayout  # noqa: E402
from ofs_stitch.fusion.ome_zarr import ZarrTarget, read_region  # noqa: E402
from ofs_stitch.render.painting import Window  # noqa: E402
from ofs_stitch.testing.fusion_scans import FusionScan  # noqa: E402


def _layout_and_target(tmp_path: Path, scan: FusionScan) -> tuple[FusionLayout, ZarrTarget | None]:
    """The scan's layout and a fresh store for it."""
    layout = layout_from_positions(scan.paths, scan.positions)
    return layout, new_store(tmp_path / "m.ome.zarr", layout)


def _levels(target: ZarrTarget) -> list[np.ndarray]:
    """Every level of the pyramid written to ``target``, full size first."""
    return [
        read_region(target, level, 0, height, 0, width)
        for level, (height, width) in enumerate(target.levels)
    ]


@pytest.mark.parametrize("depth", [1, 2])
def test_a_task_per_block_of_chunks(
    tmp_path: Path, whole_pixel_scan: FusionScan, depth: int
) -> None:
    layout, target = _layout_and_target(tmp_path, whole_pixel_scan)
    assert target is not None and len(target.levels) >= 4
    plans = plan_chunks(layout, 64, rounded=True)
    fusion = build_graph(FusionJob(layout, target, "nearest", "cubic"), plans, depth=depth)
    blocks = {(i >> depth, j >> depth) for i, j in plans}
    assert len(plans) > 2 * len(blocks)
    kinds = [key[0].split("-")[0] for key in fusion.keys]
    assert kinds.count("block") == len(blocks)
    assert {key[1] for key in fusion.keys if key[0].startswith("halve")} == set(
        range(depth + 1, len(target.levels))
    )
    # Every chunk with content, at every level, is written once.
    chunks, live = len(plans), set(plans)
    for _ in range(1, len(target.levels)):
        live = {(i // 2, j // 2) for i, j in live}
        chunks += len(live)
    assert fusion.to_write == chunks and fusion.already_written == 0
    # Only the pyramid's top is asked for: the other results (half chunks) can be dropped
    # once used.
    top = len(target.levels) - 1
    assert fusion.outputs == [
        key for key in fusion.keys if key[0].startswith("halve") and key[1] == top
    ]
    assert len(fusion.outputs) == 1
    # Dask names the graph by hashing it: the job and the blocks' work hash cheaply, and
    # two fusions into different folders still differ.
    elsewhere = dataclasses.replace(target, path=tmp_path / "b")
    other = build_graph(FusionJob(layout, elsewhere, "nearest", "cubic"), plans, depth=depth)
    job, other_job = fusion.graph[fusion.job_key], other.graph[other.job_key]
    assert dask.base.tokenize(job) != dask.base.tokenize(other_job)


def test_a_cluster_hands_out_the_largest_blocks_first_and_the_pyramid_at_once(
    tmp_path: Path, whole_pixel_scan: FusionScan
) -> None:
    layout, target = _layout_and_target(tmp_path, whole_pixel_scan)
    assert target is not None
    plans = plan_chunks(layout, 64, rounded=True)
    fusion = build_graph(FusionJob(layout, target, "nearest", "cubic"), plans, depth=1)
    assert set(fusion.priorities) == {fusion.job_key, *fusion.keys}
    blocks = [key for key in fusion.keys if key[0].startswith("block")]
    painted = {
        key: sum(p.window.rows * p.window.cols for w in fusion.graph[key][2] for p in w.plans)
        for key in blocks
    }
    in_order = sorted(blocks, key=fusion.priorities.__getitem__, reverse=True)
    sizes = [painted[key] for key in in_order]
    # The mosaic's edge blocks are smaller than its inner ones, and come last.
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    lowest_halve = min(fusion.priorities[k] for k in fusion.keys if k[0].startswith("halve"))
    assert lowest_halve > max(fusion.priorities[k] for k in blocks)


def _grid_plans(rows: int, cols: int, chunk: int = 64) -> dict[tuple[int, int], ChunkPlan]:
    """Plans of a rows x cols grid of whole chunks (no tile parts: only sizes count)."""
    return {
        (i, j): ChunkPlan((i, j), Window(i * chunk, j * chunk, chunk, chunk), ())
        for i in range(rows)
        for j in range(cols)
    }


def test_blocks_are_as_deep_as_the_workers_share_them_evenly() -> None:
    assert busiest_share([4, 3, 3, 2], 2) == 1.0  # 4 + 2 and 3 + 3
    assert busiest_share([5, 1], 2) == pytest.approx(5 / 3)
    assert busiest_share([5, 1], 1) == 1.0
    even = _grid_plans(8, 8)
    # 4 blocks of 4 x 4 chunks for 2 or 4 workers; 16 of 2 x 2 for 8; one of 8 x 8 for one.
    assert [block_depth(even, 5, w) for w in (1, 2, 4, 8, 64)] == [3, 2, 2, 1, 1]
    # A block's top chunk is a level of the pyramid; without one, blocks only group chunks.
    assert block_depth(even, 3, 1) == 2 and block_depth(even, 1, 1) == 3
    # 5 x 5 chunks in blocks of 4 x 4 leave one block of 16 chunks and three of 4 or 1:
    # uneven for 2 workers, so blocks of 2 x 2.
    assert block_depth(_grid_plans(5, 5), 4, 2) == 1


def test_a_few_blocks_are_dealt_into_a_task_per_worker_largest_first() -> None:
    def works(*sizes: int) -> list[tuple[int, BlockWork]]:
        return [(size, BlockWork((k, 0), 0, (), (), ())) for k, size in enumerate(sizes)]

    def dealt(sizes: tuple[int, ...], workers: int) -> list[list[int]]:
        return [[size for size, _ in share] for share in shares(works(*sizes), workers)]

    # An 8x8 mosaic's 4 blocks on 2 workers: 16 + 10.9 and 13.2 + 13.2 chunks' worth.
    assert dealt((160, 132, 132, 109), 2) == [[160, 109], [132, 132]]
    assert dealt((5, 1), 1) == [[5, 1]]
    assert dealt((5,), 4) == [[5]]
    # More than two blocks per worker: a task each, for the cluster to hand out as workers
    # free up.
    assert dealt((4, 3, 3, 2, 1), 2) == [[4], [3], [3], [2], [1]]


@pytest.mark.parametrize(("depth", "workers", "block_tasks"), [(2, 1, 4), (3, 1, 1), (2, 2, 2)])
def test_deeper_blocks_write_the_same_pyramid_and_resume_alike(
    tmp_path: Path, whole_pixel_scan: FusionScan, depth: int, workers: int, block_tasks: int
) -> None:
    """Also with the blocks dealt into a task per worker (4 blocks of 4 x 4 chunks for 2)."""
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    plans = plan_chunks(layout, 64, rounded=True)

    def fuse(name: str, depth: int) -> tuple[ZarrTarget, FusionGraph]:
        target = new_store(tmp_path / name, layout)
        assert target is not None
        fusion = build_graph(
            FusionJob(layout, target, "nearest", "cubic"), plans, workers=workers, depth=depth
        )
        run_threaded(fusion, 2, None)
        return target, fusion

    shallow, _ = fuse("shallow", 1)
    deep, first = fuse("deep", depth)
    assert sum(key[0].startswith("block") for key in first.keys) == block_tasks
    expected = _levels(shallow)
    assert len(expected) >= 4
    for ours, theirs in zip(_levels(deep), expected, strict=True):
        assert np.array_equal(ours, theirs)
    # An interrupted run: a full-size chunk and a chunk of level 2 over other chunks lost.
    lost = [deep.chunk_file(0, 1, 2), deep.chunk_file(2, 0, 1)]
    for chunk in lost:
        chunk.unlink()
    _, resumed = fuse("deep", depth)
    # Each lost chunk and the chunks above it, up to the top (shared), are made again.
    assert resumed.to_write == (len(deep.levels) - 1) + 2
    assert resumed.already_written + resumed.to_write == first.to_write
    for ours, theirs in zip(_levels(deep), expected, strict=True):
        assert np.array_equal(ours, theirs)


def _reference(tmp_path: Path, scan: FusionScan) -> list[np.ndarray]:
    """The scan's pyramid made by a task per block of 2 x 2 chunks and per chunk above."""
    layout = layout_from_positions(scan.paths, scan.positions)
    target = new_store(tmp_path / "reference", layout)
    assert target is not None
    plans = plan_chunks(layout, 64, rounded=True)
    fusion = build_graph(FusionJob(layout, target, "nearest", "cubic"), plans, depth=1)
    assert fusion.top is None and any(key[0].startswith("halve") for key in fusion.keys)
    run_threaded(fusion, 2, None)
    return _levels(target)


def test_the_block_task_that_ends_last_makes_the_pyramid_above_the_blocks(
    tmp_path: Path, whole_pixel_scan: FusionScan
) -> None:
    target, fusion = few_blocks(tmp_path / "few", whole_pixel_scan)
    top = fusion.top
    assert top is not None
    # A task per worker and none for the pyramid above the blocks: the blocks' tasks are
    # what the caller waits for.
    assert [key[0].split("-")[0] for key in fusion.keys] == ["block", "block"]
    assert fusion.outputs == fusion.keys
    assert top.chunks == ((3, 0, 0),) and len(top.blocks) == 4
    assert Path(top.folder).parent == target.path / TOP_FOLDER
    job = fusion.graph[fusion.job_key]
    first, second = (fusion.graph[key] for key in fusion.keys)
    assert first[3] is second[3] is top
    blocks_task(job, first[2], first[3])
    # The first to end leaves its halves; the top waits for the other's.
    assert not target.chunk_file(3, 0, 0).exists() and not Path(top.made_file).exists()
    halves = blocks_task(job, second[2], second[3])
    assert Path(top.made_file).exists()
    reference = _reference(tmp_path, whole_pixel_scan)
    for ours, theirs in zip(_levels(target), reference, strict=True):
        assert np.array_equal(ours, theirs)
    # Dask runs a task again when its worker died: the top is claimed, and not made twice.
    before = target.chunk_file(3, 0, 0).stat().st_mtime_ns
    assert not top.offer(job, halves)
    assert target.chunk_file(3, 0, 0).stat().st_mtime_ns == before
    # A task that holds every block (one worker's, of two blocks) needs no files.
    alone, fusion = few_blocks(tmp_path / "alone", whole_pixel_scan)
    first, second = (fusion.graph[key] for key in fusion.keys)
    assert fusion.top is not None
    blocks_task(fusion.graph[fusion.job_key], first[2] + second[2], fusion.top)
    assert os.listdir(fusion.top.folder) == ["made"]
    for ours, theirs in zip(_levels(alone), reference, strict=True):
        assert np.array_equal(ours, theirs)


def test_the_caller_makes_the_pyramid_top_that_no_task_made(
    tmp_path: Path, whole_pixel_scan: FusionScan
) -> None:
    """The task that claimed the top died before making it: the caller makes it from the
    tasks' results; and a re-run that has only the top to make makes it without a task."""
    target, fusion = few_blocks(tmp_path / "claimed", whole_pixel_scan)
    assert fusion.top is not None
    Path(fusion.top.folder).mkdir(parents=True)
    (Path(fusion.top.folder) / "claimed").touch()
    run_threaded(fusion, 2, None)
    reference = _reference(tmp_path, whole_pixel_scan)
    for ours, theirs in zip(_levels(target), reference, strict=True):
        assert np.array_equal(ours, theirs)
    # The halves' folder goes with the run: it is not part of the image.
    assert not (target.path / TOP_FOLDER).exists()
    target.chunk_file(3, 0, 0).unlink()
    _, resumed = few_blocks(tmp_path / "claimed", whole_pixel_scan)
    assert resumed.keys == [] and resumed.top is not None and resumed.top.blocks == ()
    assert resumed.to_write == 1
    run_threaded(resumed, 2, None)
    for ours, theirs in zip(_levels(target), reference, strict=True):
        assert np.array_equal(ours, theirs)


def test_halves_that_cannot_be_left_leave_the_top_to_the_caller(
    tmp_path: Path, whole_pixel_scan: FusionScan, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    target, fusion = few_blocks(tmp_path / "full", whole_pixel_scan)
    monkeypatch.setattr(np, "save", disk_full)
    run_threaded(fusion, 2, None)
    monkeypatch.undo()
    for ours, theirs in zip(_levels(target), _reference(tmp_path, whole_pixel_scan), strict=True):
        assert np.array_equal(ours, theirs)
    assert not (target.path / TOP_FOLDER).exists()
