"""Pair measurement as Dask tasks: the correlations of a large scan on a cluster.

One task per candidate pair: it reads just the two overlap strips (a TIFF region, or a JPEG
from the worker's bounded cache of decoded tiles, `tile_reads`, so a tile is decoded at most
once per worker however many pairs use it) and correlates them with the same kernels and
settings as ``ofs-stitch`` (`core.registration.register_overlap`): results equal those of the
stitching family's own measure stage. ``on_measured`` hands each result back as it arrives,
so the caller can keep its pair cache up to date (a re-run then measures only new pairs).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.grey import grey_float32
from ..core.matches import CandidatePair, PairMeasurement
from ..core.overlap import OverlapRegions, overlap_regions
from ..core.registration import CorrelationSettings, register_overlap
from ..io.decode import read_pixels
from ..io.header import ImageFacts
from .broadcast import with_job_on_every_worker
from .optional import require
from .tile_reads import read_own_region


@dataclass(frozen=True)
class PairJob:
    """How every pair is measured (sent once to each worker)."""

    correlation: CorrelationSettings
    search_radius: float  # input pixels
    resize: float = 1.0
    pad: bool = True


def _strip(header: ImageFacts, region: tuple[slice, slice], resize: float) -> np.ndarray:
    if resize != 1.0:
        return grey_float32(read_pixels(header.path, scale=resize)[region])
    rows, cols = region
    return grey_float32(read_own_region(header, rows.start, rows.stop, cols.start, cols.stop))


def measure_pair(
    job: PairJob,
    header_a: ImageFacts,
    header_b: ImageFacts,
    pair: CandidatePair,
    regions: OverlapRegions | None,
) -> PairMeasurement:
    """One pair's measurement (a task)."""
    if regions is None:
        return PairMeasurement.unmeasured(pair)
    scale = job.resize
    radius = max(job.search_radius * scale, 1.0)
    found = register_overlap(
        _strip(header_a, regions.region_a, scale),
        _strip(header_b, regions.region_b, scale),
        regions.expected_region_shift,
        radius,
        job.correlation,
        pad=job.pad,
    )
    if not found.found:
        return PairMeasurement.unmeasured(pair)
    shift = (
        (found.shift[0] + regions.region_to_tile[0]) / scale,
        (found.shift[1] + regions.region_to_tile[1]) / scale,
    )
    return PairMeasurement(
        i=pair.i,
        j=pair.j,
        shift=shift,
        expected_shift=pair.expected_shift,
        pearson_r=found.pearson_r,
        peak_ratio=found.peak_ratio,
    )


def pair_graph(
    headers: Sequence[ImageFacts], pairs: Sequence[CandidatePair], job: PairJob
) -> tuple[dict[Hashable, Any], list[Any], str]:
    """The Dask graph measuring ``pairs``: keys ("pair-<run>", k) in the order of ``pairs``,
    and the key of the job every task takes first."""
    scale = job.resize
    margin = int(np.ceil(max(job.search_radius * scale, 1.0)))
    # Keys unique to this call: a shared cluster keeps results by key.
    tag = os.urandom(6).hex()
    job_key = f"pair-job-{tag}"
    graph: dict[Hashable, Any] = {job_key: job}
    keys: list[Any] = []
    for k, pair in enumerate(pairs):
        a, b = headers[pair.i], headers[pair.j]
        shape_a = (int(round(a.height * scale)), int(round(a.width * scale)))
        shape_b = (int(round(b.height * scale)), int(round(b.width * scale)))
        expected = (pair.expected_shift[0] * scale, pair.expected_shift[1] * scale)
        regions = overlap_regions(shape_a, shape_b, expected, margin)
        graph[(f"pair-{tag}", k)] = (measure_pair, job_key, a, b, pair, regions)
        keys.append((f"pair-{tag}", k))
    return graph, keys, job_key


def measure_pairs_on_dask(
    headers: Sequence[ImageFacts],
    pairs: Sequence[CandidatePair],
    job: PairJob,
    *,
    client: Any = None,
    threads: int | None = None,
    on_measured: Callable[[int, PairMeasurement], None] | None = None,
) -> list[PairMeasurement]:
    """Measure every pair as a Dask task, on ``client`` (any cluster) or Dask's threaded
    scheduler; results in the order of ``pairs``. ``on_measured(index, measurement)`` is
    called in this process as each pair finishes."""
    require("dask", "measuring pairs on Dask")
    graph, keys, job_key = pair_graph(headers, pairs, job)
    results: list[PairMeasurement | None] = [None] * len(pairs)
    if client is not None:
        from distributed import as_completed

        # The graph holds the scattered job's future until every pair is measured.
        graph = with_job_on_every_worker(graph, job_key, client)
        futures = client.get(graph, keys, sync=False)
        index_of = {future.key: k for k, future in enumerate(futures)}
        for future in as_completed(futures):
            k = index_of[future.key]
            results[k] = future.result()
            if on_measured is not None:
                on_measured(k, results[k])  # type: ignore[arg-type]
    else:
        from dask.callbacks import Callback
        from dask.threaded import get

        class Report(Callback):  # type: ignore[misc]
            def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker: Any) -> None:
                if on_measured is not None and isinstance(key, tuple) and key in wanted:
                    on_measured(int(key[1]), result)

        wanted = set(keys)
        workers = threads or max(1, len(os.sched_getaffinity(0)))
        with Report():
            measured = get(graph, keys, num_workers=workers)
        results = list(measured)
    return [
        r if r is not None else PairMeasurement.unmeasured(p)
        for r, p in zip(results, pairs, strict=True)
    ]
