"""Fusing a placed set of tiles into an OME-Zarr, on one machine or on a Dask cluster.

`fuse_to_zarr` plans the chunks, prepares (or resumes) the OME-Zarr group, builds the Dask
graph and runs it: on the threaded scheduler by default, on a new `LocalCluster` of worker
processes with ``processes=N``, or on any cluster through a `distributed.Client`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .chunks import DEFAULT_CHUNK, plan_chunks
from .graph import FusionJob, build_graph, run_on_client, run_threaded
from .layout import FusionLayout
from .ome_zarr import NGFF_VERSIONS, finish, holds, level_shapes, prepare
from .optional import require
from .paint import BLENDS, check_blend

INTERPOLATIONS = ("linear", "cubic")


@dataclass(frozen=True)
class FusionResult:
    """What a fusion run wrote."""

    path: Path
    levels: tuple[tuple[int, int], ...]  # (height, width) of every pyramid level
    chunks_written: int  # chunks written by this call (all levels)
    chunks_present: int  # chunks an earlier, interrupted run had written already
    up_to_date: bool  # the output already held this mosaic: nothing was written


def fingerprint(layout: FusionLayout, **choices: Any) -> str:
    """A digest of everything the pixels depend on: the tile files (name, size, modification
    time), their placements, the pixel size and the fusion's choices."""
    digest = hashlib.sha256()
    for path in layout.paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(str(path).encode())
    for array in (layout.to_tile, layout.shapes, layout.gains, layout.flat_field):
        if array is not None:
            digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((layout.height, layout.width, layout.fmt, layout.pixel_size_um)).encode())
    digest.update(repr(sorted(choices.items())).encode())
    return digest.hexdigest()


# The LocalCluster's configuration (see `local_cluster`).
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    # The blocked-event-loop watchdog (20 ms by default); it only warns.
    "distributed.admin.tick.interval": "1s",
    # CPU, memory and network samples for the dashboard (0.5 s by default).
    "distributed.admin.system-monitor.interval": "2s",
}


# What the workers of a LocalCluster of several import as they start (see `local_cluster`).
SHARING_WORKER_MODULES = ("distributed.protocol.numpy",)


# What this process imports to write an OME-Zarr (`ome_zarr.prepare`): 0.2 s, a third of an
# 8x8 fusion's wall time on a started 2-worker cluster when paid inside the first fusion.
CLIENT_MODULES = ("zarr", "numcodecs")


def _import_meanwhile(modules: tuple[str, ...] = CLIENT_MODULES) -> None:
    """Import ``modules`` on a thread while this one waits for a cluster to start or answer
    (a missing one is left for `require` to report when it is needed)."""

    def load() -> None:
        for name in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    threading.Thread(target=load, name="ofs-fusion-imports", daemon=True).start()


@contextlib.contextmanager
def local_cluster(workers: int, *, memory_limit: str | int = "auto") -> Iterator[Any]:
    """A `distributed.Client` on a new `LocalCluster` of ``workers`` single-threaded worker
    processes, closed on exit.

    The nanny sets its workers' environment (MALLOC_TRIM_THRESHOLD_, thread counts) in this
    process's own ``os.environ`` and leaves it there, where every process started later would
    inherit it (measured: a later child's freed memory went straight back to the system); the
    environment is restored on exit.

    Without a dashboard and without the workers' statistical profiler (it samples every
    thread's stack 100 times a second): both cost CPU on the cores the chunks are painted
    on, and nobody looks at them during a fusion (the dashboard's port was never shown).
    Measured on 8x8 tiles of 1024^2 as 85 one-chunk tasks on 2 workers: the profiler took
    each worker's event loop from 0.18 to 0.24-0.31 CPU-s.

    The event loops' watchdogs wake less often too (`QUIET_CLUSTER`): each process of the
    cluster (the scheduler, each nanny and each worker) checks every 20 ms
    whether its loop is blocked, only to log a warning, and samples its own CPU and memory
    every 0.5 s for the dashboard. Measured on an idle LocalCluster of 2 workers: 0.09-0.10 CPU-s
    a second in all, 0.035-0.045 with these intervals; over a 1 s fusion that is CPU taken from
    the painting on the same 2 cores. The nannies' memory limit checks keep their interval.

    With several workers, each imports distributed's serializer of numpy arrays as it
    starts (`SHARING_WORKER_MODULES`), not when a task's result first goes to another
    worker: distributed imports it then, 18 ms in the sender and again in the receiver, and
    in a fusion that moment is the pyramid's top waiting for the other workers' last
    halves, with every other worker idle (measured: that first transfer of a quarter chunk
    took 40 ms, the next ones 2-4 ms).
    """
    distributed = require("distributed", "fusion on a local cluster")
    dask = require("dask", "fusion on a local cluster")
    _import_meanwhile()  # while the workers start (about a second)
    environment = dict(os.environ)
    # The nanny hands the configuration in force to the worker processes it starts; the
    # scheduler reads its own as it starts.
    configuration = dict(QUIET_CLUSTER)
    if workers > 1:
        configuration["distributed.worker.preload"] = list(SHARING_WORKER_MODULES)
    with dask.config.set(configuration):
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=memory_limit,
            # The scheduler's HTTP server (health checks; no dashboard) on a free port of this
            # machine only: by default it takes 8787, and beside a Dask cluster the user runs
            # (which holds 8787) distributed printed a warning about taking another.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()
        os.environ.clear()
        os.environ.update(environment)


@contextlib.contextmanager
def scheduler_client(address: str) -> Iterator[Any]:
    """A `distributed.Client` connected to the scheduler at ``address`` (tcp://HOST:PORT)."""
    distributed = require("distributed", "fusion on a Dask cluster")
    _import_meanwhile()  # while the scheduler answers
    try:
        client = distributed.Client(address, timeout="20s")
    except OSError as error:
        raise InputError(
            f"cannot reach the Dask scheduler at {address}: {error}; check --dask_scheduler"
        ) from None
    with client:
        yield client


def fuse_to_zarr(
    layout: FusionLayout,
    out: Path | str,
    *,
    blend: str = "nearest",
    interpolation: str = "cubic",
    chunk: int = DEFAULT_CHUNK,
    ngff_version: str = "0.4",
    client: Any = None,
    processes: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pyramid: bool = True,
) -> FusionResult:
    """Fuse ``layout`` into the OME-Zarr ``out`` (a folder, conventionally ``*.ome.zarr``).

    ``client``: a `distributed.Client` to run on (any cluster); else ``processes=N``: a new
    `LocalCluster` of N worker processes for this call; else Dask's threaded scheduler with
    ``threads`` threads (default: every core). A re-run after an interruption writes only the
    missing chunks; a re-run on a finished output with the same inputs writes nothing.
    ``progress(done, total)`` is called as tasks finish (a task writes a block of chunks).
    ``pyramid=False``: the full size only.
    """
    require("dask", "chunked fusion")
    require("zarr", "OME-Zarr output")
    check_blend(blend, layout)
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be linear or cubic, not {interpolation!r}")
    if ngff_version not in NGFF_VERSIONS:
        raise InputError(f"NGFF version {ngff_version!r} is not offered: use 0.4 or 0.5")
    if chunk < 64 or chunk % 16:
        raise InputError(f"chunk size {chunk} must be a multiple of 16, at least 64")
    if processes is not None and processes < 1:
        raise InputError(f"processes={processes}: give at least 1 worker process")
    out = Path(out).absolute()  # workers may run in another folder
    mosaic = fingerprint(
        layout,
        blend=blend,
        interpolation=interpolation,
        chunk=chunk,
        ngff=ngff_version,
        pyramid=pyramid,
    )
    if client is None and processes is not None and not holds(out, mosaic):
        # The cluster first: the output is prepared and the chunks planned with the workers
        # up, and this process's imports for the output made while they start.
        with local_cluster(processes) as own:
            return fuse_to_zarr(
                layout,
                out,
                blend=blend,
                interpolation=interpolation,
                chunk=chunk,
                ngff_version=ngff_version,
                client=own,
                progress=progress,
                pyramid=pyramid,
            )
    target = prepare(
        out,
        version=ngff_version,
        height=layout.height,
        width=layout.width,
        chunk=chunk,
        bands=layout.fmt.bands,
        dtype=layout.fmt.dtype,
        pixel_size_um=layout.pixel_size_um,
        fingerprint=mosaic,
        pyramid=pyramid,
    )
    if target is None:
        levels = level_shapes(layout.height, layout.width, chunk)
        return FusionResult(out, levels if pyramid else levels[:1], 0, 0, True)
    nearest = blend == "nearest"
    plans = plan_chunks(layout, chunk, rounded=nearest, parts=not nearest)
    job = FusionJob(layout, target, blend, interpolation)
    if client is not None:
        # The task threads of the cluster's workers, as it is now (one round trip).
        workers = sum(client.nthreads().values())
    else:
        workers = threads or max(1, len(os.sched_getaffinity(0)))
    fusion = build_graph(job, plans, workers=workers)
    if client is not None:
        run_on_client(fusion, client, progress)
    else:
        run_threaded(fusion, workers, progress)
    finish(target)
    return FusionResult(out, target.levels, fusion.to_write, fusion.already_written, False)


__all__ = ["BLENDS", "FusionResult", "fuse_to_zarr", "local_cluster", "scheduler_client"]
