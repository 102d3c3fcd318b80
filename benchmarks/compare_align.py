"""Print ofs-stitch's match / place pipeline side by side with spectralign's on the same
affine-distorted grids: accuracy (worst tile, after one common affine) and CPU time, with the
ratios.

    OFS_SPECTRALIGN_PYTHON=/path/to/python3.12 python benchmarks/compare_align.py [--seeds N]

spectralign 0.4 (the ``compare`` extra on Python >= 3.12) runs in-process when importable,
otherwise in the interpreter named by OFS_SPECTRALIGN_PYTHON. Two cases: 2x3 grids of 640x480
tiles (+-1 degree, +-1 % scale, shear, 20 % overlaps), and the same with tile (0, 1) blank.
"""

from __future__ import annotations

import argparse
import statistics

from align_cases import grids, ours, spectralign_available, spectralign_results, worst

BLANK = ((0, 1),)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="grids per case")
    args = parser.parse_args()
    where = spectralign_available()
    print(f"spectralign: {where or 'not available (set OFS_SPECTRALIGN_PYTHON)'}")
    seeds = tuple(range(args.seeds))
    for name, blank in (("distorted 2x3", ()), ("same, tile (0, 1) blank", BLANK)):
        case = grids(seeds, blank)
        mine = [ours(g) for g in case]
        peer = spectralign_results(case)
        print(f"\n{name}: {len(case)} grids, worst tile after one common affine (px), CPU s")
        rows = [("ofs-stitch", mine)] + ([("spectralign", peer)] if peer else [])
        for tool, results in rows:
            affine = [worst(g, r.affine, blank) for g, r in zip(case, results, strict=True)]
            rigid = [worst(g, r.rigid, blank) for g, r in zip(case, results, strict=True)]
            cpu = [r.cpu_s for r in results]
            print(
                f"  {tool:<12} affine median {statistics.median(affine):8.3f} max {max(affine):8.3f}"
                f" ({sum(a < 0.1 for a in affine)}/{len(affine)} under 0.1 px)"
                f" | rigid median {statistics.median(rigid):7.2f} min {min(rigid):6.2f}"
                f" | CPU median {statistics.median(cpu):6.2f} s"
            )
        if peer:
            ratio_accuracy = statistics.median(
                worst(g, p.affine, blank) / worst(g, m.affine, blank)
                for g, m, p in zip(case, mine, peer, strict=True)
            )
            ratio_time = statistics.median(
                p.cpu_s / m.cpu_s for m, p in zip(mine, peer, strict=True)
            )
            print(
                f"  ratios (spectralign / ofs-stitch, median over grids): affine error "
                f"{ratio_accuracy:.1f}x, CPU time {ratio_time:.1f}x"
            )


if __name__ == "__main__":
    main()
