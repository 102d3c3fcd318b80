"""The same Dask graph on a real LocalCluster of worker processes (2 workers), and through
an existing cluster's address: the same pixels as the threaded scheduler."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")

from graph_support import few_blocks  # noqa: E402

from ofs_stitch.cli import ofs  # noqa: E402
from ofs_stitch.core.registration import CorrelationSettings  # noqa: E402
from ofs_stitch.fusion import api as fusion_api  # noqa: E402
from ofs_stitch.fusion import (  # noqa: E402
    fuse_to_zarr,
    graph,
    layout_from_positions,
    local_cluster,
)
from ofs_stitch.fusion.broadcast import INLINE_TASKS, with_job_on_every_worker  # noqa: E402
from ofs_stitch.fusion.measure import PairJob, measure_pairs_on_dask  # noqa: E402
from ofs_stitch.testing.fusion_scans import FusionScan, make_fusion_scan  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    with local_cluster(2) as connected:
        yield connected
    # The nanny's environment does not leak into this process (and later test processes).
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == before


def test_two_worker_processes_fuse_what_the_threads_fuse(
    tmp_path: Path, subpixel_scan: FusionScan, client: distributed.Client
) -> None:
    layout = layout_from_positions(subpixel_scan.paths, subpixel_scan.positions)
    threaded = fuse_to_zarr(layout, tmp_path / "threads.ome.zarr", chunk=64, blend="feather")
    on_cluster = fuse_to_zarr(
        layout, tmp_path / "cluster.ome.zarr", chunk=64, blend="feather", client=client
    )
    assert on_cluster.chunks_written == threaded.chunks_written > 10
    a = zarr.open_group(str(threaded.path), mode="r")
    b = zarr.open_group(str(on_cluster.path), mode="r")
    for level in range(len(threaded.levels)):
        assert np.array_equal(a[str(level)][:], b[str(level)][:])
    # Both workers painted chunks.
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.parametrize(("grid", "inline"), [(3, True), (5, False)])
def test_a_graph_of_a_few_tasks_takes_its_job_inline(
    tmp_path: Path,
    client: distributed.Client,
    monkeypatch: pytest.MonkeyPatch,
    grid: int,
    inline: bool,
) -> None:
    """3 x 3 tiles of 128^2 in chunks of 64 make 2 tasks (2 workers' shares of 4 blocks, the
    last to end making the pyramid's top), which carry the job; 5 x 5 make 14 (9 blocks),
    which find it scattered to every worker first. The same pixels either way."""
    used: list[tuple[str, int]] = []
    with_inline, with_scatter = graph.with_job_inline, graph.with_job_on_every_worker

    def spy_inline(tasks: dict, key: str) -> dict:
        used.append(("inline", len(tasks) - 1))
        return with_inline(tasks, key)

    def spy_scatter(tasks: dict, key: str, on: distributed.Client) -> dict:
        used.append(("scatter", len(tasks) - 1))
        return with_scatter(tasks, key, on)

    monkeypatch.setattr(graph, "with_job_inline", spy_inline)
    monkeypatch.setattr(graph, "with_job_on_every_worker", spy_scatter)
    scan = make_fusion_scan(tmp_path / "scan", (grid, grid), (128, 128), subpixel=True, seed=3)
    layout = layout_from_positions(scan.paths, scan.positions)
    threaded = fuse_to_zarr(layout, tmp_path / "threads.ome.zarr", chunk=64, blend="feather")
    ours = fuse_to_zarr(
        layout, tmp_path / "cluster.ome.zarr", chunk=64, blend="feather", client=client
    )
    [(how, tasks)] = used
    assert how == ("inline" if inline else "scatter")
    assert (tasks <= INLINE_TASKS) == inline
    a = zarr.open_group(str(threaded.path), mode="r")
    b = zarr.open_group(str(ours.path), mode="r")
    for level in range(len(threaded.levels)):
        assert np.array_equal(a[str(level)][:], b[str(level)][:])


def test_a_cluster_of_its_own_fuses_the_same_and_none_starts_for_a_finished_output(
    tmp_path: Path,
    subpixel_scan: FusionScan,
    monkeypatch: pytest.MonkeyPatch,
    client: distributed.Client,
) -> None:
    layout = layout_from_positions(subpixel_scan.paths, subpixel_scan.positions)
    threaded = fuse_to_zarr(layout, tmp_path / "threads.ome.zarr", chunk=64, blend="feather")
    out = tmp_path / "own.ome.zarr"
    # (Beside the module's cluster: with distributed's default HTTP port, both would want
    # 8787 and this one would warn that it took another.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        own = fuse_to_zarr(layout, out, chunk=64, blend="feather", processes=1)
    assert own.chunks_written == threaded.chunks_written > 10
    read = zarr.open_group(str(tmp_path / "threads.ome.zarr"), mode="r")["0"][:]
    assert np.array_equal(zarr.open_group(str(out), mode="r")["0"][:], read)

    def no_cluster(workers: int) -> None:
        raise AssertionError("a cluster was started for an output that is up to date")

    monkeypatch.setattr(fusion_api, "local_cluster", no_cluster)
    again = fuse_to_zarr(layout, out, chunk=64, blend="feather", processes=1)
    assert again.up_to_date and again.chunks_written == 0


@pytest.mark.parametrize("with_progress", [False, True])
def test_a_tile_that_cannot_be_read_fails_the_fusion_naming_it(
    tmp_path: Path, whole_pixel_scan: FusionScan, client: distributed.Client, with_progress: bool
) -> None:
    # Without progress the client waits only on the tasks no other depends on (the pyramid's
    # top, or a few blocks' tasks): a block's failure must still surface, with the tile's
    # name, not as a fusion that "succeeded".
    import shutil

    from ofs_stitch.errors import StitchError

    folder = tmp_path / "tiles"
    shutil.copytree(Path(whole_pixel_scan.paths[0]).parent, folder)
    paths = [folder / Path(p).name for p in whole_pixel_scan.paths]
    layout = layout_from_positions([str(p) for p in paths], whole_pixel_scan.positions)
    broken = paths[len(paths) // 2]
    broken.write_bytes(broken.read_bytes()[:300])  # cut short after the layout was read
    calls: list[tuple[int, int]] = []
    with pytest.raises(StitchError, match=broken.name):
        fuse_to_zarr(
            layout,
            tmp_path / "out.ome.zarr",
            chunk=64,
            client=client,
            progress=(lambda done, total: calls.append((done, total))) if with_progress else None,
        )


def test_the_command_runs_on_an_existing_cluster(
    tmp_path: Path, whole_pixel_scan: FusionScan, client: distributed.Client
) -> None:
    address = client.scheduler.address
    folder = whole_pixel_scan.folder
    status = ofs.main(
        [
            "fuse",
            str(folder),
            "--positions",
            str(folder / "TileConfiguration.txt"),
            "-o",
            str(tmp_path),
            "--chunk",
            "64",
            "--dask_scheduler",
            address,
            "--quiet",
        ]
    )
    assert status == 0
    out = tmp_path / f"{folder.name}_stitched.ome.zarr"
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    local = fuse_to_zarr(layout, tmp_path / "local.ome.zarr", chunk=64)
    assert np.array_equal(
        zarr.open_group(str(out), mode="r")["0"][:],
        zarr.open_group(str(local.path), mode="r")["0"][:],
    )


def test_pairs_are_measured_on_the_cluster(
    whole_pixel_scan: FusionScan, client: distributed.Client
) -> None:
    from ofs_stitch.core.matches import CandidatePair
    from ofs_stitch.io.header import read_headers

    headers = list(read_headers(whole_pixel_scan.paths))
    positions = whole_pixel_scan.positions
    pairs = [
        CandidatePair(i, j, tuple(positions[j] - positions[i]), 0.1)  # type: ignore[arg-type]
        for i, j in [(0, 1), (1, 2), (0, 3), (4, 5), (4, 7)]
    ]
    seen: list[int] = []
    measured = measure_pairs_on_dask(
        headers,
        pairs,
        PairJob(CorrelationSettings(), search_radius=8),
        client=client,
        on_measured=lambda k, _m: seen.append(k),
    )
    assert sorted(seen) == list(range(len(pairs)))
    for pair, found in zip(pairs, measured):
        assert found.quality > 0.5
        assert np.allclose(found.shift, pair.expected_shift, atol=0.05)


def test_ofs_stitch_measures_its_pairs_on_the_cluster(
    tmp_path: Path, client: distributed.Client
) -> None:
    """``ofs-stitch --dask_scheduler``: the same positions as on this machine, and the pairs
    land in the correlation cache, so a re-run measures nothing."""
    import json

    from ofs_stitch.cli.command import main as ofs_stitch
    from ofs_stitch.testing.scans import make_scan

    make_scan(tmp_path / "scan", rows=2, cols=2, tile_shape=(120, 160), file_format="png")
    scan = str(tmp_path / "scan")
    address = client.scheduler.address
    assert ofs_stitch([scan, "-o", str(tmp_path / "here"), "--quiet"]) == 0
    assert (
        ofs_stitch([scan, "-o", str(tmp_path / "there"), "--dask_scheduler", address, "--quiet"])
        == 0
    )

    def positions(folder: str) -> list:
        document = json.loads((tmp_path / folder / "positions.json").read_text())
        return [t["position_px"] for t in document["tiles"]]

    assert positions("there") == positions("here")
    here = json.loads((tmp_path / "here" / "openflexure_stitching_cache.json").read_text())
    there = json.loads((tmp_path / "there" / "openflexure_stitching_cache.json").read_text())
    (run_here,), (run_there,) = here["runs"], there["runs"]
    assert len(run_there["pairs"]) == len(run_here["pairs"]) >= 4


def _worker_settings() -> tuple[int, object, object]:
    import dask
    import pyvips
    import zarr

    from ofs_stitch.fusion import graph

    graph._process_prepared[0] = False  # as in a fresh worker, before its first chunk
    graph._prepare_process()
    return (
        pyvips.concurrency_get(),
        zarr.config.get("threading.max_workers"),
        dask.config.get("distributed.worker.profile.enabled"),
    )


def test_a_worker_keeps_its_libraries_to_its_own_threads(client: distributed.Client) -> None:
    """A single-threaded worker's tasks use one core: libvips and zarr get one thread, and the
    local cluster runs no profiler next to the tasks. The caller's process (the threaded
    scheduler) keeps its own settings."""
    import pyvips

    from ofs_stitch.fusion import graph

    assert client.submit(_worker_settings, pure=False).result() == (1, 1, False)
    before = pyvips.concurrency_get()
    graph._match_worker_threads()
    assert pyvips.concurrency_get() == before


def _has_module(name: str) -> bool:
    import sys

    return name in sys.modules


def test_the_workers_of_a_cluster_of_several_can_send_arrays_at_once() -> None:
    """distributed imports its numpy serializer when a worker first sends an array to
    another; a new cluster of several imports it as each worker starts, before any task."""
    from ofs_stitch.fusion.api import SHARING_WORKER_MODULES

    assert SHARING_WORKER_MODULES == ("distributed.protocol.numpy",)
    with local_cluster(2) as fresh:
        assert set(fresh.run(_has_module, SHARING_WORKER_MODULES[0]).values()) == {True}


def _size_plus(job: dict[str, int], extra: int) -> int:
    return len(job) + extra


def test_a_graphs_job_is_on_every_worker_before_its_tasks(client: distributed.Client) -> None:
    """Held by one worker, the job would draw every task there (the scheduler sends a task
    to where its inputs are)."""
    graph = {
        "job": {"a": 1, "b": 2},
        ("t", 0): (_size_plus, "job", 0),
        ("t", 1): (_size_plus, "job", 10),
    }
    sent = with_job_on_every_worker(graph, "job", client)
    assert "job" not in sent
    job = sent[("t", 0)][1]
    assert isinstance(job, distributed.Future) and sent[("t", 1)][1] is job
    holders = client.who_has([job])[job.key]
    assert len(holders) == len(client.scheduler_info()["workers"]) == 2
    assert list(client.get(sent, [("t", 0), ("t", 1)])) == [2, 12]


@pytest.mark.parametrize("with_progress", [False, True])
def test_the_client_makes_a_pyramid_top_no_worker_made(
    tmp_path: Path, whole_pixel_scan: FusionScan, client: distributed.Client, with_progress: bool
) -> None:
    """The block tasks' top was claimed by a task that died before making it: the client
    makes it from the tasks' results, which it kept (with progress, too, though it lets a
    many-block graph's results go as their tasks end)."""
    threaded = fuse_to_zarr(
        layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions),
        tmp_path / "threads.ome.zarr",
        chunk=64,
    )
    target, fusion = few_blocks(tmp_path / "cluster.ome.zarr", whole_pixel_scan)
    assert fusion.top is not None and len(fusion.keys) == 2
    Path(fusion.top.folder).mkdir(parents=True)
    (Path(fusion.top.folder) / "claimed").touch()
    calls: list[tuple[int, int]] = []
    graph.run_on_client(
        fusion, client, (lambda done, total: calls.append((done, total))) if with_progress else None
    )
    assert calls == ([(1, 2), (2, 2)] if with_progress else [])
    assert not (target.path / graph.TOP_FOLDER).exists()
    a = zarr.open_group(str(threaded.path), mode="r")
    b = zarr.open_group(str(target.path), mode="r")
    for level in range(len(threaded.levels)):
        assert np.array_equal(a[str(level)][:], b[str(level)][:])
