"""Registration and placement benchmarks: each asserts its accuracy and prints its speed ratio.

Run:  pytest benchmarks/bench_registration.py -s                  (short sizes, seconds)
      OFS_BENCH_FULL=1 pytest benchmarks/bench_registration.py -s (the issue's sizes)

Speed assertions are loose in short mode (shared, noisy machines); accuracy assertions never are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from registration_cases import (
    FULL,
    SEARCH_RADIUS,
    GridFigures,
    best_time,
    grid_system,
    make_grid,
    run_grid,
    run_grid_pairwise,
    run_single_pair,
    run_solve,
    tile_pair_cases,
)

from ofs_stitch import solve_positions

# The 2-thread speed-up a full run must show; short runs only check threads do not slow us down.
from ofs_stitch.core import registration
from ofs_stitch.testing.grids import TileGrid

MIN_SPEED_UP = 1.3 if FULL else 0.7


def test_single_tile_pair_against_openflexure(benchmark) -> None:
    """(a) One 640x480 pair, 30 % overlap: ours with a stage guess vs upstream's method."""
    figures = run_single_pair(accuracy_pairs=20 if FULL else 6, rounds=7 if FULL else 3)
    a, b, _, guess = tile_pair_cases(1)[0]
    benchmark.pedantic(
        registration.register_pair,
        args=(a, b),
        kwargs={"expected_shift": tuple(guess), "search_radius": SEARCH_RADIUS},
        rounds=20,
        warmup_rounds=1,
    )
    print(
        f"\n(a) one 640x480 pair: register_pair with stage guess "
        f"{figures.ours_seconds * 1e3:.2f} ms, whole images 2x padded "
        f"{figures.whole_image_seconds * 1e3:.2f} ms, OpenFlexure method "
        f"{figures.openflexure_seconds * 1e3:.2f} ms: {figures.speed_ratio:.1f}x faster"
        f"\n    RMS error over {figures.pairs_measured} pairs:"
        f" ours {figures.ours_rms_error:.4f} px,"
        f" whole images {figures.whole_image_rms_error:.4f} px,"
        f" OpenFlexure {figures.openflexure_rms_error:.4f} px"
    )
    assert figures.ours_rms_error < 0.05
    assert figures.whole_image_rms_error < 0.05
    assert figures.ours_rms_error < figures.openflexure_rms_error
    assert figures.speed_ratio >= (10.0 if FULL else 3.0)


@pytest.fixture(scope="module")
def grid() -> TileGrid:
    return make_grid(15 if FULL else 5)


def interleaved_runs(
    grid: TileGrid, run: Callable[[TileGrid, int], GridFigures], rounds: int
) -> tuple[GridFigures, float, GridFigures, float]:
    """Best-of-rounds figures and seconds for 1 and 2 threads, in interleaved rounds so that a
    burst of load from other jobs hits both thread counts alike."""
    serial_seconds, parallel_seconds = np.inf, np.inf
    for _ in range(rounds):
        seconds, serial = best_time(lambda: run(grid, 1), 1)
        serial_seconds = min(serial_seconds, seconds)
        seconds, parallel = best_time(lambda: run(grid, 2), 1)
        parallel_seconds = min(parallel_seconds, seconds)
    return serial, serial_seconds, parallel, parallel_seconds


def report_grid(
    label: str, grid: TileGrid, runs: tuple[GridFigures, float, GridFigures, float]
) -> float:
    serial, serial_seconds, parallel, parallel_seconds = runs
    speed_up = serial_seconds / parallel_seconds
    rows, cols = grid.grid_shape
    print(
        f"\n(b) {label}, {rows}x{cols} grid, {serial.pairs} pairs: "
        f"1 thread {serial.pairs / serial_seconds:.0f} pairs/s, "
        f"2 threads {parallel.pairs / parallel_seconds:.0f} pairs/s: speed-up {speed_up:.2f}x"
        f"\n    error: max {serial.max_error:.4f} px, "
        f"RMS {np.sqrt(np.mean(serial.errors**2)):.4f} px, "
        f"pairs over 0.1 px: {(serial.errors > 0.1).sum()}"
    )
    return speed_up


def test_grid_pairs_with_reused_spectra(benchmark, grid: TileGrid) -> None:
    """(b) Every neighbour pair of a 15x15 grid (short: 5x5), spectra reused, 1 and 2 threads."""
    runs = interleaved_runs(grid, run_grid, 3 if FULL else 5)
    benchmark.pedantic(run_grid, args=(grid, 2), rounds=1)
    serial, _, parallel, _ = runs
    speed_up = report_grid(f"register_spectra, {serial.spectra} spectra reused", grid, runs)
    print(
        f"    1 thread: spectra {serial.spectra_seconds:.3f} s"
        f" + pairs {serial.pairs_seconds:.3f} s;"
        f" 2 threads: spectra {parallel.spectra_seconds:.3f} s"
        f" + pairs {parallel.pairs_seconds:.3f} s"
    )
    # Threads must not change a single result.
    np.testing.assert_array_equal(serial.errors, parallel.errors)
    # One correlation per pair of reused strip spectra, without the facing-region refinement
    # that register_pair (and the pipeline) add: strips that overlap by 30 % pull the sub-pixel
    # fit towards larger overlaps by up to a quarter pixel (measured max 0.24 px, RMS 0.03 px
    # on the full 15x15 grid). The refined path below is held to 0.1 px.
    assert serial.max_error < 0.3
    assert float(np.sqrt(np.mean(serial.errors**2))) < 0.05
    assert speed_up > MIN_SPEED_UP


def test_grid_pairs_with_register_pair(benchmark, grid: TileGrid) -> None:
    """(b') The same pairs through register_pair: search + facing-region refinement per pair."""
    runs = interleaved_runs(grid, run_grid_pairwise, 3 if FULL else 5)
    benchmark.pedantic(run_grid_pairwise, args=(grid, 2), rounds=1)
    speed_up = report_grid("register_pair per pair", grid, runs)
    serial, _, parallel, _ = runs
    np.testing.assert_array_equal(serial.errors, parallel.errors)
    assert serial.max_error < 0.1
    assert speed_up > MIN_SPEED_UP


def test_solve_positions_against_lsqr(benchmark) -> None:
    """(c) solve_positions on a 100x100 grid (short: 30x30) against scipy's LSQR."""
    size = 100 if FULL else 30
    figures = run_solve(size, rounds=5)
    _, pairs = grid_system(size)
    benchmark.pedantic(solve_positions, args=(size * size, pairs), rounds=5)
    print(
        f"\n(c) {figures.tiles} tiles, {figures.pairs} pairs: "
        f"solve_positions {figures.ours_seconds:.3f} s, LSQR {figures.lsqr_seconds:.3f} s: "
        f"{figures.speed_ratio:.1f}x faster; max |ours - LSQR| {figures.max_difference:.2e} px, "
        f"RMS error vs truth {figures.rms_error:.3f} px"
    )
    assert figures.max_difference < 1e-6
    if FULL:
        assert figures.ours_seconds < 0.5
