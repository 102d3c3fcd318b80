"""Where a 2-worker fusion's time goes: the part the two workers do not divide between them.

Usage: python benchmarks/fusion_task_stream.py [--work DIR] [--grid small|big] [--runs N]
[--workers 1|2]

Fuses the whole-pixel scan of compare_fusion.py (made in --work if missing; 8x8 or 16x16
tiles of 1024^2) N times on one LocalCluster of 2 single-threaded worker processes (after one
run that is not counted; --workers 1: one worker, to compare the task CPU, which two workers
sharing the memory bandwidth of 2 cores inflate; the replay assumes 2) and prints, per run
and as medians:

- from the workers' task stream (wall clock): the seconds in which fewer than 2 workers ran a
  task, split into before the first task, between, and after the last;
- in CPU terms, which another job's load disturbs much less: each task's process CPU on its
  worker (a worker plugin reads it as the task starts and ends), replayed on 2 idle cores in
  the order the scheduler handed the tasks out, each pyramid task after its sources: the
  replay's idle core-seconds and the pyramid work left after the last block (none where a
  few blocks' last task makes the pyramid's top itself, as on 8x8 and 16x16 with 2 workers);
  and this process's CPU (the client and the scheduler, which share the cores with the
  workers).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from compare_fusion import CHUNK, scan
from distributed import WorkerPlugin, get_task_stream

from ofs_stitch.fusion import fuse_to_zarr, layout_from_positions, local_cluster
from ofs_stitch.io.header import read_headers


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TaskCpu(WorkerPlugin):  # type: ignore[misc]
    """Each task's process CPU on its (single-threaded) worker."""

    name = "task-cpu"

    def setup(self, worker: Any) -> None:
        self.started: dict[Any, float] = {}
        self.spent: dict[Any, float] = {}

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing":
            self.started[key] = process_cpu()
        elif start == "executing" and key in self.started:
            self.spent[key] = process_cpu() - self.started.pop(key)


def collect(dask_worker: Any) -> dict[Any, float]:
    plugin = dask_worker.plugins["task-cpu"]
    spent = dict(plugin.spent)
    plugin.spent.clear()
    return spent


def sources(key: tuple) -> list[tuple]:
    """The tasks a pyramid task waits for (keys as graph.py names them)."""
    if not key[0].startswith("halve"):
        return []
    tag = key[0].split("-", 1)[1]
    level, i, j = key[1:]
    below = [(2 * i + a, 2 * j + b) for a in (0, 1) for b in (0, 1)]
    if level == 2:
        return [(f"block-{tag}", *s) for s in below]
    return [(f"halve-{tag}", level - 1, *s) for s in below]


def replay(order: list[tuple], cpu: dict[Any, float]) -> tuple[float, float]:
    """A list schedule of the tasks' CPU on 2 cores, handed out in ``order`` as their sources
    finish; returns its length and the pyramid work after the last block."""
    free, done = [0.0, 0.0], {}
    pending = [k for k in order if k in cpu]
    while pending:
        core = min((0, 1), key=lambda c: free[c])
        key = next(k for k in pending if all(s in done or s not in cpu for s in sources(k)))
        start = max([free[core]] + [done[s] for s in sources(key) if s in done])
        done[key] = free[core] = start + cpu[key]
        pending.remove(key)
    span = max(done.values())
    last_block = max(v for k, v in done.items() if k[0].startswith("block"))
    return span, span - last_block


def one_run(client: Any, layout: Any, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    cpu0 = process_cpu()
    with get_task_stream(client) as stream:
        t0 = time.time()
        fuse_to_zarr(layout, out, blend="nearest", chunk=CHUNK, client=client)
        t1 = time.time()
    client_cpu = process_cpu() - cpu0
    cpu: dict[Any, float] = {}
    for spent in client.run(collect).values():
        cpu.update({k: v for k, v in spent.items() if isinstance(k, tuple)})
    events, starts = [], []
    for record in stream.data:
        for part in record["startstops"]:
            if part["action"] == "compute":
                events += [(part["start"], 1), (part["stop"], -1)]
                starts.append((part["start"], record["key"]))
    events.sort()
    busy, last, below_two = 0, t0, 0.0
    for moment, change in events:
        if busy < 2:
            below_two += moment - last
        busy, last = busy + change, moment
    span, after_blocks = replay([k for _, k in sorted(starts) if isinstance(k, tuple)], cpu)
    total = sum(cpu.values())
    return {
        "wall": t1 - t0,
        "undivided": below_two + (t1 - last),
        "before first": events[0][0] - t0,
        "after last": t1 - last,
        "task CPU": total,
        "replay idle core-s": 2 * span - total,
        "pyramid CPU after last block": after_blocks,
        "client CPU": client_cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--grid", choices=("small", "big"), default="small")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, choices=(1, 2), default=2)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ofs-fusion-"))
    grid = (8, 8) if args.grid == "small" else (16, 16)
    s = scan(work, f"whole_{grid[0]}x{grid[1]}_1024", grid, 1024, False)
    headers = read_headers([Path(p) for p in s.paths])
    layout = layout_from_positions(s.paths, s.positions, headers=headers)
    out = work / "out" / "task_stream.zarr"
    out.parent.mkdir(exist_ok=True)
    rows = []
    with local_cluster(args.workers) as client:
        client.register_plugin(TaskCpu())
        one_run(client, layout, out)  # imports and first-call costs, not counted
        for k in range(args.runs):
            rows.append(one_run(client, layout, out))
            print(f"run {k + 1}: " + ", ".join(f"{n} {v:.3f}" for n, v in rows[-1].items()))
    print(
        "median: " + ", ".join(f"{n} {statistics.median(r[n] for r in rows):.3f}" for n in rows[0])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
