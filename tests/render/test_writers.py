"""Writing the full-size mosaic: every format read back, EXIF, one pass or several, faults."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import piexif
import pytest
import pyvips
import tifffile

from ofs_stitch.errors import ImageReadError, OutputError
from ofs_stitch.io.header import read_headers
from ofs_stitch.io.pixel_format import pixel_format_of
from ofs_stitch.openflexure.metadata import stitched_user_comment
from ofs_stitch.render import writers
from ofs_stitch.render.compose import file_source, render_array
from ofs_stitch.render.output_plan import OutputPlan, dzi_tiles_folder, plan_outputs
from ofs_stitch.render.writers import write_mosaic
from ofs_stitch.testing.files import FIRST_TILE_COMMENT
from ofs_stitch.testing.mosaics import cut_scene, grid_positions, psnr, smooth_canvas

OME = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"


@pytest.fixture(scope="module")
def rgb_scene(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("rgb")
    canvas = smooth_canvas((760, 1140), 3, np.uint8, seed=21)
    return cut_scene(
        folder / "tiles", canvas, grid_positions(3, 4, (220, 260), 8, seed=4), (300, 340)
    )


@pytest.fixture(scope="module")
def rgb_render(rgb_scene) -> np.ndarray:
    layout = rgb_scene.layout
    return render_array(layout, file_source(layout, pixel_format_of(read_headers(layout.paths))))


def plan_in(folder: Path, layout, **formats: bool) -> OutputPlan:
    folder.mkdir(parents=True, exist_ok=True)
    return plan_outputs(folder, "scan", layout.height, layout.width, **formats)


def test_jpeg_has_the_mosaic_size_its_pixels_and_the_first_tiles_comment(
    tmp_path: Path, rgb_scene, rgb_render: np.ndarray
) -> None:
    layout = rgb_scene.layout
    plan = plan_in(tmp_path, layout, jpeg=True)
    comment = stitched_user_comment(FIRST_TILE_COMMENT, len(layout))
    assert write_mosaic(layout, plan, user_comment=comment) == [plan.jpeg]
    image = pyvips.Image.new_from_file(str(plan.jpeg))
    assert (image.height, image.width, image.bands) == (layout.height, layout.width, 3)
    assert psnr(image.numpy(), rgb_render, np.ones(rgb_render.shape, bool)) > 38
    user_comment = piexif.load(str(plan.jpeg))["Exif"][piexif.ExifIFD.UserComment]
    assert json.loads(user_comment) == comment
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan_stitched.jpg"]


def test_dzi_levels_halve_down_to_one_pixel_and_hold_the_mosaic(
    tmp_path: Path, rgb_scene, rgb_render: np.ndarray
) -> None:
    layout = rgb_scene.layout
    plan = plan_in(tmp_path, layout, jpeg=False, dzi=True)
    write_mosaic(layout, plan)
    root = ET.parse(plan.dzi).getroot()
    ns = "{http://schemas.microsoft.com/deepzoom/2008}"
    size = root.find(f"{ns}Size")
    assert (int(size.get("Width")), int(size.get("Height"))) == (layout.width, layout.height)
    tile, overlap = int(root.get("TileSize")), int(root.get("Overlap"))
    assert root.get("Format") == "jpeg"
    files = dzi_tiles_folder(plan.dzi)
    n_levels = math.ceil(math.log2(max(layout.width, layout.height))) + 1
    levels = sorted(int(p.name) for p in files.iterdir() if p.name.isdigit())
    assert levels == list(range(n_levels))
    for level in range(n_levels):
        scale = 2 ** (n_levels - 1 - level)
        width = math.ceil(layout.width / scale)
        height = math.ceil(layout.height / scale)
        expected = math.ceil(width / tile) * math.ceil(height / tile)
        assert len(list((files / str(level)).glob("*.jpeg"))) == expected
    corner = pyvips.Image.new_from_file(str(files / str(n_levels - 1) / "0_0.jpeg")).numpy()
    assert corner.shape == (tile + overlap, tile + overlap, 3)
    truth = rgb_render[: tile + overlap, : tile + overlap]
    assert psnr(corner, truth, np.ones(truth.shape, bool)) > 35


def ome_pixels(tiff: Path) -> ET.Element:
    with tifffile.TiffFile(tiff) as handle:
        return ET.fromstring(handle.ome_metadata).find(f"{OME}Image/{OME}Pixels")


def assert_levels_halve(levels: list[tuple[int, ...]]) -> None:
    for bigger, smaller in itertools.pairwise(levels):
        assert smaller[:2] == (bigger[0] // 2, bigger[1] // 2)
    # The pyramid stops at the first level that fits in one tile.
    assert max(levels[-1][:2]) <= writers.TIFF_TILE
    assert len(levels) == 1 or max(levels[-2][:2]) > writers.TIFF_TILE


def test_16_bit_grey_tiff_is_lossless_with_its_pixel_size(tmp_path: Path) -> None:
    canvas = smooth_canvas((1320, 1960), 1, np.uint16, seed=5)
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(3, 4, (400, 450), 6, seed=2), (500, 600), ".tif"
    )
    layout = scene.layout
    plan = plan_in(tmp_path / "out", layout, jpeg=False, tiff=True)
    write_mosaic(layout, plan, pixel_size_um=0.25)
    render = render_array(layout, file_source(layout, pixel_format_of(read_headers(layout.paths))))
    with tifffile.TiffFile(plan.tiff) as handle:
        assert handle.is_ome and handle.is_bigtiff
        series = handle.series[0]
        levels = [level.shape for level in series.levels]
        assert levels[0] == (layout.height, layout.width)
        assert len(levels) >= 3
        assert_levels_halve(levels)
        assert series.dtype == np.uint16
        np.testing.assert_array_equal(series.levels[0].asarray(), render[:, :, 0])
        half = series.levels[1].asarray().astype(float)
        box = render[: 2 * half.shape[0], : 2 * half.shape[1], 0].astype(float)
        box = box.reshape(half.shape[0], 2, half.shape[1], 2).mean(axis=(1, 3))
        assert np.abs(half - box).max() <= 0.5  # each level averages the one above
        assert handle.pages[0].is_tiled
    pixels = ome_pixels(plan.tiff)
    assert pixels.get("Type") == "uint16" and pixels.get("SizeC") == "1"
    assert (pixels.get("SizeX"), pixels.get("SizeY")) == (str(layout.width), str(layout.height))
    assert float(pixels.get("PhysicalSizeX")) == 0.25 == float(pixels.get("PhysicalSizeY"))
    assert pixels.get("PhysicalSizeXUnit") == "µm"


def test_8_bit_rgb_tiff_without_a_known_pixel_size(
    tmp_path: Path, rgb_scene, rgb_render: np.ndarray
) -> None:
    layout = rgb_scene.layout
    plan = plan_in(tmp_path, layout, jpeg=False, tiff=True)
    write_mosaic(layout, plan)
    with tifffile.TiffFile(plan.tiff) as handle:
        series = handle.series[0]
        assert series.dtype == np.uint8
        assert series.levels[0].shape == (layout.height, layout.width, 3)
        assert_levels_halve([level.shape for level in series.levels])
        assert handle.pages[0].compression == tifffile.COMPRESSION.JPEG
    pixels = ome_pixels(plan.tiff)
    assert (pixels.get("Type"), pixels.get("SizeC")) == ("uint8", "3")
    assert pixels.find(f"{OME}Channel").get("SamplesPerPixel") == "3"
    assert pixels.get("PhysicalSizeX") is None
    # tifffile needs imagecodecs for JPEG tiles; libvips reads them back.
    image = pyvips.Image.new_from_file(str(plan.tiff)).numpy()
    assert psnr(image, rgb_render, np.ones(rgb_render.shape, bool)) > 38


def test_16_bit_mosaics_are_scaled_to_their_white_level_in_8_bit_formats(tmp_path: Path) -> None:
    # Like the MIST tiles: 16-bit samples that only reach about 1,300.
    canvas = (smooth_canvas((400, 520), 1, np.uint16, seed=8) // 50).astype(np.uint16)
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 2, (150, 200), 4, seed=1), (220, 280), ".tif"
    )
    plan = plan_in(tmp_path / "out", scene.layout, jpeg=True)
    write_mosaic(scene.layout, plan)
    jpeg = pyvips.Image.new_from_file(str(plan.jpeg)).numpy()
    assert jpeg.dtype == np.uint8
    assert np.percentile(jpeg, 99.9) >= 240  # not the 0..5 that a plain >> 8 would give


def test_one_pass_and_separate_passes_write_the_same_files(
    tmp_path: Path, rgb_scene, monkeypatch
) -> None:
    layout = rgb_scene.layout
    together = plan_in(tmp_path / "together", layout, jpeg=True, tiff=True, dzi=True)
    write_mosaic(layout, together)
    monkeypatch.setattr(writers, "WRITERS_MEMORY_BUDGET", 0)
    apart = plan_in(tmp_path / "apart", layout, jpeg=True, tiff=True, dzi=True)
    write_mosaic(layout, apart)
    for a, b in zip(together.paths, apart.paths):
        if a.is_file():
            assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.parametrize("budget", [None, 0], ids=["one pass", "a pass per writer"])
def test_progress_counts_every_row_of_every_pass(
    tmp_path: Path, rgb_scene, monkeypatch, budget: int | None
) -> None:
    layout = rgb_scene.layout
    if budget is not None:
        monkeypatch.setattr(writers, "WRITERS_MEMORY_BUDGET", budget)
    reports: list[tuple[int, int]] = []
    plan = plan_in(tmp_path, layout, jpeg=True, tiff=True)
    write_mosaic(layout, plan, progress=lambda done, total: reports.append((done, total)))
    passes = 1 if budget is None else 2
    totals = {total for _, total in reports}
    assert totals == {passes * layout.height}
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == passes * layout.height
    assert len(reports) >= passes * 2  # band by band, not once at the end


def test_png_deep_zoom_tiles_are_transparent_where_no_tile_reaches(tmp_path: Path) -> None:
    canvas = smooth_canvas((200, 300), 3, np.uint8, seed=3)
    # Two tiles offset diagonally: the top-right and bottom-left corners stay uncovered.
    scene = cut_scene(tmp_path / "tiles", canvas, np.array([[0, 0], [80, 120]]), (120, 180))
    plan = plan_in(tmp_path / "out", scene.layout, jpeg=False, dzi=True)
    write_mosaic(scene.layout, plan, dzi_tile_format="png")
    files = dzi_tiles_folder(plan.dzi)
    top = max(int(p.name) for p in files.iterdir() if p.name.isdigit())
    tile = pyvips.Image.new_from_file(str(files / str(top) / "0_0.png")).numpy()
    assert tile.shape[2] == 4
    assert (tile[:10, 250:, 3] == 0).all()  # uncovered: transparent
    assert (tile[:10, :10, 3] == 255).all()  # covered: opaque


def test_a_tile_truncated_mid_render_fails_naming_it_and_leaves_no_file(tmp_path: Path) -> None:
    canvas = smooth_canvas((500, 640), 3, np.uint8, seed=14)
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 2, (200, 260), 4, seed=5), (280, 360), ".jpg"
    )
    broken = scene.layout.paths[2]
    broken.write_bytes(broken.read_bytes()[:-6000])
    out = tmp_path / "out"
    plan = plan_in(out, scene.layout, jpeg=True, tiff=True, dzi=True)
    plan.jpeg.write_bytes(b"previous result")
    with pytest.raises(ImageReadError, match=broken.name) as failure:
        write_mosaic(scene.layout, plan)
    assert "\n" not in str(failure.value)
    assert sorted(p.name for p in out.iterdir()) == ["scan_stitched.jpg"]
    assert plan.jpeg.read_bytes() == b"previous result"  # replaced only by a complete file


def test_an_output_folder_that_cannot_exist_is_an_output_error(tmp_path: Path, rgb_scene) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    folder = tmp_path / "a_file" / "out"
    plan = plan_outputs(
        folder, "scan", rgb_scene.layout.height, rgb_scene.layout.width, jpeg=True, dzi=True
    )
    with pytest.raises(OutputError, match="scan_stitched") as failure:
        write_mosaic(rgb_scene.layout, plan)
    assert "\n" not in str(failure.value) and "-o" in str(failure.value)


def test_a_full_disk_reported_by_libvips_is_an_output_error(
    tmp_path: Path, rgb_scene, monkeypatch
) -> None:
    def failing_writer(path, white, comment):
        def write(image):
            image.jpegsave(str(path), Q=95)  # writes a partial file first
            raise pyvips.Error(
                "unable to call VipsForeignSaveJpegFile\n"
                "  vips__file_write: write failed: No space left on device"
            )

        return write

    monkeypatch.setattr(writers, "_jpeg_writer", failing_writer)
    plan = plan_in(tmp_path / "out", rgb_scene.layout, jpeg=True, tiff=True)
    with pytest.raises(OutputError, match="scan_stitched.jpg: the disk is full"):
        write_mosaic(rgb_scene.layout, plan)
    assert list((tmp_path / "out").iterdir()) == []


WRITE_IN_TMPFS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from ofs_stitch.render.geometry import layout_from_arrays
    from ofs_stitch.errors import StitchError
    from ofs_stitch.render.output_plan import plan_outputs
    from ofs_stitch.render.writers import write_mosaic
    spec = json.loads(sys.argv[1])
    layout = layout_from_arrays(spec["paths"], np.array(spec["positions"]), np.array(spec["shapes"]))
    out = Path(spec["out"])
    plan = plan_outputs(out, "scan", layout.height, layout.width, jpeg=True, tiff=True, dzi=True)
    try:
        write_mosaic(layout, plan)
        print(json.dumps({"error": None, "left": sorted(p.name for p in out.iterdir())}))
    except StitchError as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error),
                          "left": sorted(p.name for p in out.iterdir())}))
    """
)


def run_on_tmpfs(tmp_path: Path, layout, mount_options: str) -> dict:
    """Write the mosaic to a tiny tmpfs mounted in a private namespace (no root needed)."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        pytest.skip("needs Linux and unshare(1)")
    out = tmp_path / "mnt"
    out.mkdir()
    spec = json.dumps(
        {
            "paths": [str(p) for p in layout.paths],
            "positions": layout.positions.tolist(),
            "shapes": layout.shapes.tolist(),
            "out": str(out),
        }
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    command = (
        f'mount -t tmpfs -o {mount_options} ofs-test {out} && exec "{sys.executable}" -c "$0" "$1"'
    )
    run = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            command,
            WRITE_IN_TMPFS,
            spec,
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if run.returncode != 0 and "mount" in run.stderr + run.stdout and not run.stdout.strip():
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_full_disk_fails_cleanly_and_leaves_nothing(tmp_path: Path, rgb_scene) -> None:
    result = run_on_tmpfs(tmp_path, rgb_scene.layout, "size=256k")
    assert result["error"] == "OutputError"
    assert "the disk is full" in result["message"] and "\n" not in result["message"]
    assert result["left"] == []


def test_a_read_only_folder_fails_cleanly_and_leaves_nothing(tmp_path: Path, rgb_scene) -> None:
    result = run_on_tmpfs(tmp_path, rgb_scene.layout, "ro,size=64m")
    assert result["error"] == "OutputError"
    assert "permission denied" in result["message"]
    assert result["left"] == []


def test_a_new_deep_zoom_replaces_the_previous_one_without_leftovers(
    tmp_path: Path, rgb_scene
) -> None:
    plan = plan_in(tmp_path, rgb_scene.layout, jpeg=False, dzi=True)
    stale = dzi_tiles_folder(plan.dzi) / "99"
    stale.mkdir(parents=True)
    (stale / "0_0.jpeg").write_bytes(b"old tile")
    plan.dzi.write_text("old")
    write_mosaic(rgb_scene.layout, plan)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scan_stitched.dzi",
        "scan_stitched_files",
    ]
    assert not stale.exists()
    assert ET.parse(plan.dzi).getroot().get("TileSize") == "254"


def test_ome_xml_is_well_formed_for_any_name() -> None:
    from ofs_stitch.io.ome import ome_xml

    name = "scan <1> & \"best\" 'one'"
    xml = ome_xml(
        width=30,
        height=20,
        samples=3,
        dtype=np.dtype(np.uint16),
        pixel_size_um=0.25,
        name=name,
        creator='ofs-stitch & "friends"',
    )
    root = ET.fromstring(xml.encode())
    assert root.get("Creator") == 'ofs-stitch & "friends"'
    image = root.find(f"{OME}Image")
    assert image is not None and image.get("Name") == name
    pixels = image.find(f"{OME}Pixels")
    assert pixels is not None and pixels.get("Type") == "uint16"
