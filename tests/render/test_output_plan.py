"""Which full-size files a mosaic gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ofs_stitch.render.output_plan import JPEG_MAX_SIDE, dzi_tiles_folder, plan_outputs


@pytest.mark.parametrize(("width", "jpeg"), [(JPEG_MAX_SIDE, True), (JPEG_MAX_SIDE + 1, False)])
def test_mosaics_over_65500_px_get_a_pyramidal_tiff_instead_of_a_jpeg(
    width: int, jpeg: bool
) -> None:
    plan = plan_outputs(Path("/out"), "scan", 480, width, jpeg=True, dzi=True)
    assert (plan.jpeg is not None) == jpeg
    assert plan.dzi == Path("/out/scan_stitched.dzi")
    if jpeg:
        assert plan.tiff is None and plan.notes == ()
    else:
        assert plan.tiff == Path("/out/scan_stitched.ome.tiff")
        assert len(plan.notes) == 1 and "65,500" in plan.notes[0] and str(width) in plan.notes[0]


def test_every_planned_path_includes_the_deep_zoom_tile_folder() -> None:
    plan = plan_outputs(Path("/out"), "scan", 480, 640, jpeg=True, dzi=True, tiff=True)
    assert plan.paths == [
        Path("/out/scan_stitched.jpg"),
        Path("/out/scan_stitched.ome.tiff"),
        Path("/out/scan_stitched.dzi"),
        Path("/out/scan_stitched_files"),
    ]
    assert dzi_tiles_folder(Path("/out/x.dzi")) == Path("/out/x_files")
