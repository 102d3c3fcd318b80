"""Scans on disk: OpenFlexure files, exact ground truth, a noisy stage, blank areas, strips."""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("skimage")
pyvips = pytest.importorskip("pyvips")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.io.exif import parse_exif_block  # noqa: E402
from ofs_stitch.testing.camera import canvas_covering  # noqa: E402
from ofs_stitch.testing.files import REAL_CSM_MATRIX  # noqa: E402
from ofs_stitch.testing.scans import (  # noqa: E402
    GROUND_TRUTH_NAME,
    SyntheticScan,
    gauge_aligned_errors,
    make_scan,
    make_strip,
)

SMALL = (96, 128)  # tile shape for tests that only look at files and metadata


def read_pixels(path: Path) -> np.ndarray:
    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def read_comment(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    image = pyvips.Image.new_from_file(str(path))
    if not image.get_typeof("exif-data"):
        return None, None
    info = parse_exif_block(image.get("exif-data"))
    return info.user_comment_json(), info.date_time


def positions_from_metadata(comment: dict[str, Any], tile_width: int) -> np.ndarray:
    """Stage position in px by the rules of REFERENCE section 1 (first hit wins)."""
    if "stage" in comment:
        stage, mapping = comment["stage"], comment["camera_stage_mapping"]
        matrix = np.array(mapping["image_to_stage_displacement_matrix"])
        calibration_width = mapping["image_resolution"][1]
    elif "/stage/" in comment:
        stage, mapping = comment["/stage/"], comment["/camera_stage_mapping/"]
        matrix = np.array(mapping["image_to_stage_displacement_matrix"])
        calibration_width = mapping["image_resolution"][1]
    else:
        instrument = comment["instrument"]
        stage = instrument["state"]["stage"]
        extension = instrument["settings"]["extensions"]["org.openflexure.camera_stage_mapping"]
        matrix = np.array(extension["image_to_stage_displacement"])
        calibration_width = 832
    used = matrix * calibration_width / tile_width
    xy = np.array([stage["position"]["x"], stage["position"]["y"]], dtype=float)
    return np.asarray(xy @ np.linalg.inv(used))


# ---------------------------------------------------------------------------------------------
# Scans on disk


@pytest.mark.parametrize(
    ("file_format", "bit_depth", "rgb"),
    [("jpeg", 8, True), ("png", 16, False), ("tiff", 16, True), ("png", 8, False)],
)
def test_scan_files_have_the_requested_format_shape_and_depth(
    tmp_path: Path, file_format: str, bit_depth: int, rgb: bool
) -> None:
    scan = make_scan(
        tmp_path,
        rows=2,
        cols=3,
        tile_shape=SMALL,
        file_format=file_format,
        bit_depth=bit_depth,
        rgb=rgb,
    )
    assert len(scan.file_names) == 6
    extension = {"jpeg": ".jpeg", "png": ".png", "tiff": ".tiff"}[file_format]
    for path in scan.paths:
        pixels = read_pixels(path)
        assert path.suffix == extension
        assert pixels.dtype == (np.uint16 if bit_depth == 16 else np.uint8)
        assert pixels.shape == (SMALL + (3,) if rgb else SMALL)
        if bit_depth == 16:
            assert pixels.max() > 255  # the full 16-bit range is used, not 8-bit values
    assert scan.true_positions.shape == (6, 2) and scan.stage_xyz.shape == (6, 3)


def test_scan_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    options = dict(rows=2, cols=2, tile_shape=SMALL, file_format="png", noise_sigma=0.01)
    first = make_scan(tmp_path / "a", seed=5, **options)
    second = make_scan(tmp_path / "b", seed=5, **options)
    third = make_scan(tmp_path / "c", seed=6, **options)
    assert first.file_names == second.file_names
    assert np.array_equal(first.true_positions, second.true_positions)
    assert np.array_equal(first.stage_xyz, second.stage_xyz)
    for p, q in zip(first.paths, second.paths):
        assert np.array_equal(read_pixels(p), read_pixels(q))
    assert not np.array_equal(first.stage_xyz, third.stage_xyz)
    differences = [
        np.abs(read_pixels(p) / 255 - read_pixels(q) / 255).mean()
        for p, q in zip(first.paths, third.paths)
    ]
    assert min(differences) > 0.05


@pytest.mark.parametrize("layout", ["v3", "legacy-v3", "v2"])
@pytest.mark.parametrize("file_format", ["jpeg", "png"])
def test_metadata_round_trip_recovers_stage_positions(
    tmp_path: Path, layout: str, file_format: str
) -> None:
    scan = make_scan(
        tmp_path,
        rows=2,
        cols=3,
        tile_shape=SMALL,
        metadata_layout=layout,
        file_format=file_format,
        um_per_px=0.25,
    )
    times = []
    for path, xyz, expected in zip(scan.paths, scan.stage_xyz, scan.stage_positions_px):
        comment, date_time = read_comment(path)
        assert comment is not None and date_time is not None
        position = {
            "v3": lambda c: c["stage"]["position"],
            "legacy-v3": lambda c: c["/stage/"]["position"],
            "v2": lambda c: c["instrument"]["state"]["stage"]["position"],
        }[layout](comment)
        assert (position["x"], position["y"], position["z"]) == tuple(int(v) for v in xyz)
        if layout == "v2":
            extensions = comment["instrument"]["settings"]["extensions"]
            assert extensions["usafcal"]["um_per_px"] == 0.25
        else:
            key = "camera_stage_mapping" if layout == "v3" else "/camera_stage_mapping/"
            assert comment[key]["image_resolution"] == list(SMALL)
            assert comment[key]["image_to_stage_displacement_matrix"] == [
                list(row) for row in REAL_CSM_MATRIX
            ]
        recovered = positions_from_metadata(comment, SMALL[1])
        assert np.abs(recovered - expected).max() < 1e-6
        times.append(datetime.strptime(date_time, "%Y:%m:%d %H:%M:%S"))
        assert re.fullmatch(r"img_-?\d+_-?\d+_-?\d+\.(jpeg|png)", path.name)
    assert all(later > earlier for earlier, later in zip(times, times[1:]))  # capture order
    mtimes = [path.stat().st_mtime for path in scan.paths]
    assert all(later > earlier for earlier, later in zip(mtimes, mtimes[1:]))


def test_layout_none_and_tiff_carry_positions_in_file_names_only(tmp_path: Path) -> None:
    jpeg = make_scan(tmp_path / "none", rows=1, cols=3, tile_shape=SMALL, metadata_layout="none")
    tiff = make_scan(tmp_path / "tiff", rows=1, cols=3, tile_shape=SMALL, file_format="tiff")
    for scan in (jpeg, tiff):
        for path, xyz, expected in zip(scan.paths, scan.stage_xyz, scan.stage_positions_px):
            comment, _ = read_comment(path)
            assert comment is None
            # The file-name fallback of REFERENCE section 1.
            match = re.search(r"(-?\d+)(?:_-?\d+)+$", path.stem)
            assert match is not None
            x, y = (int(v) for v in match.group(0).split("_")[:2])
            assert (x, y) == (int(xyz[0]), int(xyz[1]))
            xy = np.array([x, y], dtype=float)
            assert np.abs(xy @ np.linalg.inv(scan.csm_matrix) - expected).max() < 1e-6


def test_stage_noise_is_the_requested_fraction_of_the_tile_width(tmp_path: Path) -> None:
    scan = make_scan(
        tmp_path,
        rows=15,
        cols=15,
        rgb=False,
        tile_shape=(48, 64),
        stage_noise=0.05,
        position_jitter=0.5,
    )
    error = scan.stage_positions_px - scan.true_positions
    # sigma = 0.05 * 64 = 3.2 px per axis, plus up to 0.15 px from whole motor steps.
    assert np.all(np.abs(error.std(axis=0) - 3.2) < 0.45)
    nominal = scan.grid_index * np.array([48 * 0.7, 64 * 0.7])
    spread = np.ptp(scan.true_positions - nominal, axis=0)
    assert np.all(spread <= 1.0 + 1e-9) and np.all(spread > 0.9)  # uniform jitter of +-0.5 px


def test_tiles_are_distinct_and_only_neighbours_correlate(tmp_path: Path) -> None:
    """No two tiles see the same content: only truly overlapping tiles give a correlation peak."""
    scan = make_scan(tmp_path, rows=4, cols=4, rgb=False, file_format="png", stage_noise=0.0)
    tiles = [read_pixels(p).astype(np.float32) / 255 for p in scan.paths]
    spectra = [np.fft.rfft2(t - t.mean()) for t in tiles]
    neighbour_misses, unrelated_peaks, differences = [], [], []
    shape = np.array(tiles[0].shape)
    for i, j in itertools.combinations(range(len(tiles)), 2):
        cross = spectra[i] * np.conj(spectra[j])
        surface = np.fft.irfft2(cross / (np.abs(cross) + 1e-12), s=tiles[i].shape)
        offset = scan.true_positions[j] - scan.true_positions[i]
        differences.append(np.abs(tiles[i] - tiles[j]).mean())
        if abs(offset[0]) < 480 * 0.5 and abs(offset[1]) < 640:  # same row, side by side
            # Positive control: the highest peak is at the true offset.
            peak = np.array(np.unravel_index(surface.argmax(), surface.shape))
            miss = (peak - offset + shape / 2) % shape - shape / 2
            neighbour_misses.append(np.abs(miss).max())
        elif abs(offset[0]) >= 480 or abs(offset[1]) >= 640:  # no overlap at all
            # Peaks on the axes come from the cut edges of both tiles, not from content.
            surface[[0, 1, -1], :] = 0
            surface[:, [0, 1, -1]] = 0
            unrelated_peaks.append(surface.max())
    assert min(differences) > 0.1
    assert len(neighbour_misses) == 12 and max(neighbour_misses) <= 1.0
    # Repeated content would give unrelated tiles a peak like the neighbours' (0.03-0.3).
    assert max(unrelated_peaks) < 0.025  # the noise floor of whitened 480x640 surfaces


@pytest.mark.parametrize("rgb", [False, True])
def test_blank_fraction_makes_whole_tiles_blank(tmp_path: Path, rgb: bool) -> None:
    options = dict(
        rows=2,
        cols=6,
        tile_shape=(96, 128),
        blank_fraction=0.5,
        rgb=rgb,
        file_format="png",
        bit_depth=16,
        stage_noise=0.0,
    )
    scan = make_scan(tmp_path / "noisy", **options)
    quiet = make_scan(tmp_path / "quiet", blank_noise_sigma=0.0, **options)
    tiles = [read_pixels(p) / 65535 for p in scan.paths]
    stds = np.array([t.std() for t in tiles])
    means = np.array([t.mean() for t in tiles])
    assert scan.blank_tiles.sum() == 4  # the two right-hand columns
    assert np.all(scan.grid_index[scan.blank_tiles, 1] >= 4)
    assert np.all(np.abs(stds[scan.blank_tiles] - 0.02) < 0.002)  # camera noise only
    assert np.all(np.abs(means[scan.blank_tiles] - 0.8) < 0.002)
    textured = scan.grid_index[:, 1] <= 1
    assert np.all(stds[textured] > 0.05)  # at least 2.5x the blank tiles
    # The camera noise lies exactly over the blank area, also in tiles that straddle its edge.
    blank_from = scan.settings["blank_from_col"]
    for tile, path, position in zip(tiles, quiet.paths, scan.true_positions):
        noise = tile - read_pixels(path) / 65535
        first_blank = int(np.ceil(blank_from - position[1]))
        if first_blank > 0:
            assert np.abs(noise[:, : min(first_blank, 128)]).max() < 1e-9
        if first_blank < 120:
            assert abs(noise[:, max(first_blank, 0) :].std() - 0.02) < 0.003


def test_vignetting_darkens_the_corners_by_the_requested_fraction(tmp_path: Path) -> None:
    scan = make_scan(
        tmp_path,
        rows=1,
        cols=8,
        tile_shape=(96, 128),
        blank_fraction=0.6,
        vignetting=0.3,
        rgb=False,
        file_format="png",
        blank_noise_sigma=0.0,
    )
    blank = read_pixels(scan.paths[int(np.flatnonzero(scan.blank_tiles)[-1])]) / 255
    assert abs(blank[0, 0] / blank[48, 64] - 0.7) < 0.01
    assert abs(blank[48, 64] - 0.8) < 0.005


def test_15x15_grey_jpeg_scan(tmp_path: Path) -> None:
    start = time.perf_counter()
    scan = make_scan(tmp_path, rows=15, cols=15, rgb=False)
    elapsed = time.perf_counter() - start
    print(f"15x15 grey JPEG scan of 640x480 tiles: {elapsed:.2f} s")
    assert len(list(tmp_path.glob("*.jpeg"))) == 225
    assert (tmp_path / GROUND_TRUTH_NAME).is_file()
    assert 20 < scan.rms_error(scan.stage_positions_px) < 35  # 19.2 px per axis * sqrt(2)


def test_1x150_strip_of_640x480_tiles(tmp_path: Path) -> None:
    scan = make_strip(tmp_path, 150, rgb=False, stage_noise=0.0, position_jitter=0.0)
    assert len(scan.file_names) == 150 and np.all(scan.grid_index[:, 0] == 0)
    assert np.allclose(np.diff(scan.true_positions[:, 1]), 448.0)
    assert np.ptp(scan.true_positions[:, 0]) == 0.0
    width = scan.true_positions[:, 1].max() - scan.true_positions[:, 1].min() + 640
    assert width > 65_500  # the JPEG limit upstream stumbles on
    canvas, _ = canvas_covering(scan.true_positions, (480, 640), 0)
    assert canvas.shape[1] > width and canvas.reused_content() == 0
    first, last = read_pixels(scan.paths[0]), read_pixels(scan.paths[-1])
    assert first.shape == last.shape == (480, 640)


# ---------------------------------------------------------------------------------------------
# Ground truth and errors


def test_ground_truth_round_trip_and_rms_error(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, rows=2, cols=3, tile_shape=SMALL, blank_fraction=0.3)
    loaded = SyntheticScan.load_ground_truth(tmp_path)
    assert loaded.file_names == scan.file_names
    for name in (
        "true_positions",
        "stage_positions_px",
        "stage_xyz",
        "csm_matrix",
        "grid_index",
        "blank_tiles",
    ):
        assert np.array_equal(getattr(loaded, name), getattr(scan, name)), name
    assert loaded.tile_shape == SMALL and loaded.folder == tmp_path
    assert loaded.settings["blank_fraction"] == 0.3
    # Positions are defined up to a translation.
    assert scan.rms_error(scan.true_positions + (12.5, -3.0)) < 1e-12
    moved = scan.true_positions.copy()
    moved[0] += (3.0, 4.0)  # one tile off by 5 px: after removing the mean offset...
    errors = scan.position_errors(moved)
    expected_first = np.hypot(3.0 * 5 / 6, 4.0 * 5 / 6)
    assert abs(errors[0] - expected_first) < 1e-12
    assert abs(scan.rms_error(moved) - np.sqrt(np.mean(errors**2))) < 1e-12
    mask = np.arange(6) != 0
    assert scan.rms_error(moved, mask=mask) < 1e-12  # the bad tile left out
    with pytest.raises(InputError, match="positions"):
        scan.rms_error(moved[:3])


def test_gauge_is_fixed_on_the_reference_tiles_and_every_tile_is_scored() -> None:
    truth = np.array([[0.0, 0.0], [0.0, 100.0], [70.0, 0.0]])
    positions = truth + [[5.0, 5.0], [5.0, 5.0], [8.0, 9.0]]  # the third tile is 5 px off
    errors = gauge_aligned_errors(positions, truth, [True, True, False])
    np.testing.assert_allclose(errors, [0.0, 0.0, 5.0], atol=1e-12)


def test_bad_options_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="JPEG is 8-bit"):
        make_scan(tmp_path, rows=2, cols=2, bit_depth=16)
    with pytest.raises(InputError, match="metadata_layout"):
        make_scan(tmp_path, rows=2, cols=2, metadata_layout="v4")
    with pytest.raises(InputError, match="at least 2 tiles"):
        make_scan(tmp_path, rows=1, cols=1)
    with pytest.raises(InputError, match="name_pattern"):
        make_scan(tmp_path, rows=2, cols=2, tile_shape=SMALL, name_pattern="tile")
    assert not list(tmp_path.glob("*.jpeg"))  # nothing written before the checks
