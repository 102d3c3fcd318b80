from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from ofs_stitch.errors import ImageReadError, InputError
from ofs_stitch.io.positions_file import write_tile_configuration
from ofs_stitch.stitching.inputs import InputOptions, load_scan
from ofs_stitch.testing.files import (
    REAL_CSM_MATRIX,
    legacy_v3_comment,
    v2_comment,
    v3_comment,
    write_image,
)

# A 2x2 scan in stage steps; with the real matrix (~3.4 steps/px, calibrated on 832-px-wide
# frames) and 64-px-wide tiles, 100 steps is about 2.3 px.
STAGE_XY = [(0, 0), (100, 0), (0, 100), (100, 100)]
M = np.array(REAL_CSM_MATRIX)


def expected_pixels(stage_xy: Any, matrix: np.ndarray) -> np.ndarray:
    return np.asarray(stage_xy, dtype=float) @ np.linalg.inv(matrix)


def date(second: int) -> str:
    return f"2024:03:01 12:00:{second:02d}"


def make_scan(folder: Path, comments: list[dict[str, Any]], **kwargs: Any) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [
        write_image(folder / f"tile_{i:02d}.jpg", comment=c, date_time=date(i), seed=i, **kwargs)
        for i, c in enumerate(comments)
    ]


@pytest.mark.parametrize(
    "layout",
    [
        lambda x, y: v3_comment(x, y, 7, REAL_CSM_MATRIX, [624, 832]),
        lambda x, y: legacy_v3_comment(x, y, 7, REAL_CSM_MATRIX, [624, 832]),
        lambda x, y: v2_comment(x, y, 7, REAL_CSM_MATRIX),
    ],
    ids=["v3", "legacy-v3", "v2"],
)
def test_all_metadata_layouts_give_the_same_pixel_positions(
    tmp_path: Path, layout: Callable[[float, float], dict[str, Any]]
) -> None:
    make_scan(tmp_path, [layout(x, y) for x, y in STAGE_XY])

    scan = load_scan(tmp_path)

    assert scan.position_source == "openflexure-metadata"
    used = M * 832 / 64
    np.testing.assert_allclose(scan.csm_matrix, used, rtol=1e-12)
    np.testing.assert_allclose(scan.stage_positions_px, expected_pixels(STAGE_XY, used), atol=1e-9)
    assert [t.stage_xyz for t in scan.tiles] == [(x, y, 7.0) for x, y in STAGE_XY]
    assert [t.shape for t in scan.tiles] == [(48, 64)] * 4
    assert scan.tiles[0].metadata == layout(0, 0)
    assert scan.skipped == []


def test_real_matrix_calibrated_at_640_on_1280_wide_tiles(tmp_path: Path) -> None:
    stage_xy = [(-2000, 5000), (1400, 5000)]
    make_scan(
        tmp_path,
        [v3_comment(x, y, -313, REAL_CSM_MATRIX, [480, 640]) for x, y in stage_xy],
        shape=(8, 1280),
    )

    scan = load_scan(tmp_path)

    np.testing.assert_allclose(scan.csm_matrix, M / 2, rtol=1e-12)
    # 3400 steps along x is ~1996 columns at 1280 px (half the steps per pixel of 640 px).
    step = scan.stage_positions_px[1] - scan.stage_positions_px[0]
    np.testing.assert_allclose(step, [-2.31241955, 1996.25375294], rtol=1e-8)


def test_csm_override_and_calibration_width_zero(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(x, y, 0, REAL_CSM_MATRIX, [480, 640]) for x, y in STAGE_XY])

    override = load_scan(tmp_path, InputOptions(csm_matrix="[[0, 2], [2, 0]]"))
    np.testing.assert_array_equal(override.csm_matrix, [[0, 2], [2, 0]])
    np.testing.assert_allclose(override.stage_positions_px, [[0, 0], [0, 50], [50, 0], [50, 50]])

    unscaled = load_scan(tmp_path, InputOptions(csm_calibration_width=0))
    np.testing.assert_array_equal(unscaled.csm_matrix, M)
    np.testing.assert_allclose(unscaled.stage_positions_px, expected_pixels(STAGE_XY, M))

    rescaled = load_scan(tmp_path, InputOptions(csm_calibration_width=128))
    np.testing.assert_allclose(rescaled.csm_matrix, 2 * M)


def test_malformed_csm_override_fails_before_reading_images(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(x, y) for x, y in STAGE_XY])
    with pytest.raises(InputError, match=r'--csm_matrix .*"\[\[a, b\], \[c, d\]\]"'):
        load_scan(tmp_path, InputOptions(csm_matrix="[[1, 2], [3]]"))


def test_singular_or_inconsistent_exif_matrix_is_an_input_error(tmp_path: Path) -> None:
    make_scan(
        tmp_path / "singular",
        [v3_comment(x, y, 0, [[1, 2], [2, 4]], [48, 64]) for x, y in STAGE_XY],
    )
    with pytest.raises(InputError, match="tile_00.jpg .* is singular.*--csm_matrix"):
        load_scan(tmp_path / "singular")

    comments = [v3_comment(x, y, 0, REAL_CSM_MATRIX, [48, 64]) for x, y in STAGE_XY]
    comments[2] = v3_comment(0, 100, 0, [[0, 1], [1, 0]], [48, 64])
    make_scan(tmp_path / "mixed", comments)
    with pytest.raises(InputError, match="tile_02.jpg has a different camera-stage calibration"):
        load_scan(tmp_path / "mixed")
    # --csm_matrix settles the disagreement.
    scan = load_scan(tmp_path / "mixed", InputOptions(csm_matrix="[[0, 1], [1, 0]]"))
    np.testing.assert_allclose(scan.stage_positions_px[2], [100, 0])


@pytest.mark.parametrize("without", [0, 3], ids=["first-image", "later-image"])
def test_an_image_without_the_others_matrix_is_named(tmp_path: Path, without: int) -> None:
    comments = [v3_comment(x, y, 0, REAL_CSM_MATRIX, [48, 64]) for x, y in STAGE_XY]
    comments[without] = v3_comment(*STAGE_XY[without])
    make_scan(tmp_path, comments)
    named = "tile_03.jpg" if without == 3 else "tile_01.jpg"
    with pytest.raises(InputError, match=f"{named} has a different camera-stage calibration"):
        load_scan(tmp_path)


def test_file_name_fallback_with_negative_numbers(tmp_path: Path) -> None:
    names = ["img_-100_50_-3.png", "img_0_50_-3.png", "img_-100_-10_-3.png"]
    for i, name in enumerate(names):
        write_image(tmp_path / name, seed=i)

    scan = load_scan(tmp_path)

    assert scan.position_source == "file-name"
    by_name = {t.name: t for t in scan.tiles}
    # Without a matrix the numbers are pixels: x is the column, y the row.
    assert by_name["img_-100_50_-3.png"].stage_position_px == (50.0, -100.0)
    assert by_name["img_-100_-10_-3.png"].stage_position_px == (-10.0, -100.0)
    assert by_name["img_0_50_-3.png"].stage_xyz == (0.0, 50.0)
    np.testing.assert_array_equal(scan.csm_matrix, [[0, 1], [1, 0]])

    scaled = load_scan(tmp_path, InputOptions(csm_matrix="[[0, 2], [2, 0]]"))
    assert {t.name: t for t in scaled.tiles}["img_-100_50_-3.png"].stage_position_px == (25, -50)


def test_grid_mode_uses_natural_name_order(tmp_path: Path) -> None:
    for i in range(1, 7):
        write_image(tmp_path / f"tile_p{i * 2}.png", seed=i)  # p2, p4, ..., p12

    scan = load_scan(tmp_path, InputOptions(grid="2x3", overlap=0.25, order="snake"))

    assert scan.position_source == "grid"
    assert [t.name for t in scan.tiles] == [f"tile_p{i * 2}.png" for i in range(1, 7)]
    np.testing.assert_allclose(
        scan.stage_positions_px, [[0, 0], [0, 48], [0, 96], [36, 96], [36, 48], [36, 0]]
    )
    assert scan.csm_matrix is None

    default_overlap = load_scan(tmp_path, InputOptions(grid="3x2"))
    np.testing.assert_allclose(default_overlap.stage_positions_px[1], [0, 64 * 0.9])

    with pytest.raises(InputError, match="--grid 2x2 needs 4 images but the folder has 6"):
        load_scan(tmp_path, InputOptions(grid="2x2"))
    with pytest.raises(InputError, match="--grid '2 by 3'"):
        load_scan(tmp_path, InputOptions(grid="2 by 3"))


def test_positions_file_gives_positions_and_must_match_the_folder(tmp_path: Path) -> None:
    scan_dir = tmp_path / "scan"
    scan_dir.mkdir()
    names = ["a.png", "b.png", "stage_c.png"]  # listed explicitly, so "stage" is no obstacle
    for i, name in enumerate(names):
        write_image(scan_dir / name, seed=i)
    config = tmp_path / "TileConfiguration.txt"
    write_tile_configuration(config, names, np.array([[0, 0], [1.5, 60], [40, -2]]))

    scan = load_scan(scan_dir, InputOptions(positions_file=config))

    assert scan.position_source == "positions-file"
    assert [t.name for t in scan.tiles] == names
    np.testing.assert_allclose(scan.stage_positions_px, [[0, 0], [1.5, 60], [40, -2]])
    assert scan.skipped == []

    write_image(scan_dir / "extra.png", seed=9)
    with pytest.raises(
        InputError, match="scan has images that .*TileConfiguration.txt does not list: extra.png"
    ):
        load_scan(scan_dir, InputOptions(positions_file=config))
    (scan_dir / "extra.png").unlink()

    (scan_dir / "b.png").unlink()
    with pytest.raises(
        InputError, match="TileConfiguration.txt lists files that are not in .*scan: b.png"
    ):
        load_scan(scan_dir, InputOptions(positions_file=config))


def test_csv_positions_file(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / f"t{i}.jpg", seed=i)
    csv = tmp_path / "positions.csv"
    csv.write_text("file,x,y\nt2.jpg,0,0\nt0.jpg,50,0\nt1.jpg,100,10\n")

    scan = load_scan(tmp_path, InputOptions(positions_file=csv, image_count=2))

    assert [t.name for t in scan.tiles] == ["t2.jpg", "t0.jpg"]  # the file's order
    np.testing.assert_allclose(scan.stage_positions_px, [[0, 0], [0, 50]])
    assert scan.skipped == [(tmp_path / "t1.jpg", "beyond --image_count 2")]


def test_order_by_exif_date_time_else_by_mtime(tmp_path: Path) -> None:
    # Names, capture times and file times in three different orders.
    seconds = {"img_0_0.jpg": 30, "img_50_0.jpg": 10, "img_0_50.jpg": 20}
    mtimes = {"img_0_0.jpg": 1_000, "img_50_0.jpg": 3_000, "img_0_50.jpg": 2_000}
    for name, second in seconds.items():
        write_image(tmp_path / name, date_time=date(second))
        os.utime(tmp_path / name, (mtimes[name], mtimes[name]))

    by_date = load_scan(tmp_path)
    assert [t.name for t in by_date.tiles] == ["img_50_0.jpg", "img_0_50.jpg", "img_0_0.jpg"]

    write_image(tmp_path / "img_50_50.jpg")  # no DateTime: fall back to file times for all
    os.utime(tmp_path / "img_50_50.jpg", (1_500, 1_500))
    by_mtime = load_scan(tmp_path)
    assert [t.name for t in by_mtime.tiles] == [
        "img_0_0.jpg",
        "img_50_50.jpg",
        "img_0_50.jpg",
        "img_50_0.jpg",
    ]

    first_two = load_scan(tmp_path, InputOptions(image_count=2))
    assert [t.name for t in first_two.tiles] == ["img_0_0.jpg", "img_50_50.jpg"]
    assert [p.name for p, _ in first_two.skipped] == ["img_0_50.jpg", "img_50_0.jpg"]


def test_tiff_date_time_is_read(tmp_path: Path) -> None:
    from datetime import datetime

    for i, (name, minute) in enumerate([("a_0_0.tif", 5), ("b_10_0.tif", 1)]):
        tifffile.imwrite(
            tmp_path / name,
            np.full((16, 16), i, np.uint16),
            datetime=datetime(2024, 1, 1, 0, minute, 0),
        )
    assert [t.name for t in load_scan(tmp_path).tiles] == ["b_10_0.tif", "a_0_0.tif"]


def test_z_stack_keeps_the_largest_file_and_reports_the_others(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(0, 0, 0), v3_comment(100, 0, 0)])
    # Three focus planes at stage (0, 100); the noisiest JPEG is the largest.
    for i, noise in enumerate([0.0, 1.0, 0.3]):
        write_image(
            tmp_path / f"z_{i}.jpg",
            comment=v3_comment(0.2, 100, i * 50),
            date_time=date(10 + i),
            noise=noise,
        )
    sizes = {p.name: p.stat().st_size for p in tmp_path.glob("z_*.jpg")}
    assert max(sizes, key=sizes.__getitem__) == "z_1.jpg"

    scan = load_scan(tmp_path)

    assert [t.name for t in scan.tiles] == ["tile_00.jpg", "tile_01.jpg", "z_1.jpg"]
    assert scan.tiles[2].stage_xyz == (0.2, 100.0, 50.0)
    reason = "same stage position as z_1.jpg (z-stack); kept the largest"
    assert scan.skipped == [(tmp_path / "z_0.jpg", reason), (tmp_path / "z_2.jpg", reason)]


def test_skipped_earlier_outputs_are_reported(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(x, y) for x, y in STAGE_XY[:2]])
    write_image(tmp_path / "scan_stitched.jpg", shape=(100, 100))
    (tmp_path / "notes.txt").write_text("not an image")

    scan = load_scan(tmp_path)

    assert len(scan.tiles) == 2
    assert scan.skipped == [
        (tmp_path / "scan_stitched.jpg", "name contains 'stitched': looks like an earlier output")
    ]


def test_pixel_size_from_metadata_or_option(tmp_path: Path) -> None:
    make_scan(tmp_path, [v2_comment(x, y, 0, REAL_CSM_MATRIX, um_per_px=0.25) for x, y in STAGE_XY])
    assert load_scan(tmp_path).pixel_size_um == pytest.approx(0.25)
    assert load_scan(tmp_path, InputOptions(pixel_size_um=0.5)).pixel_size_um == 0.5


def test_exif_on_only_some_images_names_the_first_without(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(0, 0), {"note": "no stage"}, v3_comment(0, 100)])
    with pytest.raises(
        InputError,
        match="tile_01.jpg has no stage position in its EXIF metadata but tile_00.jpg does",
    ):
        load_scan(tmp_path)


def test_no_positions_at_all(tmp_path: Path) -> None:
    write_image(tmp_path / "img_1_2.jpg")
    write_image(tmp_path / "overview.jpg")
    with pytest.raises(InputError) as caught:
        load_scan(tmp_path)
    assert str(caught.value) == (
        f"no positions for {tmp_path / 'overview.jpg'}: give --positions FILE or --grid RxC"
    )


def test_mixed_tile_sizes_name_the_odd_file(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(x, y) for x, y in STAGE_XY[:3]])
    write_image(tmp_path / "tile_99.jpg", shape=(48, 60), comment=v3_comment(5, 5))
    with pytest.raises(
        InputError, match="tile_99.jpg is 60x48 pixels but the other images are 64x48"
    ):
        load_scan(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"this is not a jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00truncated"]
)
def test_unreadable_image_names_the_file(tmp_path: Path, content: bytes) -> None:
    make_scan(tmp_path, [v3_comment(x, y) for x, y in STAGE_XY[:2]])
    (tmp_path / "broken.jpg").write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        load_scan(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"cannot read {tmp_path / 'broken.jpg'}: ")
    assert message.endswith("remove it from the folder or replace it")
    assert "\n" not in message


def test_option_errors_name_the_option(tmp_path: Path) -> None:
    make_scan(tmp_path, [v3_comment(x, y) for x, y in STAGE_XY])
    with pytest.raises(InputError, match="--image_count 1"):
        load_scan(tmp_path, InputOptions(image_count=1))
    with pytest.raises(InputError, match="--positions and --grid"):
        load_scan(tmp_path, InputOptions(grid="2x2", positions_file=tmp_path / "p.txt"))
    with pytest.raises(InputError, match="--order 'zigzag'"):
        load_scan(tmp_path, InputOptions(grid="2x2", order="zigzag"))
    with pytest.raises(InputError, match="--csm_calibration_width -5"):
        load_scan(tmp_path, InputOptions(csm_calibration_width=-5))
    with pytest.raises(InputError, match="does not exist"):
        load_scan(tmp_path / "nowhere")


def test_unusable_exif_pieces_are_named(tmp_path: Path) -> None:
    comments = [v3_comment(x, y, 0, REAL_CSM_MATRIX, [48, 64]) for x, y in STAGE_XY]
    comments[1]["camera_stage_mapping"]["image_to_stage_displacement_matrix"] = [[1, 2]]
    make_scan(tmp_path / "matrix", comments)
    with pytest.raises(InputError) as caught:
        load_scan(tmp_path / "matrix")
    assert str(caught.value) == (
        f"{tmp_path / 'matrix' / 'tile_01.jpg'}: unusable camera-stage calibration in its EXIF "
        "metadata (camera_stage_mapping.image_to_stage_displacement_matrix is not a 2x2 matrix "
        'of numbers); give --csm_matrix "[[a, b], [c, d]]"'
    )
    # An override makes the broken matrix irrelevant.
    scan = load_scan(tmp_path / "matrix", InputOptions(csm_matrix="[[0, 1], [1, 0]]"))
    assert len(scan.tiles) == 4

    comments = [v3_comment(x, y) for x, y in STAGE_XY]
    comments[3]["stage"]["position"] = {"x": None, "y": 3}
    make_scan(tmp_path / "position", comments)
    with pytest.raises(
        InputError,
        match=r"tile_03.jpg has no stage position in its EXIF metadata "
        r"\(stage.position is not \{x: number, y: number\}\)",
    ):
        load_scan(tmp_path / "position")
