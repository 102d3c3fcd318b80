"""Print the registration benchmarks at the issue's sizes as one table of figures and ratios.

    python benchmarks/compare_registration.py

(a) one 640x480 tile pair against the OpenFlexure method (numpy); (b) the 420 pairs of a 15x15
grid, 1 and 2 threads, with spectra reused (register_spectra) and through register_pair;
(c) solve_positions on a 100x100 grid against LSQR. The same workloads, with assertions, are in
benchmarks/bench_registration.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from registration_cases import (
    GridFigures,
    make_grid,
    run_grid,
    run_grid_pairwise,
    run_single_pair,
    run_solve,
)

from ofs_stitch.testing.grids import TileGrid

Row = tuple[str, str, str]


def single_pair_rows() -> list[Row]:
    pair = run_single_pair(accuracy_pairs=20, rounds=7)
    error_ratio = pair.openflexure_rms_error / pair.ours_rms_error
    return [
        ("(a) 640x480 pair, register_pair + stage guess", f"{pair.ours_seconds * 1e3:.2f} ms",
         f"RMS error {pair.ours_rms_error:.4f} px ({pair.pairs_measured} pairs)"),
        ("(a) 640x480 pair, register_pair, whole images",
         f"{pair.whole_image_seconds * 1e3:.2f} ms",
         f"RMS error {pair.whole_image_rms_error:.4f} px"),
        ("(a) 640x480 pair, OpenFlexure method (numpy)", f"{pair.openflexure_seconds * 1e3:.2f} ms",
         f"RMS error {pair.openflexure_rms_error:.4f} px"),
        ("(a) OpenFlexure / ours", f"{pair.speed_ratio:.1f}x time", f"{error_ratio:.1f}x error"),
    ]  # fmt: skip


def grid_rows(label: str, grid: TileGrid, run: Callable[[TileGrid, int], GridFigures]) -> list[Row]:
    run(grid, 1), run(grid, 2)  # the first runs plan the FFTs
    best: dict[int, GridFigures] = {}
    for _ in range(3):
        for threads in (1, 2):
            figures = run(grid, threads)
            if threads not in best or figures.seconds < best[threads].seconds:
                best[threads] = figures
    rows = [
        (f"(b) {label}, {f.threads} thread(s)", f"{f.pairs_per_second:.0f} pairs/s",
         f"{f.seconds:.3f} s for {f.pairs} pairs (spectra {f.spectra_seconds:.3f} s)")
        for f in best.values()
    ]  # fmt: skip
    errors = best[1].errors
    rows.append(
        (f"(b) {label}, 2-thread speed-up", f"{best[1].seconds / best[2].seconds:.2f}x",
         (f"max error {errors.max():.4f} px, RMS {np.sqrt(np.mean(errors**2)):.4f} px, "
          f"{(errors > 0.1).sum()} pairs over 0.1 px"))
    )  # fmt: skip
    return rows


def solve_rows() -> list[Row]:
    solve = run_solve(100, rounds=3)
    return [
        (f"(c) solve_positions, {solve.tiles} tiles, {solve.pairs} pairs",
         f"{solve.ours_seconds:.3f} s", f"RMS error vs truth {solve.rms_error:.3f} px"),
        ("(c) scipy.sparse.linalg.lsqr, same system", f"{solve.lsqr_seconds:.3f} s",
         f"max |ours - LSQR| {solve.max_difference:.2e} px"),
        ("(c) LSQR / ours", f"{solve.speed_ratio:.1f}x time", ""),
    ]  # fmt: skip


def main() -> None:
    grid = make_grid(15)
    rows = single_pair_rows()
    rows += grid_rows("spectra reused", grid, run_grid)
    rows += grid_rows("register_pair", grid, run_grid_pairwise)
    rows += solve_rows()
    width = max(len(name) for name, _, _ in rows)
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>16}  {note}")


if __name__ == "__main__":
    main()
