"""End-to-end stitching benchmark: ofs-stitch on a generated scan, against the floor.

Short mode (default, run by the test suite): a 4x4 scan. Full mode (OFS_BENCH_FULL=1): the
15x15 scan of 640x480 tiles with 30 % overlap and 3 % stage noise from the targets. Each run
asserts its accuracy against the ground truth and prints its wall time as a multiple of the
floor (decode every tile once, place it, write the mosaic JPEG: stitch_floor.py).
benchmarks/compare_upstream.py runs the same scans through openflexure-stitch as well.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.stitching.pipeline import StitchOptions, stitch

pytest.importorskip("skimage")
from stitch_floor import stitch_floor  # noqa: E402

from ofs_stitch.testing.scans import make_scan  # noqa: E402

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
SIZE = 15 if FULL else 4


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("bench_scan")
    return make_scan(
        folder, rows=SIZE, cols=SIZE, tile_shape=(480, 640), overlap=0.3, stage_noise=0.03, seed=5
    )


def test_stitch_against_floor(benchmark, scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    floor = min(stitch_floor(scan.folder, tmp_path / "floor.jpg") for _ in range(2))

    runs = iter(range(1000))

    def run():  # type: ignore[no-untyped-def]
        return stitch(
            scan.folder,
            StitchOptions(output_dir=tmp_path / f"out{next(runs)}", quiet=True, use_cache=False),
        )

    started = time.perf_counter()
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = time.perf_counter() - started

    by_name = {tile.name: p for tile, p in zip(result.scan.tiles, result.layout.positions)}
    rms = scan.rms_error(np.array([by_name[name] for name in scan.file_names]))
    print(
        f"\n{SIZE}x{SIZE} scan: ofs-stitch {seconds:.2f} s, floor {floor:.2f} s "
        f"({seconds / floor:.2f}x the floor); RMS error {rms:.3f} px; stages "
        + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    )
    assert rms < 0.15
    # Timing is noisy on shared machines: only a generous bound is asserted.
    assert seconds < 20 * floor + 5
