"""The preview and thumbnail: composed small, or shrunk from the full-size pass; their kernels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import piexif
import pytest
import pyvips

from ofs_stitch import _core
from ofs_stitch.io.header import read_headers
from ofs_stitch.io.pixel_format import pixel_format_of
from ofs_stitch.openflexure.metadata import stitched_user_comment
from ofs_stitch.render.compose import file_source, render_array
from ofs_stitch.render.output_plan import OutputPlan, plan_outputs
from ofs_stitch.render.preview import PreviewTap, render_preview, write_preview, write_thumbnail
from ofs_stitch.render.writers import write_mosaic
from ofs_stitch.testing.files import FIRST_TILE_COMMENT
from ofs_stitch.testing.mosaics import cut_scene, grid_positions, psnr, smooth_canvas


def plan_in(folder: Path, layout) -> OutputPlan:
    """The full-size JPEG of ``layout`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return plan_outputs(folder, "scan", layout.height, layout.width, jpeg=True)


def test_preview_is_about_1000_px_wide_and_the_thumbnail_fits_400_px(tmp_path: Path) -> None:
    canvas = smooth_canvas((900, 2600), 3, np.uint8, seed=12)
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 6, (500, 400), 5, seed=7), (380, 500), ".jpg"
    )
    comment = stitched_user_comment(FIRST_TILE_COMMENT, 12)
    preview = write_preview(scene.layout, tmp_path / "preview.jpg", user_comment=comment)
    image = pyvips.Image.new_from_file(str(tmp_path / "preview.jpg"))
    assert abs(image.width - 1000) <= 1
    assert abs(image.height - scene.layout.height * 1000 / scene.layout.width) <= 2
    assert (
        json.loads(piexif.load(str(tmp_path / "preview.jpg"))["Exif"][piexif.ExifIFD.UserComment])
        == comment
    )
    write_thumbnail(preview, tmp_path / "stitched_thumbnail.jpg")
    thumb = pyvips.Image.new_from_file(str(tmp_path / "stitched_thumbnail.jpg"))
    assert max(thumb.width, thumb.height) == 400
    assert abs(thumb.height - 400 * image.height / image.width) <= 1


def tapped_preview(folder: Path, canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray, object]:
    """The preview collected during a full-size JPEG pass, the whole mosaic, and the scene."""
    scene = cut_scene(
        folder / "tiles", canvas, grid_positions(2, 6, (500, 400), 5, seed=8), (380, 500)
    )
    tap = PreviewTap(scene.layout)
    write_mosaic(scene.layout, plan_in(folder / "out", scene.layout), preview=tap)
    preview = tap.save(folder / "preview.jpg").pixels
    mosaic = render_array(
        scene.layout, file_source(scene.layout, pixel_format_of(read_headers(scene.layout.paths)))
    )
    return preview, mosaic, scene


def test_the_tapped_preview_is_the_whole_mosaic_shrunk(tmp_path: Path) -> None:
    preview, mosaic, scene = tapped_preview(tmp_path, smooth_canvas((900, 2600), 3, np.uint8, 21))
    composed = render_preview(scene.layout).pixels
    assert preview.shape == composed.shape
    assert abs(preview.shape[1] - 1000) <= 1
    # The definition on the whole mosaic at once (the tap sees it band by band): mean of
    # whole blocks, the last partial block of rows averaged alone, then Lanczos to the size.
    height, width = preview.shape[:2]
    across, down = mosaic.shape[1] // width, mosaic.shape[0] // height
    columns = mosaic[:, : mosaic.shape[1] // across * across].astype(np.float64)
    columns = columns.reshape(mosaic.shape[0], -1, across, 3).mean(axis=2)
    blocks = [columns[r : r + down].mean(axis=0) for r in range(0, len(columns), down)]
    image = pyvips.Image.new_from_array(np.array(blocks, np.float32))
    shrunk = image.resize(width / image.width, vscale=height / image.height).numpy()
    expected = np.clip(np.rint(shrunk), 0, 255)
    assert np.abs(preview.astype(int) - expected).max() <= 1
    # And with libvips' own resize of the whole mosaic (a different kernel: only close).
    whole = pyvips.Image.new_from_array(mosaic)
    resized = whole.resize(width / whole.width, vscale=height / whole.height).numpy()
    inside = (slice(5, -5), slice(5, -5))
    assert psnr(preview[inside], resized[inside], np.ones(resized[inside].shape, bool)) > 28


def test_the_tapped_preview_averages_instead_of_decimating(tmp_path: Path) -> None:
    # Stripes two pixels apart: averaged they vanish into their mean (100); decimation would
    # keep one phase of them (60 or 140).
    canvas = np.full((900, 2600, 3), 100, np.uint8)
    canvas[:, ::2] = 140
    canvas[:, 1::2] = 60
    preview, mosaic, _ = tapped_preview(tmp_path, canvas)
    # Inside the first row of tiles (the rows of this grid leave a gap between them).
    scale = preview.shape[1] / mosaic.shape[1]
    inside = preview[int(30 * scale) : int(350 * scale), 4:-4]
    assert inside.size > 100_000
    assert np.abs(inside.astype(int) - 100).max() <= 3


def test_the_tapped_preview_of_16_bit_grey_tiles_is_scaled_to_the_white_level(
    tmp_path: Path,
) -> None:
    # Stripes of 16,000 and 24,000 average to 20,000; shown with 40,000 as white: 127.5.
    canvas = np.full((900, 2600, 1), 16_000, np.uint16)
    canvas[:, ::2] = 24_000
    scene = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 6, (500, 400), 5, seed=8), (380, 500), ".tif"
    )
    tap = PreviewTap(scene.layout)
    plan = plan_in(tmp_path / "out", scene.layout)
    write_mosaic(scene.layout, plan, white=40_000, preview=tap)
    preview = tap.save(tmp_path / "preview.jpg").pixels
    assert preview.shape[2] == 1 and tap.white_level == 40_000
    scale = preview.shape[1] / scene.layout.width
    inside = preview[int(30 * scale) : int(350 * scale), 4:-4]
    assert inside.size > 30_000
    assert np.abs(inside.astype(float) - 127.5).max() <= 1


@pytest.mark.parametrize("sum_type", [np.uint32, np.uint64])
@pytest.mark.parametrize(
    ("dtype", "bands", "keep"),
    [(np.uint8, 3, 3), (np.uint16, 1, 1), (np.uint8, 4, 3), (np.uint16, 2, 1)],
)
def test_row_sums_match_numpy(dtype, bands: int, keep: int, sum_type) -> None:
    # The preview tap's kernel: packed bands, and a view that leaves out the alpha band.
    rng = np.random.default_rng(bands)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top, (37, 53, bands), dtype=dtype, endpoint=True)
    pixels[0] = top  # the largest samples must not wrap
    view = pixels[:, :, :keep]
    sums = np.full((53, keep), 7, sum_type)  # adds to what is there
    _core.compose.add_rows(view, sums)
    expected = view.sum(axis=0, dtype=np.uint64) + 7
    np.testing.assert_array_equal(sums, expected)


def test_row_sums_refuse_a_mismatched_accumulator() -> None:
    with pytest.raises(ValueError, match="sums"):
        _core.compose.add_rows(np.zeros((4, 5, 3), np.uint8), np.zeros((5, 3), np.int32))
    with pytest.raises(ValueError, match="sums"):
        _core.compose.add_rows(np.zeros((4, 5, 3), np.uint8), np.zeros((6, 3), np.uint64))


@pytest.mark.parametrize("sum_type", [np.uint32, np.uint64])
def test_block_means_average_whole_blocks_and_clear_the_sums(sum_type) -> None:
    rng = np.random.default_rng(4)
    sums = rng.integers(0, 2**31, (23, 3)).astype(sum_type)  # 23 columns: 3 blocks of 7 + 2
    expected = sums[:21].astype(np.float64).reshape(3, 7, 3).sum(axis=1) / 35.0
    out = np.zeros((3, 3), np.float32)
    _core.compose.block_means(sums, 7, 35, out)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert not sums.any()  # ready for the next block row


def test_block_means_refuse_mismatched_arrays() -> None:
    sums = np.zeros((23, 3), np.uint32)
    with pytest.raises(ValueError, match="out"):
        _core.compose.block_means(sums, 7, 35, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="out"):
        _core.compose.block_means(sums, 7, 35, np.zeros((3, 3), np.float64))
    with pytest.raises(ValueError, match="across"):
        _core.compose.block_means(sums, 0, 35, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="sums"):
        _core.compose.block_means(np.zeros((23, 3), np.int64), 7, 35, np.zeros((3, 3), np.float32))


def _row_of_tiles(count: int, tile: tuple[int, int], pitch: float):
    from ofs_stitch.render.geometry import layout_from_arrays

    positions = [[0.0, k * pitch] for k in range(count)]
    return layout_from_arrays([f"t{k}.jpg" for k in range(count)], positions, [tile] * count)


def test_previews_are_never_wider_than_asked() -> None:
    from ofs_stitch.render.geometry import scaled_layout
    from ofs_stitch.render.preview import PREVIEW_WIDTH, preview_scale

    overshoots = 0
    for count in range(2, 40):
        for tile_width in (333, 480, 517, 640, 821):
            layout = _row_of_tiles(count, (tile_width, tile_width), 0.7 * tile_width + 0.37)
            if layout.width <= PREVIEW_WIDTH or layout.height * 1000 < 100 * layout.width:
                continue  # no shrinking, or a strip's preview (the test below)
            naive = min(1.0, PREVIEW_WIDTH / layout.width)
            overshoots += scaled_layout(layout, naive).width > PREVIEW_WIDTH
            width = scaled_layout(layout, preview_scale(layout)).width
            assert PREVIEW_WIDTH - 3 <= width <= PREVIEW_WIDTH, (count, tile_width, width)
    assert overshoots > 0  # the plain scale did give 1001-px previews for some of these


def test_a_long_flat_strip_gets_a_preview_tall_enough_to_see() -> None:
    from ofs_stitch.render.geometry import scaled_layout
    from ofs_stitch.render.preview import PREVIEW_MAX_WIDTH, PREVIEW_MIN_HEIGHT, preview_scale

    strip = _row_of_tiles(150, (480, 640), 448.0)  # 67,392 x 480 px
    small = scaled_layout(strip, preview_scale(strip))
    assert small.height >= PREVIEW_MIN_HEIGHT - 1
    assert small.width <= PREVIEW_MAX_WIDTH
    assert (
        abs(small.width / small.height - strip.width / strip.height)
        < 0.02 * small.width / small.height
    )
