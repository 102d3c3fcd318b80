"""Rewriting a pyramidal TIFF's resolution and description tags in place, level by level."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

from ofs_stitch.io.tiff_levels import fix_pyramid_tags, pixels_per_cm


def pages(path: Path) -> list[tifffile.TiffPage]:
    """Every IFD of the file: each page followed by its SubIFDs."""
    found = []
    with tifffile.TiffFile(path) as handle:
        for index in range(len(handle.pages)):
            page = handle.pages.get(index, aspage=True)
            found.append(page)
            for offset in page.subifds or ():
                handle.filehandle.seek(offset)
                found.append(tifffile.TiffPage(handle, index=(index, offset)))
        return [(p.imagewidth, dict((t.name, t.value) for t in p.tags)) for p in found]


def libvips_pyramid(path: Path, *, bigtiff: bool, subifd: bool) -> np.ndarray:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (700, 1000), dtype=np.uint8)
    image = pyvips.Image.new_from_array(pixels).copy(xres=4.0, yres=4.0)
    image.set_type(pyvips.GValue.gstr_type, "image-description", "<OME>first</OME>")
    image.tiffsave(
        str(path),
        tile=True,
        tile_width=128,
        tile_height=128,
        pyramid=True,
        subifd=subifd,
        bigtiff=bigtiff,
        compression="deflate",
    )
    return pixels


def test_pixels_per_cm_are_exact_and_halve_with_each_level() -> None:
    assert pixels_per_cm(0.25, 0) == 40_000
    assert pixels_per_cm(0.25, 3) == 5_000
    # The decimal as typed: 10^4 / 0.2232 = 12,500,000 / 279 exactly.
    assert pixels_per_cm(0.2232, 0) == Fraction(12_500_000, 279)
    assert pixels_per_cm(0.2232, 5) == Fraction(12_500_000, 279 * 32)
    for size in (1e-4, 0.123456789, 7.3, 1e4):  # extremes still fit two uint32
        for level in (0, 12):
            value = pixels_per_cm(size, level)
            assert value.numerator < 2**32 and value.denominator < 2**32
            assert float(value) == pytest.approx(1e4 / size / 2**level, rel=1e-9)


@pytest.mark.parametrize("bigtiff", [True, False], ids=["BigTIFF", "classic TIFF"])
@pytest.mark.parametrize("subifd", [True, False], ids=["SubIFDs", "pages"])
def test_each_level_gets_its_own_resolution_and_only_the_first_the_description(
    tmp_path: Path, bigtiff: bool, subifd: bool
) -> None:
    path = tmp_path / "pyramid.tif"
    pixels = libvips_pyramid(path, bigtiff=bigtiff, subifd=subifd)
    before = pages(path)
    # What libvips writes: the full-resolution values and the description on every level.
    assert len(before) == 4
    assert len({str(tags["XResolution"]) for _, tags in before}) == 1
    assert all("ImageDescription" in tags for _, tags in before)

    fix_pyramid_tags(path, 0.2232)

    after = pages(path)
    assert [width for width, _ in after] == [1000, 500, 250, 125]
    for level, (_, tags) in enumerate(after):
        expected = pixels_per_cm(0.2232, level)
        assert tags["ResolutionUnit"] == tifffile.RESUNIT.CENTIMETER
        for name in ("XResolution", "YResolution"):
            assert Fraction(*tags[name]) == expected
        assert ("ImageDescription" in tags) == (level == 0)
        # Every other tag as libvips wrote it.
        untouched = set(before[level][1]) - {"XResolution", "YResolution", "ResolutionUnit"}
        assert {k: str(before[level][1][k]) for k in untouched - {"ImageDescription"}} == {
            k: str(tags[k]) for k in untouched - {"ImageDescription"}
        }
    assert after[0][1]["ImageDescription"] == "<OME>first</OME>"
    with tifffile.TiffFile(path) as handle:
        np.testing.assert_array_equal(handle.pages[0].asarray(), pixels)
    assert pyvips.Image.new_from_file(str(path)).numpy().shape == pixels.shape


def test_without_a_pixel_size_no_level_has_a_physical_unit(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.tif"
    libvips_pyramid(path, bigtiff=True, subifd=True)
    fix_pyramid_tags(path, None)
    for _, tags in pages(path):
        assert tags["ResolutionUnit"] == tifffile.RESUNIT.NONE
        assert tags["XResolution"] == tags["YResolution"] == (1, 1)


def test_big_endian_files_are_rewritten_too(tmp_path: Path) -> None:
    path = tmp_path / "motorola.tif"
    data = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)
    common = {"resolution": (10, 10), "resolutionunit": "INCH", "metadata": None}
    with tifffile.TiffWriter(path, byteorder=">", bigtiff=True) as writer:
        writer.write(data, description="one", **common)
        writer.write(data[::2, ::2], description="two", **common)
    fix_pyramid_tags(path, 2.0)
    (w0, first), (w1, second) = pages(path)
    assert (w0, w1) == (64, 32)
    assert Fraction(*first["XResolution"]) == 5000 and Fraction(*second["XResolution"]) == 2500
    assert first["ImageDescription"] == "one" and "ImageDescription" not in second
    with tifffile.TiffFile(path) as handle:
        np.testing.assert_array_equal(handle.pages[1].asarray(), data[::2, ::2])


def test_a_file_that_is_not_a_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.tif"
    path.write_bytes(b"JFIF and more bytes")
    with pytest.raises(ValueError, match="not a TIFF"):
        fix_pyramid_tags(path, None)
    assert path.read_bytes() == b"JFIF and more bytes"
