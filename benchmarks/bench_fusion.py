"""Chunked fusion benchmarks: CPU per output megapixel against a DaskFusion-style baseline in
the same process, and accuracy against the scene's truth.

Short mode (default, run with the test suite): 3x3 tiles of 256^2 uint16. Full mode
(OFS_BENCH_FULL=1): the issue's 8x8 tiles of 1024^2, asserting its figures: <= 0.06 CPU-s per
output Mpx for whole-pixel placement including the pyramid, <= 0.1 for sub-pixel feathering.
Both modes assert: nearest equals the libvips renderer's mosaic, and the feathered sub-pixel
mosaic is closer to the truth than the baseline's max blend and within 3 % of a plain
average; full mode also that ours costs less CPU than the baseline (the short scans' few
small chunks are dominated by fixed costs: creating the group, Dask's scheduling, opening
each chunk's array, so their CPU figures are printed only). CPU is this process's (all threads),
Dask's threaded scheduler with one thread so the machine's load does not enter; the median of
3 runs. compare_fusion.py adds libvips, worker processes and memory.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
dask = pytest.importorskip("dask")
pytest.importorskip("skimage")

from fusion_cases import daskfusion_array, daskfusion_store  # noqa: E402

from ofs_stitch.fusion import fuse_to_zarr, layout_from_positions  # noqa: E402
from ofs_stitch.render.compose import file_source, render_array  # noqa: E402
from ofs_stitch.testing.fusion_scans import FusionScan, make_fusion_scan  # noqa: E402

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
GRID, TILE, CHUNK = ((8, 8), 1024, 1024) if FULL else ((3, 3), 256, 256)
RUNS = 3
MAX_WHOLE_CPU_PER_MPX = 0.06
MAX_FEATHER_CPU_PER_MPX = 0.1


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FusionScan]:
    root = tmp_path_factory.mktemp("fusion-bench")
    return {
        kind: make_fusion_scan(root / kind, GRID, (TILE, TILE), subpixel=kind == "sub", seed=7)
        for kind in ("whole", "sub")
    }


def cpu_of(job) -> float:  # type: ignore[no-untyped-def]
    """Median CPU seconds of ``job`` (all of this process's threads)."""
    times = []
    for _ in range(RUNS):
        start = time.process_time()
        job()
        times.append(time.process_time() - start)
    return statistics.median(times)


def ours(scan: FusionScan, out: Path, blend: str, pyramid: bool = True):  # type: ignore[no-untyped-def]
    layout = layout_from_positions(scan.paths, scan.positions)

    def run() -> None:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        fuse_to_zarr(layout, out, blend=blend, chunk=CHUNK, threads=1, pyramid=pyramid)

    return layout, run


def baseline(scan: FusionScan, out: Path):  # type: ignore[no-untyped-def]
    def run() -> None:
        mosaic = daskfusion_array(
            [str(p) for p in scan.paths], scan.positions, [scan.tile_shape] * len(scan.paths), CHUNK
        )
        store = daskfusion_store(out, mosaic.shape, CHUNK)
        with dask.config.set(scheduler="threads", num_workers=1):
            dask.array.store(mosaic, store, lock=False, compute=True)

    return run


def rmse(scan: FusionScan, image: np.ndarray) -> float:
    margin = 8
    truth = scan.truth(0, 0, image.shape[0], image.shape[1])
    error = (image.astype(float) - truth)[margin:-margin, margin:-margin]
    return float(np.sqrt(np.mean(error**2)) / scan.full_scale)


def test_whole_pixel_fusion(benchmark, scans, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scan = scans["whole"]
    layout, run = ours(scan, tmp_path / "ours.ome.zarr", "nearest")
    benchmark.pedantic(run, rounds=1)
    ours_cpu = cpu_of(run)
    base_cpu = cpu_of(baseline(scan, tmp_path / "base.zarr"))
    mpx = layout.height * layout.width / 1e6
    print(
        f"\nwhole pixels: ours {ours_cpu / mpx:.4f} CPU-s/Mpx incl. pyramid, DaskFusion-style "
        f"{base_cpu / mpx:.4f} (no pyramid): {base_cpu / ours_cpu:.2f}x"
    )
    fused = zarr.open_group(str(tmp_path / "ours.ome.zarr"), mode="r")["0"][:]
    geometry = layout.geometry
    assert geometry is not None
    rendered = render_array(geometry, file_source(geometry, geometry.pixel_format))[:, :, 0]
    assert np.array_equal(fused, rendered)
    if FULL:
        assert ours_cpu < base_cpu
        assert ours_cpu / mpx <= MAX_WHOLE_CPU_PER_MPX


def test_sub_pixel_feathering(benchmark, scans, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scan = scans["sub"]
    layout, run = ours(scan, tmp_path / "feather.ome.zarr", "feather")
    benchmark.pedantic(run, rounds=1)
    ours_cpu = cpu_of(run)
    base_cpu = cpu_of(baseline(scan, tmp_path / "base.zarr"))
    _, mean_run = ours(scan, tmp_path / "mean.ome.zarr", "mean", pyramid=False)
    mean_run()
    mpx = layout.height * layout.width / 1e6
    feather = rmse(scan, zarr.open_group(str(tmp_path / "feather.ome.zarr"), mode="r")["0"][:])
    mean = rmse(scan, zarr.open_group(str(tmp_path / "mean.ome.zarr"), mode="r")["0"][:])
    maximum = rmse(scan, zarr.open_array(str(tmp_path / "base.zarr"), mode="r")[:])
    print(
        f"\nsub-pixel: ours feather {ours_cpu / mpx:.4f} CPU-s/Mpx incl. pyramid, DaskFusion-style "
        f"{base_cpu / mpx:.4f}: {base_cpu / ours_cpu:.2f}x; RMSE feather {feather:.5f}, "
        f"mean {mean:.5f}, DaskFusion-style max {maximum:.5f}"
    )
    assert feather < maximum
    assert feather <= 1.03 * mean
    if FULL:
        assert ours_cpu < base_cpu
        assert ours_cpu / mpx <= MAX_FEATHER_CPU_PER_MPX


def test_scaling_control_does_a_chunks_work(tmp_path: Path) -> None:
    """compare_fusion.py --speedup's control (fusion_cases.CEILING) on a real LocalCluster of
    2 workers: every task writes its chunks, each one Blosc frame of a full chunk."""
    pytest.importorskip("distributed")
    numcodecs = pytest.importorskip("numcodecs")
    from fusion_cases import CEILING, run_isolated

    bench_dir = str(Path(__file__).resolve().parent)
    spec = {"workers": 2, "tasks": 3, "chunks_per_task": 2, "chunk": 64, "bench_dir": bench_dir}
    memory = run_isolated(CEILING, {**spec, "out": str(tmp_path / "memory"), "kind": "memory"})
    written = sorted(p.name for p in (tmp_path / "memory").iterdir())
    assert written == [f"{task}.{k}" for task in range(3) for k in range(2)]
    for name in written:
        chunk = np.frombuffer(
            numcodecs.Blosc().decode((tmp_path / "memory" / name).read_bytes()), np.uint16
        )
        assert chunk.size == 64 * 64 and chunk.std() > 10  # the noisy scene, not zeros
    assert memory["wall"] > 0 and memory["task_cpu"] > 0
    cached = run_isolated(CEILING, {**spec, "out": str(tmp_path / "cpu"), "kind": "cpu"})
    assert cached["task_cpu"] > 0 and not any((tmp_path / "cpu").iterdir())


@pytest.mark.parametrize("memory", ["freed", "idle"])
def test_speedup_run_in_each_memory_state(
    tmp_path: Path, scans: dict[str, FusionScan], memory: str
) -> None:
    """compare_fusion.py --speedup's runs (fusion_cases.OURS, fusing twice on a LocalCluster)
    in each state of the memory written into: before each timed fusion, its ballast freed or
    a wait, neither inside the fusions' walls, and no ballast left behind."""
    pytest.importorskip("distributed")
    from fusion_cases import OURS, run_isolated

    scan = scans["whole"]
    out = tmp_path / "s1.zarr"
    spec = {
        "paths": [str(p) for p in scan.paths],
        "positions": scan.positions.tolist(),
        "chunk": CHUNK,
        "out": str(out),
        "blend": "nearest",
        "mode": "processes",
        "workers": 1,
        "pyramid": True,
        "again": True,
        "memory": memory,
        "ballast_mb": 16,
        "idle_s": 1.0,
    }
    result = run_isolated(OURS, spec)
    first, again = (
        zarr.open_group(str(fused), mode="r")["0"][:] for fused in (out, tmp_path / "s1.zarr.again")
    )
    assert first.shape == scan.mosaic_shape
    assert np.array_equal(first, again)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.zarr", "s1.zarr.again"]
    waited, freed = result["memory_state"]["seconds"], result["memory_state"]["freed_mb"]
    if memory == "idle":
        assert waited >= 2.0 and freed == 0  # both timed fusions waited a second
    else:
        assert freed == pytest.approx(2 * 16 * 2**20 / 1e6) and waited < 1.0
    # The waits are outside the fusions' walls.
    assert 0 < result["wall"] < 1.0 and 0 < result["again_wall"] < 1.0


def test_a_failed_speedup_run_leaves_no_ballast(
    tmp_path: Path, scans: dict[str, FusionScan]
) -> None:
    """The ballast (hundreds of MB at full size) goes when the fusion fails, too."""
    pytest.importorskip("distributed")
    from fusion_cases import OURS, run_isolated

    scan = scans["whole"]
    spec = {
        "paths": [str(p) for p in scan.paths],
        "positions": scan.positions.tolist(),
        "chunk": CHUNK,
        "out": str(tmp_path / "s1.zarr"),
        "blend": "no such blend",
        "mode": "processes",
        "workers": 1,
        "pyramid": True,
        "memory": "freed",
        "ballast_mb": 16,
    }
    with pytest.raises(RuntimeError, match="no such blend"):
        run_isolated(OURS, spec)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".ballast")]
