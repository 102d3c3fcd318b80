"""How many overlap strips pair measurement keeps alive, by priority (short mode, run by the test
suite): counted by instrumenting the strip cutters, not timed.

A 3x8 scan captured row by row along its long side: capture order (--priority time) keeps a
row of 8 strips waiting for the row below; --priority memory sweeps down the columns instead
and keeps about 3. The time is reported, not asserted. benchmarks/compare_priority.py measures
peak memory and time of whole runs on an 8x8 scan of 8-megapixel tiles.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest

import ofs_stitch.stitching.measure as measure_module
from ofs_stitch.core.registration import CorrelationSettings
from ofs_stitch.stitching.candidates import candidate_pairs
from ofs_stitch.stitching.decode_order import evaluate_order, least_waiting_order, tiles_of
from ofs_stitch.stitching.inputs import load_scan
from ofs_stitch.stitching.measure import MeasureSettings, measure_pairs

pytest.importorskip("skimage")
from ofs_stitch.testing.scans import make_scan  # noqa: E402

ROWS, COLS = 3, 8
TILE_SHAPE = (240, 320)
THREADS = 2
# Strips one tile gives at most: one for each neighbour.
STRIPS_PER_TILE = 4


class StripCounter:
    """Counts the strips alive (cut from a tile and not yet freed), and their most at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alive = 0
        self.most_alive = 0

    def track(self, strip: np.ndarray) -> None:
        with self._lock:
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
        weakref.finalize(strip, self._freed)

    def _freed(self) -> None:
        with self._lock:
            self.alive -= 1


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("bench_priority") / "scan"
    make_scan(folder, rows=ROWS, cols=COLS, tile_shape=TILE_SHAPE, scan_order="raster", seed=4)
    scan = load_scan(folder)
    return scan, candidate_pairs(scan.stage_positions_px, TILE_SHAPE, 0.2)


def count_strips(scan, pairs, low_memory: bool, monkeypatch: pytest.MonkeyPatch) -> StripCounter:  # type: ignore[no-untyped-def]
    counter = StripCounter()
    grey_cut, compact_cut = measure_module._grey_strip, measure_module._CompactStrip.cut

    def cut_grey(pixels, region, waits):  # type: ignore[no-untyped-def]
        strip = grey_cut(pixels, region, waits)
        counter.track(strip)
        return strip

    def cut_compact(pixels, region, waits):  # type: ignore[no-untyped-def]
        strip = compact_cut(pixels, region, waits)
        counter.track(strip.samples)
        return strip

    with monkeypatch.context() as patch:
        # --priority time cuts float grey strips, memory compact ones.
        patch.setattr(measure_module, "_grey_strip", cut_grey)
        patch.setattr(measure_module._CompactStrip, "cut", staticmethod(cut_compact))
        settings = MeasureSettings(
            correlation=CorrelationSettings(),
            search_radius=0.25 * min(TILE_SHAPE),
            threads=THREADS,
            low_memory=low_memory,
        )
        measured = measure_pairs(scan.tiles, pairs, settings)
    assert all(m.peak_ratio > 0 for m in measured)
    return counter


def test_memory_priority_keeps_few_strips_alive(benchmark, scan, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    scan, pairs = scan
    index_pairs = [(p.i, p.j) for p in pairs]
    capture = evaluate_order(tiles_of(index_pairs), index_pairs)
    order = least_waiting_order(scan.stage_positions_px, TILE_SHAPE, index_pairs)
    assert capture.most_waiting >= COLS and order.most_waiting <= ROWS + 1

    by_time = count_strips(scan, pairs, False, monkeypatch)
    by_memory = benchmark.pedantic(
        count_strips, args=(scan, pairs, True, monkeypatch), rounds=1, iterations=1
    )
    # Alive: those waiting for their pair's other tile, plus both strips of each pair that the
    # last tile completed until a thread takes it (turned into float grey, it is no strip any
    # more); a tile is decoded only once no complete pair waits.
    bound = order.most_waiting + 2 * STRIPS_PER_TILE
    benchmark.extra_info.update(
        time_most_strips=by_time.most_alive, memory_most_strips=by_memory.most_alive
    )
    print(
        f"\n{ROWS}x{COLS} scan captured along rows: at most {by_time.most_alive} strips alive "
        f"with --priority time, {by_memory.most_alive} with memory (bound {bound}; waiting "
        f"for their pair: {capture.most_waiting} in capture order, {order.most_waiting} in "
        "the memory order)"
    )
    assert by_memory.most_alive <= bound
    assert by_memory.most_alive < by_time.most_alive
    assert by_time.alive == by_memory.alive == 0  # every strip freed at the end


def test_strip_counter_counts_what_is_alive() -> None:
    counter = StripCounter()
    kept = [np.zeros(3) for _ in range(4)]
    for strip in kept:
        counter.track(strip)
    del kept[:2]
    assert (counter.alive, counter.most_alive) == (2, 4)
