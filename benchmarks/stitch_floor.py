"""The floor for stitching a scan: decode every tile once, place it at its (known) position and
write the mosaic JPEG with pyvips. Any stitcher must spend at least this; the end-to-end
benchmark compares ofs-stitch's wall time with it.

Usage: python benchmarks/stitch_floor.py SCAN_FOLDER OUTPUT.jpg  (the scan's ground truth,
written by ofs_stitch.testing.scans.make_scan, supplies the positions).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyvips

from ofs_stitch.testing.scans import SyntheticScan


def stitch_floor(folder: Path, output: Path) -> float:
    truth = SyntheticScan.load_ground_truth(folder)
    names = truth.file_names
    positions = [(round(r), round(c)) for r, c in truth.true_positions.tolist()]
    start = time.perf_counter()
    low_row = min(r for r, _ in positions)
    low_col = min(c for _, c in positions)
    tiles = [pyvips.Image.new_from_file(str(folder / name)) for name in names]
    height = max(r for r, _ in positions) - low_row + tiles[0].height
    width = max(c for _, c in positions) - low_col + tiles[0].width
    canvas = pyvips.Image.black(width, height, bands=tiles[0].bands)
    for tile, (row, col) in zip(tiles, positions):
        canvas = canvas.insert(tile, col - low_col, row - low_row)
    # Q=95: the quality openflexure-stitch and ofs-stitch both write, so the same output.
    canvas.cast("uchar").write_to_file(str(output), Q=95)
    return time.perf_counter() - start


if __name__ == "__main__":
    seconds = stitch_floor(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"floor: {seconds:.3f} s")
