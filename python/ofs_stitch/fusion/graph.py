"""The fusion as a Dask graph: one task per chunk of every pyramid level.

The graph is a plain dict (Dask's own task-graph form), so the same graph runs on the threaded
scheduler (`dask.threaded.get`), on a `dask.distributed` `LocalCluster` of processes and on
any existing cluster (`Client.get`). Its keys:

- ``"fusion-job-<run>"``: the `FusionJob` every task needs (layout, target, blend), sent once
  to each worker rather than with every task;
- ``("paint-<run>", i, j)``: paint full-size chunk (i, j) from its tile parts and write it;
- ``("halve-<run>", k, i, j)``: make chunk (i, j) of level k from the chunks of level k - 1
  it covers, which its task depends on.

``<run>`` is unique to each call: a shared cluster keeps results by key, so two fusions
running there at once must not name their tasks alike.

Chunks already written by an interrupted run are left out (their file is whole: zarr writes
atomically), so a re-run only paints what is missing; a level-k chunk that is present is
still a valid source for level k + 1.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .chunks import ChunkPlan
from .layout import FusionLayout
from .ome_zarr import ZarrTarget, write_chunk
from .paint import file_reader, paint_chunk
from .pyramid import sources, write_halved

JOB_KEY = "fusion-job"


def run_tag() -> str:
    """A tag unique to one fusion run, for its task keys."""
    import os

    return os.urandom(6).hex()


@dataclass(frozen=True)
class FusionJob:
    """What every chunk task needs."""

    layout: FusionLayout
    target: ZarrTarget
    blend: str
    interpolation: str


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Freed memory up to this size stays in the process for the next chunk.
_KEEP_FREED_BYTES = 256 << 20
_allocator_tuned = [False]


def _keep_chunk_buffers() -> None:
    """Let this process reuse the memory of one chunk's buffers for the next (glibc only).

    dask.distributed's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which also fixes
    glibc's mmap threshold at its 128 kB default: every chunk-sized buffer (a few MB) is then
    mapped fresh and faulted in page by page, then unmapped. Measured on 8x8 tiles of 1024^2:
    1.7 CPU-s of page faults on top of 1.5 CPU-s of fusion in one worker process (the threaded
    scheduler, without the variable, spent 0.2 s). Raising both thresholds keeps a few chunks'
    worth of freed memory in the worker instead.
    """
    if _allocator_tuned[0]:
        return
    _allocator_tuned[0] = True
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest allowed mmap threshold
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)


def paint_task(job: FusionJob, plan: ChunkPlan) -> int:
    """Paint one full-size chunk and write it; returns the bytes written."""
    _keep_chunk_buffers()
    pixels = paint_chunk(job.layout, plan, file_reader(job.layout), job.blend, job.interpolation)  # type: ignore[arg-type]
    write_chunk(job.target, 0, plan.index[0], plan.index[1], pixels)
    return int(pixels.nbytes)


def halve_task(job: FusionJob, level: int, i: int, j: int, _done: list[int]) -> int:
    """Make chunk (i, j) of ``level`` once its sources (``_done``) are written."""
    _keep_chunk_buffers()
    return write_halved(job.target, level, i, j)


@dataclass(frozen=True)
class FusionGraph:
    """The task graph, the keys to compute, and how many chunks were already written."""

    graph: dict[Hashable, Any]
    keys: list[Any]  # Dask keys: ("paint-<run>", i, j) and ("halve-<run>", level, i, j)
    already_written: int
    job_key: str = JOB_KEY


def build_graph(job: FusionJob, plans: dict[tuple[int, int], ChunkPlan]) -> FusionGraph:
    """The graph that writes every missing chunk of every level of ``job.target``."""
    target = job.target
    tag = run_tag()
    job_key = f"{JOB_KEY}-{tag}"
    graph: dict[Hashable, Any] = {job_key: job}
    keys: list[Any] = []
    present = 0
    # Chunks with content at each level; a chunk at level k has content when one of its
    # sources has.
    live = set(plans)
    written: dict[tuple[int, int], Hashable | None] = {}
    for index, plan in plans.items():
        if target.has_chunk(0, *index):
            present += 1
            written[index] = None
            continue
        key: Hashable = (f"paint-{tag}", *index)
        graph[key] = (paint_task, job_key, plan)
        keys.append(key)
        written[index] = key
    for level in range(1, len(target.levels)):
        following: dict[tuple[int, int], Hashable | None] = {}
        parents = {(i // 2, j // 2) for i, j in live}
        for i, j in sorted(parents):
            needed = [written[s] for s in sources(target, level, i, j) if s in written]
            if target.has_chunk(level, i, j) and all(k is None for k in needed):
                present += 1
                following[(i, j)] = None
                continue
            key = (f"halve-{tag}", level, i, j)
            graph[key] = (halve_task, job_key, level, i, j, [k for k in needed if k is not None])
            keys.append(key)
            following[(i, j)] = key
        live, written = parents, following
    return FusionGraph(graph, keys, present, job_key)


Progress = Callable[[int, int], None]


def run_threaded(fusion: FusionGraph, workers: int, progress: Progress | None) -> None:
    """Compute the graph on Dask's threaded scheduler with ``workers`` threads."""
    from dask.callbacks import Callback
    from dask.threaded import get

    total = len(fusion.keys)
    done = [0]

    class Count(Callback):  # type: ignore[misc]
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if key != fusion.job_key:
                done[0] += 1
                if progress is not None:
                    progress(done[0], total)

    with Count():
        get(fusion.graph, fusion.keys, num_workers=workers)


def run_on_client(fusion: FusionGraph, client: Any, progress: Progress | None) -> None:
    """Compute the graph on a `distributed.Client` (a LocalCluster or any cluster)."""
    from distributed import as_completed

    futures = client.get(fusion.graph, fusion.keys, sync=False)
    total = len(fusion.keys)
    for done, future in enumerate(as_completed(futures), start=1):
        future.result()  # raises the task's error here, naming the tile
        if progress is not None:
            progress(done, total)
