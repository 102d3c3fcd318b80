"""Image files with OpenFlexure metadata: one writer, every UserComment layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pyvips = pytest.importorskip("pyvips")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.io.exif import parse_exif_block  # noqa: E402
from ofs_stitch.openflexure.metadata import parse_stage_metadata  # noqa: E402
from ofs_stitch.testing.files import (  # noqa: E402
    REAL_CSM_MATRIX,
    openflexure_user_comment,
    pattern_pixels,
    write_image,
    write_tile,
)


@pytest.mark.parametrize("layout", ["v3", "legacy-v3", "v2"])
def test_every_layout_reads_back_as_the_stage_position_and_matrix_at_the_tile_width(
    layout: str,
) -> None:
    matrix = np.array(REAL_CSM_MATRIX)
    comment = openflexure_user_comment(layout, (10, -20, 30), matrix, (48, 64))
    meta = parse_stage_metadata(comment)
    assert meta.position == (10.0, -20.0, 30.0)
    assert meta.csm_matrix is not None
    # What a reader uses: the matrix rescaled from its calibration width (832 for v2) to 64 px.
    width = meta.calibration_width or 832
    np.testing.assert_allclose(np.array(meta.csm_matrix) * width / 64, matrix, rtol=1e-12)
    assert openflexure_user_comment("none", (10, -20, 30), matrix, (48, 64)) is None
    with pytest.raises(InputError, match="metadata_layout 'v4'"):
        openflexure_user_comment("v4", (10, -20, 30), matrix, (48, 64))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_image_carries_the_comment_and_date(tmp_path: Path, suffix: str) -> None:
    path = write_image(
        tmp_path / f"tile{suffix}",
        (30, 40),
        comment={"note": "here"},
        date_time="2024:03:01 12:00:07",
        seed=2,
    )
    image = pyvips.Image.new_from_file(str(path))
    info = parse_exif_block(image.get("exif-data"))
    assert info.user_comment_json() == {"note": "here"}
    assert info.date_time == "2024:03:01 12:00:07"
    pixels = image.numpy()
    assert pixels.shape == (30, 40, 3)
    if suffix == ".png":  # lossless: exactly the pattern
        assert np.array_equal(pixels, pattern_pixels((30, 40), seed=2))


def test_tiles_keep_16_bit_depth_and_unknown_suffixes_are_refused(tmp_path: Path) -> None:
    grey16 = (np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100).astype(np.uint16)
    rgb16 = np.stack([grey16, grey16 // 2, grey16 // 3], axis=-1)
    for name, pixels in (("g.png", grey16), ("g.tif", grey16), ("c.png", rgb16), ("c.tiff", rgb16)):
        path = write_tile(tmp_path / name, pixels)
        assert np.array_equal(pyvips.Image.new_from_file(str(path)).numpy(), pixels), name
    with pytest.raises(InputError, match="tile.bmp"):
        write_tile(tmp_path / "tile.bmp", grey16)
