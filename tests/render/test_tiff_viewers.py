"""The OME-TIFF as viewers read it: tifffile, libvips, OpenSlide and exiftool (the last two
when installed: `pip install openslide-python openslide-bin`, apt's libimage-exiftool-perl).

What real viewers tripped on: 1000 um per pixel read from a scan without a pixel size; every
level claiming the full-resolution pixel size and carrying the OME-XML; OpenSlide seeing no
pyramid in the SubIFD layout (the `pages` layout is the one it reads).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

from ofs_stitch.io.header import read_headers
from ofs_stitch.io.pixel_format import pixel_format_of
from ofs_stitch.render.compose import file_source, render_array
from ofs_stitch.render.output_plan import plan_outputs
from ofs_stitch.render.writers import TIFF_LAYOUTS, write_mosaic
from ofs_stitch.testing.mosaics import cut_scene, grid_positions, psnr, smooth_canvas

OME = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
PIXEL_SIZE_UM = 0.2232  # not a power of two: the rationals must be exact, not just round
LEVELS = 4  # about 1100 -> 550 -> 275 -> 137 px wide: the last fits one 256 px tile


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("viewers")
    canvas = smooth_canvas((760, 1140), 3, np.uint8, seed=21)
    return cut_scene(
        folder / "tiles", canvas, grid_positions(3, 4, (220, 260), 8, seed=4), (300, 340)
    )


@pytest.fixture(scope="module")
def render(scene) -> np.ndarray:
    layout = scene.layout
    return render_array(layout, file_source(layout, pixel_format_of(read_headers(layout.paths))))


@pytest.fixture(scope="module")
def tiffs(scene, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, float | None], Path]:
    """One OME-TIFF per layout, with and without a known pixel size."""
    written = {}
    for layout in TIFF_LAYOUTS:
        for pixel_size in (None, PIXEL_SIZE_UM):
            folder = tmp_path_factory.mktemp(f"{layout}-{pixel_size}")
            plan = plan_outputs(
                folder, "scan", scene.layout.height, scene.layout.width, jpeg=False, tiff=True
            )
            write_mosaic(scene.layout, plan, pixel_size_um=pixel_size, tiff_layout=layout)
            assert plan.tiff is not None
            written[layout, pixel_size] = plan.tiff
    return written


def level_tags(path: Path) -> list[dict[str, object]]:
    """The tags of every level, full resolution first, in either layout."""
    with tifffile.TiffFile(path) as handle:
        ifds = []
        for index in range(len(handle.pages)):
            page = handle.pages.get(index, aspage=True)
            ifds.append(page)
            for offset in page.subifds or ():
                handle.filehandle.seek(offset)
                ifds.append(tifffile.TiffPage(handle, index=(index, offset)))
        return [{tag.name: tag.value for tag in page.tags} for page in ifds]


def libvips_level(path: Path, layout: str, level: int) -> pyvips.Image:
    if level == 0:
        return pyvips.Image.new_from_file(str(path))
    if layout == "subifd":
        return pyvips.Image.new_from_file(str(path), subifd=level - 1)
    return pyvips.Image.new_from_file(str(path), page=level)


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
def test_without_a_pixel_size_no_reader_finds_a_physical_unit(tiffs, layout: str) -> None:
    path = tiffs[layout, None]
    levels = level_tags(path)
    assert len(levels) == LEVELS
    for tags in levels:
        assert tags["ResolutionUnit"] == tifffile.RESUNIT.NONE
        assert tags["XResolution"] == tags["YResolution"] == (1, 1)
    for level in range(LEVELS):
        # libvips says 1 px/mm whatever it reads; with no unit it reports none.
        assert "resolution-unit" not in libvips_level(path, layout, level).get_fields()
    pixels = ET.fromstring(tifffile.TiffFile(path).ome_metadata).find(f"{OME}Image/{OME}Pixels")
    assert pixels is not None and pixels.get("PhysicalSizeX") is None


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
def test_each_level_states_its_own_pixel_size(tiffs, scene, layout: str) -> None:
    path = tiffs[layout, PIXEL_SIZE_UM]
    levels = level_tags(path)
    width = levels[0]["ImageWidth"]
    assert width == scene.layout.width
    assert [tags["ImageWidth"] for tags in levels] == [width >> k for k in range(LEVELS)]
    for level, tags in enumerate(levels):
        assert tags["ResolutionUnit"] == tifffile.RESUNIT.CENTIMETER
        numerator, denominator = tags["XResolution"]
        assert tags["YResolution"] == tags["XResolution"]
        # A pixel of level k spans 2^k full-resolution pixels, to the last digit.
        assert 1e4 * denominator / numerator == pytest.approx(PIXEL_SIZE_UM * 2**level, rel=1e-12)
        image = libvips_level(path, layout, level)
        assert image.get("resolution-unit") == "cm"
        # libvips holds pixels per mm as a 32-bit float.
        assert 1e3 / image.xres == pytest.approx(PIXEL_SIZE_UM * 2**level, rel=1e-6)
    pixels = ET.fromstring(tifffile.TiffFile(path).ome_metadata).find(f"{OME}Image/{OME}Pixels")
    assert pixels is not None
    assert float(pixels.get("PhysicalSizeX", "nan")) == PIXEL_SIZE_UM


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
@pytest.mark.parametrize("pixel_size", [None, PIXEL_SIZE_UM], ids=["unknown", "known"])
def test_only_the_first_level_carries_the_ome_xml(
    tiffs, layout: str, pixel_size: float | None
) -> None:
    path = tiffs[layout, pixel_size]
    levels = level_tags(path)
    assert str(levels[0]["ImageDescription"]).startswith("<?xml")
    assert all("ImageDescription" not in tags for tags in levels[1:])
    assert "image-description" in libvips_level(path, layout, 0).get_fields()
    for level in range(1, LEVELS):
        assert "image-description" not in libvips_level(path, layout, level).get_fields()


def test_tifffile_reads_the_subifd_pyramid_and_the_pages_layouts_full_resolution(
    tiffs, render: np.ndarray
) -> None:
    height, width = render.shape[:2]
    with tifffile.TiffFile(tiffs["subifd", PIXEL_SIZE_UM]) as handle:
        assert handle.is_ome
        assert [level.shape[:2] for level in handle.series[0].levels] == [
            (height >> k, width >> k) for k in range(LEVELS)
        ]
    with tifffile.TiffFile(tiffs["pages", PIXEL_SIZE_UM]) as handle:
        # The OME-XML names the full-resolution page only; the levels are pages of their own.
        assert handle.is_ome and len(handle.series) == 1
        assert handle.series[0].shape == render.shape
        assert len(handle.pages) == LEVELS
    for layout in TIFF_LAYOUTS:
        pixels = pyvips.Image.new_from_file(str(tiffs[layout, None])).numpy()
        assert psnr(pixels, render, np.ones(render.shape, bool)) > 38


@pytest.mark.parametrize("pixel_size", [None, PIXEL_SIZE_UM], ids=["unknown", "known"])
def test_openslide_reads_the_pages_pyramid_and_its_pixel_size(
    tiffs, render: np.ndarray, pixel_size: float | None
) -> None:
    openslide = pytest.importorskip("openslide", exc_type=ImportError)
    height, width = render.shape[:2]
    with openslide.OpenSlide(str(tiffs["pages", pixel_size])) as slide:
        assert slide.properties[openslide.PROPERTY_NAME_VENDOR] == "generic-tiff"
        assert slide.level_dimensions == tuple((width >> k, height >> k) for k in range(LEVELS))
        mpp = slide.properties.get(openslide.PROPERTY_NAME_MPP_X)
        if pixel_size is None:
            assert mpp is None  # not the 1000 um/px it read before
        else:
            assert float(mpp) == pytest.approx(pixel_size, rel=1e-9)
        region = np.asarray(slide.read_region((0, 0), 0, (width, height)))[:, :, :3]
        assert psnr(region, render, np.ones(render.shape, bool)) > 38
        h, w = height // 2, width // 2
        half = np.asarray(slide.read_region((0, 0), 1, (w, h)))[:, :, :3].astype(float)
        box = render[: 2 * h, : 2 * w].astype(float).reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        assert np.abs(half - box).mean() < 2  # JPEG tiles of the averaged level


def test_openslide_sees_the_full_resolution_only_in_the_subifd_layout(tiffs, scene) -> None:
    # What the README says: OpenSlide's generic-tiff reader does not follow SubIFDs.
    openslide = pytest.importorskip("openslide", exc_type=ImportError)
    with openslide.OpenSlide(str(tiffs["subifd", PIXEL_SIZE_UM])) as slide:
        assert slide.level_count == 1
        assert slide.dimensions == (scene.layout.width, scene.layout.height)
        assert float(slide.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(
            PIXEL_SIZE_UM
        )
    with openslide.OpenSlide(str(tiffs["subifd", None])) as slide:
        assert openslide.PROPERTY_NAME_MPP_X not in slide.properties


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
def test_exiftool_finds_a_valid_tiff_and_each_levels_resolution(tiffs, layout: str) -> None:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (apt's libimage-exiftool-perl)")

    def exiftool(*arguments: str | Path) -> dict[str, object]:
        done = subprocess.run(
            ["exiftool", "-j", "-a", "-G1", *map(str, arguments)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(done.stdout)[0]

    unknown = exiftool("-ResolutionUnit", tiffs[layout, None])
    units = [v for k, v in unknown.items() if k.endswith(":ResolutionUnit")]
    assert units == ["None"] * LEVELS
    known = exiftool("-ResolutionUnit", "-XResolution", tiffs[layout, PIXEL_SIZE_UM])
    resolutions = [v for k, v in known.items() if k.endswith(":XResolution")]
    assert resolutions == pytest.approx([1e4 / PIXEL_SIZE_UM / 2**k for k in range(LEVELS)])
    # Rewritten in place, the IFDs still pass exiftool's checks (its only remark on a
    # BigTIFF named .tiff is the extension).
    warnings = exiftool("-validate", "-warning", tiffs[layout, PIXEL_SIZE_UM])
    assert all("extension" in str(v) for k, v in warnings.items() if "Warning" in k), warnings


def test_openslide_reads_a_16_bit_grey_pages_pyramid(tmp_path: Path) -> None:
    openslide = pytest.importorskip("openslide", exc_type=ImportError)
    canvas = smooth_canvas((620, 700), 1, np.uint16, seed=5)
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 2, (260, 300), 6, seed=2), (330, 380), ".tif"
    )
    layout = scene.layout
    (tmp_path / "out").mkdir()
    plan = plan_outputs(
        tmp_path / "out", "scan", layout.height, layout.width, jpeg=False, tiff=True
    )
    write_mosaic(layout, plan, pixel_size_um=0.5, tiff_layout="pages")
    truth = render_array(layout, file_source(layout, pixel_format_of(read_headers(layout.paths))))
    assert plan.tiff is not None
    with openslide.OpenSlide(str(plan.tiff)) as slide:
        assert slide.level_count >= 2
        assert slide.level_dimensions[1] == (layout.width // 2, layout.height // 2)
        assert float(slide.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
        grey = np.asarray(slide.read_region((0, 0), 0, (layout.width, layout.height)))[:, :, 0]
    # OpenSlide shows 16-bit samples as their top 8 bits. Only the whole 256 px tiles are
    # compared: OpenSlide 4.0.1 (openslide-bin 4.0.1.2) garbles the partial tiles along the
    # right edge of 16-bit grey levels, which tifffile and libvips read exactly (the README
    # says so).
    rows, cols = (layout.height // 256) * 256, (layout.width // 256) * 256
    assert rows and cols
    difference = grey[:rows, :cols].astype(int) - (truth[:rows, :cols, 0] >> 8)
    assert np.abs(difference).max() <= 1
    with tifffile.TiffFile(plan.tiff) as handle:
        np.testing.assert_array_equal(handle.pages[0].asarray(), truth[:, :, 0])
