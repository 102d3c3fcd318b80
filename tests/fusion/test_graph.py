"""The fusion's Dask graph: a task per block of 2 x 2 full-size chunks (which also makes their
level-1 chunk), then a task per chunk of the higher levels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("zarr")
dask = pytest.importorskip("dask")

from ofs_stitch.fusion import layout_from_positions  # noqa: E402
from ofs_stitch.fusion.chunks import plan_chunks  # noqa: E402
from ofs_stitch.fusion.graph import FusionJob, build_graph  # noqa: E402
from ofs_stitch.fusion.layout import FusionLayout  # noqa: E402
from ofs_stitch.fusion.ome_zarr import ZarrTarget, prepare  # noqa: E402
from ofs_stitch.testing.fusion_scans import FusionScan  # noqa: E402


def _layout_and_target(tmp_path: Path, scan: FusionScan) -> tuple[FusionLayout, ZarrTarget | None]:
    """The scan's layout and a fresh 0.4 store for it, in 64-pixel chunks."""
    layout = layout_from_positions(scan.paths, scan.positions)
    target = prepare(
        tmp_path / "m.ome.zarr",
        version="0.4",
        height=layout.height,
        width=layout.width,
        chunk=64,
        bands=1,
        dtype=layout.fmt.dtype,
        pixel_size_um=None,
        fingerprint="test",
    )
    return layout, target


def test_a_task_per_block_of_chunks(tmp_path: Path, whole_pixel_scan: FusionScan) -> None:
    layout, target = _layout_and_target(tmp_path, whole_pixel_scan)
    assert target is not None and len(target.levels) >= 3
    plans = plan_chunks(layout, 64, rounded=True)
    fusion = build_graph(FusionJob(layout, target, "nearest", "cubic"), plans)
    blocks = {(i // 2, j // 2) for i, j in plans}
    assert len(plans) > 2 * len(blocks)
    kinds = [key[0].split("-")[0] for key in fusion.keys]
    assert kinds.count("block") == len(blocks)
    assert {key[1] for key in fusion.keys if key[0].startswith("halve")} == set(
        range(2, len(target.levels))
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
    other = build_graph(FusionJob(layout, elsewhere, "nearest", "cubic"), plans)
    job, other_job = fusion.graph[fusion.job_key], other.graph[other.job_key]
    assert dask.base.tokenize(job) != dask.base.tokenize(other_job)


def test_a_cluster_hands_out_the_largest_blocks_first_and_the_pyramid_at_once(
    tmp_path: Path, whole_pixel_scan: FusionScan
) -> None:
    layout, target = _layout_and_target(tmp_path, whole_pixel_scan)
    assert target is not None
    plans = plan_chunks(layout, 64, rounded=True)
    fusion = build_graph(FusionJob(layout, target, "nearest", "cubic"), plans)
    assert set(fusion.priorities) == {fusion.job_key, *fusion.keys}
    blocks = [key for key in fusion.keys if key[0].startswith("block")]
    painted = {
        key: sum(p.window.rows * p.window.cols for p in fusion.graph[key][2].plans)
        for key in blocks
    }
    in_order = sorted(blocks, key=fusion.priorities.__getitem__, reverse=True)
    sizes = [painted[key] for key in in_order]
    # The mosaic's edge blocks are smaller than its inner ones, and come last.
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    lowest_halve = min(fusion.priorities[k] for k in fusion.keys if k[0].startswith("halve"))
    assert lowest_halve > max(fusion.priorities[k] for k in blocks)
