"""Chunks painted from tile-chunk intersections: nearest equals the libvips renderer pixel
for pixel; the blends reproduce the scene; sub-pixel and affine placements; gain and flat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.core.warp import warp_affine
from ofs_stitch.errors import InputError
from ofs_stitch.fusion.chunks import plan_chunks
from ofs_stitch.fusion.layout import (
    FusionLayout,
    layout_from_geometry,
    layout_from_positions,
    layout_from_transforms,
)
from ofs_stitch.fusion.paint import check_blend, file_reader, paint_chunk
from ofs_stitch.render.compose import file_source, render_array
from ofs_stitch.render.geometry import with_headers
from ofs_stitch.testing.fusion_scans import FusionScan
from ofs_stitch.testing.mosaics import cut_scene, grid_positions, smooth_canvas


def fused(layout: FusionLayout, blend: str, chunk: int, interpolation: str = "cubic") -> np.ndarray:
    out = np.zeros((layout.height, layout.width, layout.fmt.bands), layout.fmt.dtype)
    read = file_reader(layout)
    # As fuse_to_zarr plans: the nearest rule's painter finds its tile regions itself.
    nearest = blend == "nearest"
    for plan in plan_chunks(layout, chunk, rounded=nearest, parts=not nearest).values():
        w = plan.window
        out[w.y0 : w.y1, w.x0 : w.x1] = paint_chunk(layout, plan, read, blend, interpolation)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    ("bands", "dtype", "suffix", "chunk"),
    [(1, np.uint16, ".tif", 64), (3, np.uint8, ".png", 48), (3, np.uint8, ".jpg", 100)],
)
def test_nearest_is_the_renderers_mosaic_pixel_for_pixel(
    tmp_path: Path, bands: int, dtype: type, suffix: str, chunk: int
) -> None:
    canvas = smooth_canvas((340, 440), bands, dtype, 5)
    positions = grid_positions(3, 4, (100, 100), 4, 6)
    cut = cut_scene(tmp_path, canvas, positions, (112, 120), suffix)
    geometry = with_headers(cut.layout)
    rendered = render_array(geometry, file_source(geometry, geometry.pixel_format))
    ours = fused(layout_from_geometry(geometry), "nearest", chunk)
    assert ours.shape == rendered.shape
    assert np.array_equal(ours, rendered)


@pytest.mark.parametrize("blend", ["feather", "cosine", "mean", "max"])
def test_blends_of_exact_tiles_reproduce_the_scene(
    whole_pixel_scan: FusionScan, blend: str
) -> None:
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    ours = fused(layout, blend, 64)[:, :, 0].astype(float)
    truth = whole_pixel_scan.truth(*layout.origin, layout.height, layout.width)
    expected = np.rint(np.clip(truth, 0, 65535))
    covered = fused(layout, "nearest", 64)[:, :, 0] > 0
    # Tiles are the same scene quantised alike: every blend of equal values is that value.
    assert np.abs(ours - expected)[covered].max() <= 1


def test_sub_pixel_blends_beat_rounding_and_none_beats_the_average(
    subpixel_scan: FusionScan,
) -> None:
    layout = layout_from_positions(subpixel_scan.paths, subpixel_scan.positions)
    truth = subpixel_scan.truth(*layout.origin, layout.height, layout.width)
    inner = (slice(6, -6), slice(6, -6))
    rmse = {}
    for blend in ("nearest", "feather", "cosine", "mean", "max"):
        error = fused(layout, blend, 96)[:, :, 0].astype(float) - truth
        rmse[blend] = float(np.sqrt(np.mean(error[inner] ** 2)) / 65535)
    noise = 0.02
    # Resampled to their true positions, the blends only carry the noise (rounding the
    # positions, as nearest does, adds up to half a pixel of misplacement).
    for blend in ("feather", "cosine", "mean"):
        assert rmse[blend] < noise
        assert rmse[blend] < 0.7 * rmse["nearest"]
    # The plain average is the least-variance blend of equally noisy tiles; the ramps keep
    # within 3 % of it (they trade a little noise for seamless brightness changes).
    assert rmse["feather"] <= 1.03 * rmse["mean"]
    assert rmse["cosine"] <= 1.03 * rmse["mean"]
    # max picks the brightest noise sample in every overlap: biased upwards.
    assert rmse["max"] > rmse["mean"]


def test_a_chunk_reads_only_its_intersections(whole_pixel_scan: FusionScan) -> None:
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    plans = plan_chunks(layout, 64)
    for plan in plans.values():
        for part in plan.parts:
            assert part.row1 - part.row0 == part.box.rows
            assert part.col1 - part.col0 == part.box.cols
            assert plan.window.y0 <= part.box.y0 and part.box.y1 <= plan.window.y1
    # Every covered pixel of the canvas is in exactly the chunk parts of its tiles.
    counted = sum(p.box.rows * p.box.cols for plan in plans.values() for p in plan.parts)
    assert counted == int(np.prod(layout.shapes, axis=1).sum())


def test_the_nearest_rules_plan_is_the_chunks_alone(whole_pixel_scan: FusionScan) -> None:
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    full = plan_chunks(layout, 64, rounded=True)
    bare = plan_chunks(layout, 64, rounded=True, parts=False)
    assert (layout.height, layout.width) == whole_pixel_scan.mosaic_shape
    assert len(full) > 4 and all(plan.parts for plan in full.values())
    assert {i: p.window for i, p in bare.items()} == {i: p.window for i, p in full.items()}
    assert not any(plan.parts for plan in bare.values())


def test_affine_placements_are_resampled(tmp_path: Path) -> None:
    canvas = smooth_canvas((300, 300), 1, np.uint16, 9)
    angle = np.deg2rad(3.0)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    paths, matrices = [], []
    for k, (top, left) in enumerate([(40, 40), (40, 130), (130, 40), (130, 130)]):
        to_mosaic = rotation.copy()
        to_mosaic[:2, 2] = (top, left)
        tile = warp_affine(canvas, to_mosaic, output_shape=(110, 110), interpolation="cubic")
        from ofs_stitch.testing.mosaics import save_tile

        paths.append(save_tile(tile, tmp_path / f"t{k}.tif"))
        matrices.append(to_mosaic)
    layout = layout_from_transforms(paths, np.array(matrices))
    assert layout.geometry is None
    ours = fused(layout, "feather", 64)[:, :, 0].astype(float)
    top, left = (int(v) for v in layout.origin)
    truth = canvas[top : top + layout.height, left : left + layout.width, 0].astype(float)
    inner = (slice(20, 150), slice(20, 150))
    assert np.abs(ours - truth)[inner].mean() < 0.01 * 65535
    with pytest.raises(InputError, match="translation"):
        check_blend("nearest", layout)


def test_gain_and_flat_field_are_taken_out(tmp_path: Path, whole_pixel_scan: FusionScan) -> None:
    from ofs_stitch.io.decode import read_pixels
    from ofs_stitch.testing.mosaics import save_tile

    rows, cols = whole_pixel_scan.tile_shape
    y, x = np.mgrid[0:rows, 0:cols]
    flat = 1 - 0.3 * (((y - rows / 2) / rows) ** 2 + ((x - cols / 2) / cols) ** 2)
    flat /= flat.mean()  # a flat field says the shape of the illumination (mean 1)
    gains = np.linspace(0.7, 1.0, len(whole_pixel_scan.paths))
    paths = []
    for k, path in enumerate(whole_pixel_scan.paths):
        shaded = read_pixels(path).astype(float) * flat * gains[k]
        paths.append(save_tile(np.rint(shaded).astype(np.uint16), tmp_path / path.name))
    plain = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    corrected = layout_from_positions(
        paths, whole_pixel_scan.positions, gains=1 / gains, flat_field=flat
    )
    for blend in ("nearest", "feather"):
        reference = fused(plain, blend, 64).astype(float)
        ours = fused(corrected, blend, 64).astype(float)
        covered = reference > 0
        relative = np.abs(ours - reference)[covered] / reference[covered]
        assert np.percentile(relative, 99) < 0.002
    with pytest.raises(InputError, match="gains"):
        layout_from_positions(paths, whole_pixel_scan.positions, gains=[1.0])
    with pytest.raises(InputError, match="flat field"):
        layout_from_positions(paths, whole_pixel_scan.positions, flat_field=np.ones((5, 5)))


def test_unknown_blend_is_refused(whole_pixel_scan: FusionScan) -> None:
    layout = layout_from_positions(whole_pixel_scan.paths, whole_pixel_scan.positions)
    with pytest.raises(InputError, match="unknown blend"):
        check_blend("median", layout)
