"""The fusion as a Dask graph: one task per block of chunks (which also makes the block's
chunks of the first pyramid levels), then one per chunk of each higher pyramid level; or,
when the blocks are few, a task per worker's share of them, the last of which to end makes
the levels above the blocks (`PyramidTop`).

The graph is a plain dict (Dask's own task-graph form), so the same graph runs on the threaded
scheduler (`dask.threaded.get`), on a `dask.distributed` `LocalCluster` of processes and on
any existing cluster (`Client.get`). Its keys:

- ``"fusion-job-<run>"``: the `FusionJob` every task needs (layout, target, blend); on a
  cluster it goes to every worker once, before the tasks, except that a graph of a few
  tasks carries it in each (see `broadcast`);
- ``("block-<run>", i, j)``: one or more blocks (the first is block (i, j)), each the
  2^d x 2^d full-size chunks under chunk (i, j) of level d (the block's depth): paint its
  chunks from their tile parts, write them, and halve them in memory into the block's
  chunks of levels 1 to d (with the pyramid); its result holds each block's level-d chunk
  halved once more (its quarter of a chunk of level d + 1), by chunk index;
- ``("halve-<run>", k, i, j)`` (with many blocks): make chunk (i, j) of level k > d from the
  halves of the chunks of level k - 1 it covers, in the results of the tasks it depends on;
  its result is its own chunk halved, for level k + 1.

Why the halves travel as results (or, from a few blocks, as files the last task reads)
rather than being read back from the store: the pyramid's top needs every block, so it is
made after the last block, while the other workers wait. Passed in memory (a quarter of a
chunk), they cost neither the read, the decompression nor the halving of the four chunks
they come from.

Why blocks of chunks rather than a task per chunk: a chunk's work is small (a few ms per
megapixel), and on a cluster each task also costs the scheduler, the client and the worker's
event loop some milliseconds of CPU, on the same cores as the painting. Measured on 8x8 tiles
of 1024^2 with 2 worker processes on 2 cores: with 85 one-chunk tasks the scheduler's event
loop took 0.25-0.39 CPU-s and each worker's 0.24-0.31 s, next to 1.3-1.6 CPU-s of fusion; with
21 tasks (16 blocks of 2 x 2; and without the workers' profiler, see `api.local_cluster`)
0.11-0.16 s and 0.06-0.09 s. The blocks grow (`block_depth`) while the workers can still share
them evenly (by the pixels each paints): for 2 workers, 8x8 tiles go in 4 blocks of 4 x 4
chunks and one pyramid task, and 16x16 tiles in 4 blocks of 8 x 8 and one (5 tasks each, where
blocks of 2 x 2 made 21 and 85; the 4 blocks are now dealt into a task per worker, see
`shares`, which also make the pyramid's top, see `PyramidTop`: 2 tasks). Measured with 2
worker processes (medians of 5 and 3 fusions, alternating with the graph before, of 2 x 2
blocks and its job held by one worker, see `broadcast`): 8x8 in 0.31-0.33 s instead of
0.36-0.38 s, the client and the scheduler taking 0.05-0.06 CPU-s instead of 0.09; 16x16 in
1.12-1.37 s against 1.21-1.40 s, the client 0.12-0.15 CPU-s instead of 0.29-0.33. A block task
holds one chunk of each of its levels at a time, so its memory grows with its depth, not with
its area.

``<run>`` is unique to each call: a shared cluster keeps results by key, so two fusions
running there at once must not name their tasks alike.

Chunks already written by an interrupted run are left out (their file is whole: zarr writes
atomically), so a re-run only paints what is missing; a chunk that is present is still a
valid source for the level above it (a block task reads it back to halve).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import sys
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .broadcast import INLINE_TASKS, with_job_inline, with_job_on_every_worker
from .chunks import ChunkPlan
from .layout import FusionLayout
from .ome_zarr import ZarrTarget, read_region, write_chunk
from .paint import RegionReader, file_reader, paint_chunk
from .pyramid import halve, halve_from_parts, source_region, sources

JOB_KEY = "fusion-job"
# The folder, in the group being written, where a few block tasks leave their halves for
# the one that makes the pyramid's top (see `PyramidTop`); removed before the group is done.
TOP_FOLDER = ".pyramid-top"


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

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        # Dask hashes every value of a graph it is given (Client.get), walking dataclasses
        # field by field: 0.03-0.08 CPU-s of the client's for 64 tiles' layout and chunk
        # plans, before any task could start (0.001 s with these tokens). The task keys are
        # unique to each run already; the output folder and the choices name the job.
        return ("FusionJob", str(self.target.path), self.blend, self.interpolation)


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Freed memory up to this size stays in the process for the next chunk.
_KEEP_FREED_BYTES = 256 << 20
_process_prepared = [False]


def _keep_chunk_buffers() -> None:
    """Let this process reuse the memory of one chunk's buffers for the next (glibc only).

    dask.distributed's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which also fixes
    glibc's mmap threshold at its 128 kB default: every chunk-sized buffer (a few MB) is then
    mapped fresh and faulted in page by page, then unmapped. Measured on 8x8 tiles of 1024^2:
    1.7 CPU-s of page faults on top of 1.5 CPU-s of fusion in one worker process (the threaded
    scheduler, without the variable, spent 0.2 s). Raising both thresholds keeps a few chunks'
    worth of freed memory in the worker instead.
    """
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


def _worker_threads() -> int | None:
    """The number of task threads of the dask.distributed worker running this task; None
    outside a worker (the threaded scheduler in the caller's own process)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return int(get_worker().state.nthreads)
    except ValueError:
        return None


def _match_worker_threads() -> None:
    """On a dask.distributed worker of N task threads, give the libraries the tasks call N
    threads too: a cluster user gives each worker its share of the cores (a LocalCluster of 2
    single-threaded workers on 2 cores), and a worker whose libraries start a pool of
    threads per core would take more than that share, so that 2 workers would not be twice
    as fast as 1. libvips sizes its pools by the machine's cores (`pyvips.concurrency_set`)
    and zarr its encoding pool (``threading.max_workers``). Blosc compresses on the calling
    thread already (numcodecs' ``use_threads`` is off), and our C++ kernels run on one
    thread here (the tasks ask for one). The caller's own process (the threaded scheduler)
    keeps its settings: its threads are the scheduler's.
    """
    threads = _worker_threads()
    if threads is None:
        return
    import pyvips
    import zarr

    pyvips.concurrency_set(threads)
    # Read when zarr makes its pool, at its first read or write in this process: before it.
    zarr.config.set({"threading.max_workers": threads})


def _prepare_process() -> None:
    """What every task does once per process before its first chunk."""
    if _process_prepared[0]:
        return
    _process_prepared[0] = True
    _keep_chunk_buffers()
    _match_worker_threads()


@dataclass(frozen=True)
class BlockWork:
    """What one block task does: paint ``plans`` (the block's missing full-size chunks) and
    make the chunks ``remade`` of levels 1 to ``levels`` from them (``present`` full-size
    chunks and chunks of those levels an earlier run wrote are read back where a chunk above
    them needs them; chunks no tile reaches are empty)."""

    # The block's index: full-size chunk (i, j) is in it when (i, j) >> depth is the index
    # (2^depth x 2^depth chunks); with a pyramid, its chunk of level `levels` (= depth).
    index: tuple[int, int]
    levels: int  # the levels above the full size it makes: its depth, or 0 without a pyramid
    plans: tuple[ChunkPlan, ...]
    present: tuple[tuple[int, int], ...]  # full-size chunks of the block already written
    remade: tuple[tuple[int, int, int], ...]  # (level, i, j) of levels >= 1 to make

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        # A cheap token (see FusionJob's): within a run, the block's index and what it does.
        return (
            "BlockWork",
            self.index,
            self.levels,
            tuple(p.index for p in self.plans),
            self.present,
            self.remade,
        )


def blocks_task(
    job: FusionJob, works: tuple[BlockWork, ...], top: PyramidTop | None = None
) -> dict[tuple[int, int], np.ndarray]:
    """Paint and write each of ``works``' blocks in turn: its missing chunks, then its chunks
    of the levels above them. Returns, by block index, each block's top chunk halved when the
    pyramid goes higher (what the task of the level above assembles). With ``top``, the
    task that ends last also makes the pyramid above the blocks (see `PyramidTop`)."""
    _prepare_process()
    read = file_reader(job.layout)
    halves: dict[tuple[int, int], np.ndarray] = {}
    for work in works:
        block = _Block(job, work, read)
        if work.levels == 0:
            for plan in work.plans:
                block.paint(plan)
            continue
        top_chunk = block.pixels(work.levels, *work.index)
        if top_chunk is not None and work.levels + 1 < len(job.target.levels):
            halves[work.index] = halve(top_chunk)
    if top is not None:
        top.offer(job, halves)
    return halves


class _Block:
    """The chunks of one block task, made depth first: a chunk of level k is assembled from
    the halves of its four sources of level k - 1 as each is made, so the task holds one
    chunk per level at a time, and each full-size chunk is halved straight after painting,
    while its pixels are still in the cache (every pass over chunk-sized memory costs two
    workers on two cores more than one, as they share the memory bandwidth). The pixels
    are those of halving whole levels: a chunk's size is even, so no 2 x 2 mean straddles
    two chunks."""

    def __init__(self, job: FusionJob, work: BlockWork, read: RegionReader) -> None:
        self.job, self.read = job, read
        self.plans = {plan.index: plan for plan in work.plans}
        self.remade = set(work.remade)
        # The full-size chunks with content: a chunk of any level with none under it is empty.
        self.content = set(self.plans) | set(work.present)

    def paint(self, plan: ChunkPlan) -> np.ndarray:
        job = self.job
        pixels = paint_chunk(job.layout, plan, self.read, job.blend, job.interpolation)  # type: ignore[arg-type]
        write_chunk(job.target, 0, plan.index[0], plan.index[1], pixels)
        return pixels

    def pixels(self, level: int, i: int, j: int) -> np.ndarray | None:
        """Chunk (i, j) of ``level``: made when the block makes it, else read back; None when
        no tile reaches it."""
        if not any((a >> level, b >> level) == (i, j) for a, b in self.content):
            return None
        target = self.job.target
        if level == 0 and (i, j) in self.plans:
            return self.paint(self.plans[(i, j)])
        c = target.chunk
        height, width = target.levels[level]
        if level == 0 or (level, i, j) not in self.remade:
            return read_region(
                target, level, i * c, min(height, (i + 1) * c), j * c, min(width, (j + 1) * c)
            )
        y0, y1, x0, x1 = source_region(target, level, i, j)
        # Quarters no tile reaches stay 0.
        pixels = np.zeros(((y1 - y0 + 1) // 2, (x1 - x0 + 1) // 2, target.bands), target.dtype)
        for r, k in sources(target, level, i, j):
            source = self.pixels(level - 1, r, k)
            if source is not None:
                half = halve(source)
                top, left = r * c // 2 - y0 // 2, k * c // 2 - x0 // 2
                pixels[top : top + half.shape[0], left : left + half.shape[1]] = half
        write_chunk(target, level, i, j, pixels)
        return pixels


def halve_task(
    job: FusionJob, level: int, i: int, j: int, parts: list[dict[tuple[int, int], np.ndarray]]
) -> dict[tuple[int, int], np.ndarray]:
    """Make and write chunk (i, j) of ``level`` from the halves of its sources of ``level - 1``
    in ``parts`` (the results of the tasks it depends on, by chunk index; sources written by
    an earlier run, or never, are read back); returns the chunk halved, by its index, when
    ``level`` is not the top."""
    _prepare_process()
    target = job.target
    made = {index: half for part in parts for index, half in part.items()}
    given = {s: made[s] for s in sources(target, level, i, j) if s in made}
    pixels = halve_from_parts(target, level, i, j, given)
    write_chunk(target, level, i, j, pixels)
    return {(i, j): halve(pixels)} if level + 1 < len(target.levels) else {}


def make_top(
    job: FusionJob,
    chunks: tuple[tuple[int, int, int], ...],
    halves: dict[tuple[int, int], np.ndarray],
) -> None:
    """Make and write ``chunks`` ((level, i, j)) of the pyramid above the blocks, from the
    blocks' ``halves`` (by block index; sources not among them are read back), each level's
    from the halves of the one below."""
    below = halves
    for level in sorted({level for level, _, _ in chunks}):
        made: dict[tuple[int, int], np.ndarray] = {}
        for i, j in [(i, j) for k, i, j in chunks if k == level]:
            made.update(halve_task(job, level, i, j, [below]))
        below = made


@dataclass(frozen=True)
class PyramidTop:
    """The pyramid above a few blocks' tasks (one per worker), made by whichever of those
    tasks ends last rather than by tasks of its own.

    Why: a task of the pyramid's top can only start once the cluster's scheduler has heard
    that the last block is done; it is then handed to a worker, which fetches the other
    workers' halves and makes the chunk, and the client hears of it after one more message.
    Each of those hops costs milliseconds between processes (measured: a no-op task took
    8-11 ms there and back on an idle 2-worker cluster), with every worker idle: 14-31 ms
    from the last block's end to the call's return on 8x8 tiles of 1024^2 with 2 workers,
    for 4-7 ms of work. Here each task leaves its blocks' halves in ``folder`` (a few
    hundred kB each: a quarter of a chunk) as it ends, and the one that finds every block's
    halves there makes the top at once. Measured on that mosaic, alternating on one warm
    cluster (medians of 24 fusions): 0.273 s against 0.294 s.

    The folder is in the group being written (the workers share it: they write its chunks).
    A file's halves are written under a temporary name and renamed, and a task claims the
    top by creating a file that must not exist yet, so two tasks that end together make it
    once. If no task made it (the halves could not be left there, a file system showed a task
    a stale listing, or the task that claimed it died and Dask ran it again), the caller
    makes it from the tasks' results (`finish_top`).
    """

    folder: str
    blocks: tuple[tuple[int, int], ...]  # every block whose halves the top needs
    chunks: tuple[tuple[int, int, int], ...]  # (level, i, j) to make, level by level

    def _halves_file(self, index: tuple[int, int]) -> str:
        return os.path.join(self.folder, f"{index[0]}.{index[1]}.npy")

    @property
    def made_file(self) -> str:
        return os.path.join(self.folder, "made")

    def offer(self, job: FusionJob, halves: dict[tuple[int, int], np.ndarray]) -> bool:
        """Leave ``halves`` (this task's blocks') for the others; make the top if every
        block's halves are there and no other task claimed it first. True if made here."""
        try:
            every = self._every_half(halves)
        except (OSError, ValueError):
            # The halves could not be left or read (a full disk, a file cut short): the
            # caller makes the top from the tasks' results instead.
            return False
        if every is None:
            return False
        make_top(job, self.chunks, every)
        with contextlib.suppress(OSError):  # without it, the caller makes the top again
            os.close(os.open(self.made_file, os.O_CREAT | os.O_WRONLY))
        return True

    def _every_half(
        self, halves: dict[tuple[int, int], np.ndarray]
    ) -> dict[tuple[int, int], np.ndarray] | None:
        """Every block's halves, when this task is the one to make the top; else None."""
        os.makedirs(self.folder, exist_ok=True)
        if not set(self.blocks) <= set(halves):  # a task holding every block needs no files
            for index, pixels in halves.items():
                temporary = os.path.join(self.folder, f".{index[0]}.{index[1]}.{run_tag()}.npy")
                np.save(temporary, pixels, allow_pickle=False)
                os.replace(temporary, self._halves_file(index))
            if not all(os.path.exists(self._halves_file(index)) for index in self.blocks):
                return None
            try:
                os.close(os.open(os.path.join(self.folder, "claimed"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return None
        return {
            index: halves[index] if index in halves else np.load(self._halves_file(index))
            for index in self.blocks
        }


def finish_top(
    top: PyramidTop | None,
    job: FusionJob,
    results: Callable[[], Iterable[dict[tuple[int, int], np.ndarray]]],
) -> None:
    """After the block tasks: make the pyramid's ``top`` here if none of them did
    (``results``: the tasks' results, asked for only then)."""
    if top is not None and not os.path.exists(top.made_file):
        halves = {index: half for result in results() for index, half in result.items()}
        make_top(job, top.chunks, halves)


def clear_top(fusion: FusionGraph) -> None:
    """Remove the folder of the block tasks' halves, with any an interrupted run left in the
    group."""
    if fusion.top is not None:
        shutil.rmtree(os.path.dirname(fusion.top.folder), ignore_errors=True)


@dataclass(frozen=True)
class FusionGraph:
    """The task graph, the keys to compute, and how many chunks it writes and an earlier run
    had written already."""

    graph: dict[Hashable, Any]
    keys: list[Any]  # Dask keys: ("block-<run>", i, j) and ("halve-<run>", level, i, j)
    already_written: int
    job_key: str = JOB_KEY
    to_write: int = 0  # chunks (all levels) the tasks write
    # Dask priorities (higher first) for a cluster's scheduler: see `task_priorities`.
    priorities: dict[Hashable, int] = field(default_factory=dict)
    # The keys no other task depends on (the pyramid's top): asking only for these lets the
    # threaded scheduler drop each half-chunk result once the task above it has used it.
    outputs: list[Any] = field(default_factory=list)
    # The pyramid above the blocks when the last block task makes it (a few blocks: a task
    # per worker); None when tasks of its own make it.
    top: PyramidTop | None = None


# The deepest block: 8 x 8 chunks (a task holds a chunk of each of its levels at a time).
MAX_DEPTH = 3
# How much longer than an even share the busiest worker's blocks may take.
UNEVEN_SHARE = 1.05


def busiest_share(sizes: Iterable[int], workers: int) -> float:
    """The busiest of ``workers``' share of blocks of ``sizes`` against an even share, the
    blocks handed out largest first, each to the worker with the least so far (as `shares`
    deals a few, and as a cluster's queue about hands out many)."""
    loads = [0] * max(1, workers)  # a heap: the least loaded worker first
    ordered = sorted(sizes, reverse=True)
    for size in ordered:
        heapq.heapreplace(loads, loads[0] + size)
    return max(loads) * len(loads) / max(1, sum(ordered))


def block_depth(plans: dict[tuple[int, int], ChunkPlan], levels: int, workers: int) -> int:
    """The depth of the block tasks: blocks of 2 x 2 chunks (depth 1), deeper while the
    blocks still divide evenly between ``workers`` (by the pixels they paint), up to
    `MAX_DEPTH`; with a pyramid of ``levels``, a block's top chunk is one of its levels."""
    areas = {index: plan.window.rows * plan.window.cols for index, plan in plans.items()}
    depth = 1
    while depth < MAX_DEPTH and (levels == 1 or depth + 1 < levels):
        deeper: dict[tuple[int, int], int] = {}
        for (i, j), area in areas.items():
            block = (i >> (depth + 1), j >> (depth + 1))
            deeper[block] = deeper.get(block, 0) + area
        if busiest_share(deeper.values(), workers) > UNEVEN_SHARE:
            break
        depth += 1
    return depth


def dealt_per_worker(blocks: int, workers: int) -> bool:
    """Whether `shares` deals ``blocks`` block tasks' work into a task per worker (a few
    blocks: at most two per worker), rather than leaving a task per block."""
    return blocks <= 2 * workers


def shares(works: list[tuple[int, BlockWork]], workers: int) -> list[list[tuple[int, BlockWork]]]:
    """The blocks' tasks: one per block, or, when there are at most two blocks per worker,
    one per worker, the blocks (``works``: the pixels each paints and its work) dealt
    largest first to the share with the least so far.

    Why: dask.distributed's scheduler queues a group of tasks and hands them out as workers
    free up only when the group has more than twice as many tasks as the cluster has
    threads; a smaller group it sends to the workers at once, alternately in an order of its
    own, whatever the tasks' sizes (the priorities do not change that). Of the four blocks
    of an 8x8 mosaic of 1024^2 tiles (16, 13.2, 13.2 and 10.9 chunks' worth), one of 2
    workers then always got the two on one row (29.2 chunks against 24.1) and worked
    30-50 ms alone at the end. Dealt here, the shares are 26.9 and 26.4 chunks and end
    within 1-13 ms of each other. Measured on one warm cluster of 2 worker processes,
    alternating: 0.287 s per fusion (median of 12) against 0.296 s with a task per block.
    """
    if not dealt_per_worker(len(works), workers):
        return [[work] for work in works]
    dealt: list[list[tuple[int, BlockWork]]] = [[] for _ in range(min(workers, len(works)))]
    loads = [(0, k) for k in range(len(dealt))]  # a heap: the least loaded share first
    for work in sorted(works, key=lambda w: (-w[0], w[1].index)):
        load, k = loads[0]
        dealt[k].append(work)
        heapq.heapreplace(loads, (load + work[0], k))
    return dealt


def _remade(
    target: ZarrTarget,
    on_disk: frozenset[tuple[int, int, int]],
    levels: int,
    missing: set[tuple[int, int]],
    members: list[tuple[int, int]],
) -> list[tuple[int, int, int]]:
    """The chunks of levels 1 to ``levels`` above a block's full-size ``members`` (those with
    content) to make: each one not ``on_disk`` yet or made from a chunk made anew."""
    remade: list[tuple[int, int, int]] = []
    below = set(missing)  # chunks made anew at the level under this one
    live = set(members)
    for level in range(1, levels + 1):
        live = {(i // 2, j // 2) for i, j in live}
        made = {
            (i, j)
            for i, j in live
            if (level, i, j) not in on_disk or any(s in below for s in sources(target, level, i, j))
        }
        remade += [(level, i, j) for i, j in sorted(made)]
        below = made
    return remade


def build_graph(
    job: FusionJob, plans: dict[tuple[int, int], ChunkPlan], *, workers: int = 1, depth: int = 0
) -> FusionGraph:
    """The graph that writes every missing chunk of every level of ``job.target``, for
    ``workers`` running tasks at once; ``depth``: the blocks' (default: `block_depth`)."""
    target = job.target
    pyramid = len(target.levels) > 1
    depth = depth or block_depth(plans, len(target.levels), workers)
    levels = depth if pyramid else 0
    tag = run_tag()
    job_key = f"{JOB_KEY}-{tag}"
    graph: dict[Hashable, Any] = {job_key: job}
    keys: list[Any] = []
    present = to_write = 0
    on_disk = target.written_chunks()  # by an interrupted run
    blocks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for index in plans:
        blocks.setdefault((index[0] >> depth, index[1] >> depth), []).append(index)
    # The task (None: nothing to do) that writes each chunk with content of the level above.
    written: dict[tuple[int, int], Hashable | None] = {}
    works: list[tuple[int, BlockWork]] = []  # each block's work and the pixels it paints
    for block, members in blocks.items():
        missing = [m for m in members if (0, *m) not in on_disk]
        remade = _remade(target, on_disk, levels, set(missing), members)
        above = sum(len({(i >> k, j >> k) for i, j in members}) for k in range(1, levels + 1))
        present += len(members) - len(missing) + above - len(remade)
        if not missing and not remade:
            written[block] = None
            continue
        work = BlockWork(
            block,
            levels,
            tuple(plans[m] for m in missing),
            tuple(m for m in members if m not in missing) if remade else (),
            tuple(remade),
        )
        works.append((sum(p.window.rows * p.window.cols for p in work.plans), work))
        to_write += len(missing) + len(remade)
    # A few blocks, dealt into a task per worker, make the pyramid above them themselves.
    dealt = shares(works, workers)
    few = dealt_per_worker(len(works), workers)
    painted: list[tuple[int, tuple[int, int], Hashable]] = []  # each block task's pixels
    block_keys: list[Hashable] = []
    for share in dealt:
        first = share[0][1].index
        key: Hashable = (f"block-{tag}", *first)
        keys.append(key)
        block_keys.append(key)
        painted.append((sum(size for size, _ in share), first, key))
        for _, work in share:
            written[work.index] = key
    # The chunks above the blocks, level by level: each one not on disk yet or made from a
    # chunk made anew, as a task of its own or (with few blocks) made by the last block task.
    halves: list[tuple[int, Hashable]] = []
    top_chunks: list[tuple[int, int, int]] = []
    live = set(blocks)
    for level in range(depth + 1, len(target.levels)):
        following: dict[tuple[int, int], Hashable | None] = {}
        parents = {(i // 2, j // 2) for i, j in live}
        for i, j in sorted(parents):
            needed = [(s, written[s]) for s in sources(target, level, i, j) if s in written]
            if (level, i, j) in on_disk and all(k is None for _, k in needed):
                present += 1
                following[(i, j)] = None
                continue
            to_write += 1
            top_chunks.append((level, i, j))
            key = (f"halve-{tag}", level, i, j)
            following[(i, j)] = key  # with few blocks, not a task: the chunk is made anew
            if few:
                continue
            # Each task that writes a source once, though it may write several.
            running = list(dict.fromkeys(k for _, k in needed if k is not None))
            graph[key] = (halve_task, job_key, level, i, j, running)
            keys.append(key)
            halves.append((level, key))
        live, written = parents, following
    top = None
    if few and top_chunks:
        folder = os.path.join(target.path, TOP_FOLDER, tag)
        top = PyramidTop(folder, tuple(work.index for _, work in works), tuple(top_chunks))
    for key, share in zip(block_keys, dealt, strict=True):
        graph[key] = (blocks_task, job_key, tuple(work for _, work in share), top)
    priorities = task_priorities(painted, halves, job_key)
    used = {dep for key in keys if graph[key][0] is halve_task for dep in graph[key][5]}
    outputs = [key for key in keys if key not in used]
    return FusionGraph(graph, keys, present, job_key, to_write, priorities, outputs, top)


def task_priorities(
    blocks: list[tuple[int, tuple[int, int], Hashable]],
    halves: list[tuple[int, Hashable]],
    job_key: str,
) -> dict[Hashable, int]:
    """The order a cluster's scheduler hands out the tasks in (higher first): the pyramid's
    tasks as soon as their sources are written, the block tasks largest first (``blocks``:
    the pixels each paints, its index and key; row by row among equals).

    Why: the workers run out of blocks at different times, and the one that finishes first
    waits, idle, for the others' last blocks and for the pyramid's top, which needs them
    all. Dask's own order (it finishes a pyramid branch before starting the next) handed
    out the mosaic's small edge blocks first and its whole ones last; ending on the small
    ones shortens that wait. Measured on 8x8 tiles of 1024^2 with 2 worker processes on 2
    cores: see the README's fusion section.
    """
    top = len(blocks)
    priorities: dict[Hashable, int] = {}
    for rank, (_, _, key) in enumerate(sorted(blocks, key=lambda b: (-b[0], b[1]))):
        priorities[key] = top - rank
    for level, key in halves:
        priorities[key] = top + 1 + level
    priorities[job_key] = max(priorities.values(), default=0) + 1
    return priorities


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

    try:
        with Count():
            results = get(fusion.graph, fusion.outputs, num_workers=workers)
        finish_top(fusion.top, fusion.graph[fusion.job_key], lambda: results)
    finally:
        clear_top(fusion)


def run_on_client(fusion: FusionGraph, client: Any, progress: Progress | None) -> None:
    """Compute the graph on a `distributed.Client` (a LocalCluster or any cluster)."""
    try:
        _run_on_client(fusion, client, progress)
    finally:
        clear_top(fusion)


def _run_on_client(fusion: FusionGraph, client: Any, progress: Progress | None) -> None:
    import dask
    from distributed import as_completed, wait

    if len(fusion.keys) <= INLINE_TASKS:
        graph = with_job_inline(fusion.graph, fusion.job_key)
    else:
        graph = with_job_on_every_worker(fusion.graph, fusion.job_key, client)
    job = fusion.graph[fusion.job_key]
    fusion = replace(fusion, graph=graph)
    if progress is None:
        # Without progress to show, the client asks only for the pyramid's top (the tasks no
        # other depends on; with a few blocks, the blocks' tasks): the scheduler then reports
        # one task per output to it, not every block, and drops each half-chunk result as
        # soon as the task above has used it. Measured on 8x8 tiles of 1024^2 with 2 workers:
        # the client's and the scheduler's CPU per fusion fell from 0.12 to 0.07 s, on the
        # cores the workers paint on.
        with dask.annotate(priority=fusion.priorities.get):
            outputs = client.get(fusion.graph, fusion.outputs, sync=False)
        wait(outputs)
        for future in outputs:
            if future.status != "finished":
                future.result()  # a failed task's error (a source's failure reaches its top)
        finish_top(fusion.top, job, lambda: client.gather(outputs))
        return
    with dask.annotate(priority=fusion.priorities.get):
        futures = client.get(fusion.graph, fusion.keys, sync=False)
    total = len(fusion.keys)
    # Only a failed task's result is fetched (to raise its error here, naming the tile): each
    # fetch is a round trip through the event loops of the client and of a worker, on the
    # cores that paint. A finished task's future is released at once, so that the cluster
    # drops its half-chunk result when the task above it has used it (a few blocks' tasks
    # keep theirs, in case none of them made the pyramid's top).
    for done, future in enumerate(as_completed(futures), start=1):
        if future.status != "finished":
            future.result()
        if fusion.top is None:
            future.release()
        progress(done, total)
    finish_top(fusion.top, job, lambda: client.gather(futures))
