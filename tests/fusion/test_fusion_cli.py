"""``ofs fuse`` and ``ofs-stitch --stitch_zarr``: every positions source, both formats, and
one-line errors that leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask")
pyvips = pytest.importorskip("pyvips")

from ofs_stitch.cli import ofs  # noqa: E402
from ofs_stitch.fusion import fuse_to_zarr, layout_from_positions  # noqa: E402
from ofs_stitch.render.compose import file_source, render_array  # noqa: E402
from ofs_stitch.render.geometry import layout_from_arrays, with_headers  # noqa: E402
from ofs_stitch.testing.fusion_scans import FusionScan  # noqa: E402


def level0(path: Path) -> np.ndarray:
    return zarr.open_group(str(path), mode="r")["0"][:]


@pytest.fixture(scope="module")
def reference(whole_pixel_scan: FusionScan, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    out = tmp_path_factory.mktemp("reference") / "r.ome.zarr"
    return level0(fuse_to_zarr(layout, out, chunk=64).path)


@pytest.mark.parametrize("positions", ["TileConfiguration.txt", "positions.csv", "positions.json"])
def test_positions_files(
    tmp_path: Path, whole_pixel_scan: FusionScan, reference: np.ndarray, positions: str
) -> None:
    folder = whole_pixel_scan.folder
    source = folder / positions
    if positions == "positions.json":  # as ofs-stitch writes it
        tiles = [
            {"name": p.name, "position_px": {"row": r, "col": c, "x": c, "y": r}}
            for p, (r, c) in zip(whole_pixel_scan.paths, whole_pixel_scan.positions.tolist())
        ]
        source = tmp_path / "positions.json"
        source.write_text(json.dumps({"tiles": tiles, "pixel_size_um": 0.5}))
    argv = ["fuse", str(folder), "--positions", str(source), "-o", str(tmp_path), "--chunk", "64"]
    assert ofs.main(argv + ["--quiet"]) == 0
    out = tmp_path / f"{folder.name}_stitched.ome.zarr"
    assert np.array_equal(level0(out), reference)
    attrs = json.loads((out / ".zattrs").read_text())
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == ([0.5, 0.5] if positions == "positions.json" else [1.0, 1.0])


def test_tiff_format_holds_the_same_pixels(
    tmp_path: Path,
    whole_pixel_scan: FusionScan,
    reference: np.ndarray,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = whole_pixel_scan.folder
    argv = ["fuse", str(folder), "--positions", str(folder / "positions.csv"), "-o", str(tmp_path)]
    assert ofs.main(argv + ["--format", "tiff", "--chunk", "64"]) == 0
    out = tmp_path / f"{folder.name}_stitched.ome.tiff"
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # scratch zarr removed
    image = pyvips.Image.new_from_file(str(out))
    assert np.array_equal(image.numpy(), reference)
    assert "<OME" in image.get("image-description")
    assert image.get_n_pages() == 1 and image.get("n-subifds") >= 1


def test_an_openflexure_scan_is_placed_by_its_stage_positions(tmp_path: Path) -> None:
    from ofs_stitch.stitching.inputs import load_scan
    from ofs_stitch.testing.scans import make_scan

    make_scan(tmp_path / "scan", rows=2, cols=2, tile_shape=(120, 160), file_format="png")
    assert ofs.main(["fuse", str(tmp_path / "scan"), "--quiet", "--chunk", "64"]) == 0
    out = tmp_path / "scan" / "scan_stitched.ome.zarr"
    scan = load_scan(tmp_path / "scan")
    geometry = with_headers(
        layout_from_arrays(
            [t.path for t in scan.tiles],
            scan.stage_positions_px,
            np.array([t.shape for t in scan.tiles]),
        )
    )
    rendered = render_array(geometry, file_source(geometry, geometry.pixel_format))
    assert np.array_equal(np.moveaxis(level0(out), 0, 2), rendered)


def test_stitch_zarr_writes_the_stitched_mosaic(tmp_path: Path) -> None:
    from ofs_stitch.cli.command import main as ofs_stitch
    from ofs_stitch.testing.scans import make_scan

    make_scan(tmp_path / "scan", rows=2, cols=2, tile_shape=(120, 160), file_format="png")
    assert ofs_stitch([str(tmp_path / "scan"), "--stitch_zarr", "--quiet"]) == 0
    out = tmp_path / "scan" / "scan_stitched.ome.zarr"
    document = json.loads((tmp_path / "scan" / "positions.json").read_text())
    paths = [tmp_path / "scan" / t["name"] for t in document["tiles"]]
    positions = [(t["position_px"]["row"], t["position_px"]["col"]) for t in document["tiles"]]
    geometry = with_headers(
        layout_from_arrays(paths, np.array(positions), np.tile([120, 160], (4, 1)))
    )
    rendered = render_array(geometry, file_source(geometry, geometry.pixel_format))
    assert np.array_equal(np.moveaxis(level0(out), 0, 2), rendered)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--positions", "missing.txt"], "missing.txt"),
        (["--processes", "0"], "--processes 0"),
        (["--ngff", "0.3"], "invalid choice"),
        (["--flat_field", "nowhere.png"], "nowhere.png"),
        (["--blend", "median"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(
    tmp_path: Path,
    whole_pixel_scan: FusionScan,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["fuse", str(whole_pixel_scan.folder), "-o", str(tmp_path / "out"), *extra]
    try:
        status = ofs.main(argv)
    except SystemExit as exited:  # argparse's own errors
        status = int(exited.code or 0)
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("ofs fuse: ")
    assert not (tmp_path / "out").exists()


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ofs.main(["fuse", str(tmp_path / "nowhere")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ofs fuse: ") and "nowhere" in line


def test_a_flat_field_image_is_divided_out(
    tmp_path: Path, whole_pixel_scan: FusionScan, reference: np.ndarray
) -> None:
    from ofs_stitch.testing.mosaics import save_tile

    flat = save_tile(np.full(whole_pixel_scan.tile_shape, 40000, np.uint16), tmp_path / "flat.tif")
    folder = whole_pixel_scan.folder
    argv = ["fuse", str(folder), "--positions", str(folder / "positions.csv"), "-o", str(tmp_path)]
    assert ofs.main([*argv, "--chunk", "64", "--flat_field", str(flat), "--quiet"]) == 0
    # A uniform flat field is 1 everywhere once scaled to mean 1: nothing changes.
    assert np.array_equal(level0(tmp_path / f"{folder.name}_stitched.ome.zarr"), reference)
