"""A graph's shared job, sent to every worker of a cluster before its tasks.

The fusion's and the pair measurement's graphs hold the job all their tasks need (the layout,
the target, the settings) under one key, so that it travels once to each worker rather than
with every task. As a key of the graph it is a result, held by the one worker that makes it,
and the scheduler sends a task to where its inputs are: with few tasks, that worker got them
all. Measured on 8x8 tiles of 1024^2 fused in 4 blocks on 2 worker processes: 0.49-0.53 s, all
of it with one worker idle; 0.35 s with the job on both. Scattered to every worker first, the
job is everywhere, and each task goes to whichever worker is free.

Scattering is a round trip from the client through the scheduler to every worker and back
before the graph can be sent. A graph of a few tasks takes the job inline instead
(`with_job_inline`): each task carries it, so it travels with the graph (pickled once for
the whole graph) and with each task to its worker. Measured on 8x8 tiles of 1024^2 (3 tasks)
on a warm cluster of 2 workers, alternating (medians of 12): the first task started 48.5 ms
after the call instead of 62.0 and the fusion took 0.389 s instead of 0.400; with 1 worker
47.6 ms instead of 49.4. With many tasks the copies would cost more than the round trip.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

# Graphs of at most this many tasks take their job inline.
INLINE_TASKS = 8


def _with_job(graph: dict[Hashable, Any], job_key: Hashable, job: Any) -> dict[Hashable, Any]:
    """``graph`` without ``job_key``; each task that took the job's key as its first argument
    takes ``job`` instead."""
    return {
        key: (task[0], job, *task[2:]) if task[1] == job_key else task
        for key, task in graph.items()
        if key != job_key
    }


def with_job_on_every_worker(
    graph: dict[Hashable, Any], job_key: Hashable, client: Any
) -> dict[Hashable, Any]:
    """``graph`` without ``job_key``, whose value is scattered to every worker of
    ``client``'s cluster; each task that took the job's key as its first argument takes the
    scattered job instead (keep the returned graph, which holds its future, until the tasks
    are done)."""
    [job] = client.scatter([graph[job_key]], broadcast=True, hash=False)
    return _with_job(graph, job_key, job)


def with_job_inline(graph: dict[Hashable, Any], job_key: Hashable) -> dict[Hashable, Any]:
    """``graph`` without ``job_key``, each task that took the job's key taking the job
    itself (for a graph of at most `INLINE_TASKS` tasks)."""
    return _with_job(graph, job_key, graph[job_key])
