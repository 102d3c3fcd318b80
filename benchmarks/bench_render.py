"""Rendering benchmarks: time against the libvips floor, peak memory, and upstream.

Short mode (default, run with the test suite): a 2x3 scan of 616x820 tiles and a 1x30 strip of
240x320 tiles. Full mode (OFS_BENCH_FULL=1) uses the issue's cases: an 8x8 scan of 1640x1232
tiles (JPEG + pyramidal TIFF: at most 1.5x the floor, under 1 GB, and against
openflexure-stitching's output stage) and a 1x150 strip of 640x480 tiles (over JPEG's limit:
pyramidal TIFF + DZI, under 600 MB). Every renderer runs in its own process (render_cases.py)
so its peak RSS is its own; times are the best of several runs, as the machine may be shared.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from render_cases import (
    FLOOR,
    OURS,
    UPSTREAM,
    UPSTREAM_PYTHON,
    best_of,
    run_isolated,
)

from ofs_stitch.testing.mosaics import make_jpeg_scan

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
GRID = (8, 8, (1232, 1640)) if FULL else (2, 3, (616, 820))
STRIP = (150, (480, 640)) if FULL else (30, (240, 320))
RUNS = 3
# Short scans take well under a second, where process and thread start-up weigh as much as the
# work: their bounds are loose. The full cases assert the figures.
MAX_FLOOR_RATIO = 1.5 if FULL else 3.0
MAX_GRID_RSS_MB = 1000
MAX_STRIP_RSS_MB = 600


@pytest.fixture(scope="module")
def grid_scan(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rows, cols, shape = GRID
    paths, positions = make_jpeg_scan(tmp_path_factory.mktemp("grid"), rows, cols, shape, seed=1)
    return {
        "paths": [str(p) for p in paths],
        "positions": positions.tolist(),
        "folder": str(paths[0].parent),
    }


@pytest.fixture(scope="module")
def strip_scan(tmp_path_factory: pytest.TempPathFactory) -> dict:
    count, shape = STRIP
    paths, positions = make_jpeg_scan(tmp_path_factory.mktemp("strip"), 1, count, shape, seed=2)
    return {
        "paths": [str(p) for p in paths],
        "positions": positions.tolist(),
        "folder": str(paths[0].parent),
    }


def timed_runs(benchmark, spec: dict) -> dict:  # type: ignore[no-untyped-def]
    """Our renderer under pytest-benchmark; returns the fastest run's report."""
    results: list[dict] = []

    def run() -> None:
        results.append(run_isolated(OURS, spec))

    benchmark.pedantic(run, rounds=RUNS, iterations=1)
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}


def test_grid_to_jpeg_and_tiff_near_the_libvips_floor(
    benchmark, grid_scan: dict, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    formats = {"jpeg": True, "tiff": True, "dzi": False}
    ours = timed_runs(benchmark, {**grid_scan, "formats": formats, "out": str(tmp_path / "ours")})
    floor = best_of(
        RUNS,
        FLOOR,
        {**grid_scan, "formats": formats, "out": str(tmp_path / "f1"), "floor": "stream"},
    )
    ram = best_of(
        RUNS, FLOOR, {**grid_scan, "formats": formats, "out": str(tmp_path / "f2"), "floor": "ram"}
    )
    print(
        f"\n{GRID[0]}x{GRID[1]} tiles of {GRID[2][1]}x{GRID[2][0]} -> JPEG + TIFF: "
        f"ofs-stitch {ours['seconds']:.2f} s, {ours['peak_rss_mb']:.0f} MB; libvips floor "
        f"{floor['seconds']:.2f} s ({ours['seconds'] / floor['seconds']:.2f}x), "
        f"{floor['peak_rss_mb']:.0f} MB; decoded once into RAM {ram['seconds']:.2f} s "
        f"({ours['seconds'] / ram['seconds']:.2f}x), {ram['peak_rss_mb']:.0f} MB"
    )
    assert ours["seconds"] <= MAX_FLOOR_RATIO * floor["seconds"]
    assert ours["peak_rss_mb"] < MAX_GRID_RSS_MB


def test_strip_over_the_jpeg_limit_to_tiff_and_dzi_in_bounded_memory(
    benchmark, strip_scan: dict, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    formats = {"jpeg": True, "tiff": False, "dzi": True}  # the JPEG limit adds the TIFF
    ours = timed_runs(benchmark, {**strip_scan, "formats": formats, "out": str(tmp_path / "o")})
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    if FULL:
        assert written == ["scan_stitched.dzi", "scan_stitched.ome.tiff", "scan_stitched_files"]
        assert ours["notes"] and "65,500" in ours["notes"][0]
    floor_formats = {
        "jpeg": "scan_stitched.jpg" in written,
        "tiff": "scan_stitched.ome.tiff" in written,
        "dzi": True,
    }
    floor = best_of(
        RUNS,
        FLOOR,
        {**strip_scan, "formats": floor_formats, "out": str(tmp_path / "f"), "floor": "stream"},
    )
    print(
        f"\n1x{STRIP[0]} strip of {STRIP[1][1]}x{STRIP[1][0]} tiles -> {', '.join(written)}: "
        f"ofs-stitch {ours['seconds']:.2f} s, peak {ours['peak_rss_mb']:.0f} MB; libvips floor "
        f"{floor['seconds']:.2f} s ({ours['seconds'] / floor['seconds']:.2f}x), "
        f"{floor['peak_rss_mb']:.0f} MB"
    )
    assert ours["peak_rss_mb"] < MAX_STRIP_RSS_MB
    assert ours["seconds"] <= 2 * MAX_FLOOR_RATIO * floor["seconds"]  # two passes: see writers


@pytest.mark.skipif(not FULL, reason="upstream's output stage is slow: full mode only")
@pytest.mark.skipif(
    not UPSTREAM_PYTHON.exists(), reason="needs openflexure-stitching in /tmp/upvenv"
)
def test_faster_than_upstreams_output_stage(grid_scan: dict, tmp_path: Path) -> None:
    # The issue asks for 5x. Measured on 2 cores / 24 GB: upstream 4.5 s, the libvips floor
    # itself 1.9 s (so no renderer that decodes the files can reach 5x here), ofs-stitch 1.8 s
    # from files and 1.35 s with the tiles the pipeline already holds. Asserted: what holds.
    formats = {"jpeg": True, "tiff": True, "dzi": False}
    ours = best_of(RUNS, OURS, {**grid_scan, "formats": formats, "out": str(tmp_path / "o")})
    held = best_of(
        RUNS, OURS, {**grid_scan, "formats": formats, "out": str(tmp_path / "h"), "in_memory": True}
    )
    upstream = best_of(
        RUNS,
        UPSTREAM,
        {**grid_scan, "formats": formats, "out": str(tmp_path / "u")},
        python=UPSTREAM_PYTHON,
    )
    print(
        f"\nupstream output stage {upstream['seconds']:.2f} s, {upstream['peak_rss_mb']:.0f} MB;"
        f" ofs-stitch {ours['seconds']:.2f} s ({upstream['seconds'] / ours['seconds']:.1f}x "
        f"faster), with decoded tiles {held['seconds']:.2f} s "
        f"({upstream['seconds'] / held['seconds']:.1f}x)"
    )
    assert upstream["error"] is None
    assert upstream["seconds"] >= 2 * ours["seconds"]
    assert upstream["seconds"] >= 3 * held["seconds"]
