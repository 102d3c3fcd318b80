"""CPU time per stage of a live tile update, early and late in a large scan: the evidence that
a tile's work does not grow with the scan.

Usage: python benchmarks/live_stages.py [--size 40] [--tile 120x160] [--work DIR]

A generated scan (``--size`` x ``--size`` tiles, generated once into --work) is handed to
`LiveStitcher` one tile at a time, each update awaited; each stage's CPU time is the worker
thread's own (`time.thread_time`), so the machine's load does not count. Prints the median per
stage over tiles 20-40, the middle 20 and the last 20 (the last tile, a full placement when
the scan has doubled, left out).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ofs_stitch.stitching.live.canvas as canvas
import ofs_stitch.stitching.live.layout as layout
import ofs_stitch.stitching.live.stitcher as stitcher
from ofs_stitch.testing.scans import SyntheticScan, make_scan

STAGES = (
    (layout.LiveLayout, "_measure_pairs_of", "measure"),
    (layout.LiveLayout, "_place", "place"),
    (canvas.LiveCanvas, "set_tile", "thumbnail"),
    (canvas.LiveCanvas, "update", "repaint"),
    (stitcher, "_jpeg_bytes", "preview jpeg"),
    (stitcher.LiveStitcher, "_write_positions", "positions.json"),
    (stitcher.LiveStitcher, "_do", "total"),
)


def timed(owner: Any, name: str, label: str, spent: dict[str, float]) -> None:
    function: Callable[..., Any] = getattr(owner, name)

    def measured(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - started

    setattr(owner, name, measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--tile", default="120x160", help="rows x cols")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ofs_live")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.tile.split("x"))
    generated = args.work / f"stages_{args.size}_{args.tile}"
    if not (generated / "ground_truth.json").is_file():
        make_scan(generated, rows=args.size, cols=args.size, tile_shape=shape, seed=11)
    scan = SyntheticScan.load_ground_truth(generated / "ground_truth.json")
    folder = args.work / "stages_live"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spent: dict[str, float] = defaultdict(float)
    for owner, name, label in STAGES:
        timed(owner, name, label, spent)
    live = stitcher.LiveStitcher(folder, quiet=True, stitching_mode="preview_stitch")
    per_tile = []
    for path in scan.paths:
        spent.clear()
        live.add(Path(shutil.copy(path, folder / path.name)))
        live.wait()
        per_tile.append(dict(spent))
    live.close()
    n = len(per_tile)
    for first, last in ((20, 40), (n // 2 - 20, n // 2), (n - 20, n - 1)):
        figures = ", ".join(
            f"{label} {1000 * statistics.median(t.get(label, 0.0) for t in per_tile[first - 1 : last]):.1f}"
            for _, _, label in STAGES
        )
        print(f"tiles {first}-{last}, worker CPU per tile (median ms): {figures}")


if __name__ == "__main__":
    main()
