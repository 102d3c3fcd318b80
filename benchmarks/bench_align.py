"""Match / place benchmark: ofs_stitch.align on affine-distorted 2x3 grids (640x480 tiles,
+-1 degree, +-1 % scale, shear, 20 % overlaps), asserting its accuracy; spectralign's figures
beside it where spectralign 0.4 can run (see align_cases.py), with the ratios.

Run:  pytest benchmarks/bench_align.py -s                  (short: one grid per case)
      OFS_BENCH_FULL=1 pytest benchmarks/bench_align.py -s (five grids per case)
Side by side over more grids: benchmarks/compare_align.py.
"""

from __future__ import annotations

import statistics

from align_cases import FULL, grids, ours, spectralign_results, worst

SEEDS = (0, 1, 2, 3, 4) if FULL else (0,)
BLANK = ((0, 1),)


def report(name: str, case, mine, blank=()) -> None:
    affine = [worst(g, r.affine, blank) for g, r in zip(case, mine, strict=True)]
    line = f"\n{name}: ofs-stitch affine worst tile {max(affine):.3f} px, CPU {mine[0].cpu_s:.2f} s"
    peer = spectralign_results(case)
    if peer:
        theirs = [worst(g, r.affine, blank) for g, r in zip(case, peer, strict=True)]
        line += (
            f"; spectralign {max(theirs):.3f} px ({statistics.median(theirs) / statistics.median(affine):.0f}x), "
            f"CPU {peer[0].cpu_s:.2f} s ({peer[0].cpu_s / mine[0].cpu_s:.2f}x)"
        )
    print(line)


def test_distorted_grid(benchmark) -> None:
    case = grids(SEEDS)
    mine = [ours(g) for g in case[1:]]
    mine.insert(0, benchmark.pedantic(ours, args=(case[0],), rounds=1, iterations=1))
    report("distorted 2x3", case, mine)
    affine = [worst(g, r.affine) for g, r in zip(case, mine, strict=True)]
    rigid = [worst(g, r.rigid) for g, r in zip(case, mine, strict=True)]
    # Measured over seeds 0-19 (compare_align.py): at most 0.022 px (median 0.011); rigid
    # 5.7-10 px.
    assert max(affine) < 0.1
    assert min(rigid) > 2.0


def test_blank_tile_moves_no_good_tile() -> None:
    case = grids((0,), BLANK)
    mine = [ours(g) for g in case]
    report("same, tile (0, 1) blank", case, mine, BLANK)
    # Measured over seeds 0-19: median 0.019 px, at most 0.054 px; spectralign 271 px (median).
    assert worst(case[0], mine[0].affine, BLANK) < 0.1
