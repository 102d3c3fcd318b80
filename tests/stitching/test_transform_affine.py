"""``ofs-stitch FOLDER --transform affine`` on a scan whose tiles turn, scale and shear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from e2e_support import file_digests, run_cli
from PIL import Image

from ofs_stitch.testing.affine_grids import affine_grid, aligned_errors


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The 2x3 grid of the align target as 8-bit PNG files with a positions CSV of their
    nominal places."""
    root = tmp_path_factory.mktemp("affine_scan")
    folder = root / "scan"
    folder.mkdir()
    grid = affine_grid(2, 3, tile_size=(640, 480), seed=0)
    lines = ["file,x,y"]
    truth = {}
    for (r, c), tile in grid.tiles.items():
        name = f"tile_{r}_{c}.png"
        Image.fromarray(np.round(np.clip(tile, 0, 1) * 255).astype(np.uint8)).save(folder / name)
        x, y = grid.nominal_origins[(r, c)]
        lines.append(f"{name},{x},{y}")
        truth[name] = grid.maps[(r, c)]
    positions = root / "positions.csv"
    positions.write_text("\n".join(lines) + "\n")
    return folder, positions, truth


def errors(document: dict, truth: dict) -> dict:
    if "tile_affines_xy" in document:
        found = {name: np.array(a) for name, a in document["tile_affines_xy"].items()}
    else:  # translation: each tile's top-left corner
        found = {
            t["name"]: np.array([t["position_px"]["x"], t["position_px"]["y"]])
            for t in document["tiles"]
        }
    return aligned_errors(found, truth, (640, 480))


def affine_run(scan, output: Path, *extra: str) -> dict:
    folder, positions, _ = scan
    run = run_cli([folder, "--positions", positions, "--transform", "affine", *extra, "-o", output])
    assert run.status == 0, run.stderr
    assert "affine maps from" in run.stdout
    document = json.loads((output / "positions.json").read_text())
    assert document["transform"] == "affine"
    return document


@pytest.fixture(scope="module")
def full_size(scan, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The affine run at full resolution: its output folder and positions.json."""
    output = tmp_path_factory.mktemp("affine_full") / "a"
    return output, affine_run(scan, output)


def test_affine_maps_land_within_a_tenth_of_a_pixel(scan, full_size, tmp_path: Path) -> None:
    folder, positions, truth = scan
    before = file_digests(folder)
    output, document = full_size
    # Measured: 0.04-0.09 px per tile (8-bit tiles); the translation placement 4-8 px.
    assert max(errors(document, truth).values()) < 0.1
    plain = run_cli([folder, "--positions", positions, "-o", tmp_path / "t"])
    assert plain.status == 0, plain.stderr
    translation = json.loads((tmp_path / "t" / "positions.json").read_text())
    assert "tile_affines_xy" not in translation
    assert max(errors(translation, truth).values()) > 2.0
    with Image.open(output / "scan_stitched.jpg") as mosaic:
        assert mosaic.size[0] > 1600 and mosaic.size[1] > 850
    assert file_digests(folder) == before  # nothing written into the input


@pytest.mark.parametrize("resize", ["0.5", "0.25"])
def test_resize_correlates_smaller_and_places_at_full_size(
    scan, full_size, tmp_path: Path, resize: str
) -> None:
    """--resize shrinks the tiles for the correlation only: the translation layout it starts
    from moves (by pixels at 0.25, where its loops no longer catch the turned tiles), the
    affine maps (matched at full size) stay those of the full-resolution run."""
    _, _, truth = scan
    output, full = full_size
    document = affine_run(scan, tmp_path, "--resize", resize)
    assert max(errors(document, truth).values()) < 0.1
    maps = {n: np.array(a) for n, a in document["tile_affines_xy"].items()}
    full_maps = {n: np.array(a) for n, a in full["tile_affines_xy"].items()}
    # Measured: 0.01 px apart after one common affine.
    assert max(aligned_errors(maps, full_maps, (640, 480)).values()) < 0.03
    with (
        Image.open(output / "scan_stitched.jpg") as a,
        Image.open(tmp_path / "scan_stitched.jpg") as b,
    ):
        assert abs(a.size[0] - b.size[0]) <= 2 and abs(a.size[1] - b.size[1]) <= 2
    # The maps are in full-size pixels, in the frame of the translation layout: no tile
    # scaled by the resize, each tile's (0, 0) near where the translations put it (they
    # differ by the tiles' turns, a few px at the corners).
    for tile in document["tiles"]:
        matrix = maps[tile["name"]]
        assert abs(np.sqrt(abs(np.linalg.det(matrix[:, :2]))) - 1) < 0.02
        place = tile["position_px"]
        assert np.hypot(matrix[0, 2] - place["x"], matrix[1, 2] - place["y"]) < 8.0


def test_feathered_affine_mosaic(scan, tmp_path: Path) -> None:
    folder, positions, _ = scan
    run = run_cli(
        [
            folder,
            "--positions",
            positions,
            "--transform",
            "affine",
            "--blend",
            "feather",
            "--stitching_mode",
            "preview_stitch",
            "-o",
            tmp_path,
        ]
    )
    assert run.status == 0, run.stderr
    with Image.open(tmp_path / "preview.jpg") as preview:
        pixels = np.asarray(preview.convert("L"), dtype=float)
    assert pixels.std() > 10  # the scene, not an empty canvas


def test_unknown_transform_is_one_line_and_exit_2(scan, tmp_path: Path) -> None:
    folder, positions, _ = scan
    run = run_cli([folder, "--transform", "similarity", "-o", tmp_path])
    assert run.status == 2
    assert "--transform" in run.stderr and "affine" in run.stderr
    assert "Traceback" not in run.stderr
