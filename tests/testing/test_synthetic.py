"""The synthetic scan generator: exact ground truth, real-texture canvas, OpenFlexure files."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
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
from ofs_stitch.testing import canvas as canvas_module  # noqa: E402
from ofs_stitch.testing import optics, synthetic  # noqa: E402
from ofs_stitch.testing.synthetic import (  # noqa: E402
    GROUND_TRUTH_NAME,
    REAL_CSM_MATRIX,
    SyntheticScan,
    make_canvas,
    make_pair,
    make_scan,
    make_strip,
    make_tiles,
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
# The canvas


def test_canvas_is_deterministic_in_range_and_grey_is_luma_of_rgb() -> None:
    grey = make_canvas((600, 900), seed=3)
    again = make_canvas((600, 900), seed=3)
    rgb = make_canvas((600, 900), seed=3, rgb=True)
    other = make_canvas((600, 900), seed=4)
    assert grey.shape == (600, 900) and grey.dtype == np.float32
    assert rgb.shape == (600, 900, 3) and rgb.dtype == np.float32
    assert np.array_equal(grey, again)
    assert 0.0 <= grey.min() and grey.max() <= 1.0
    luma = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    assert np.abs(luma - grey).max() < 1e-5
    assert np.abs(grey - other).mean() > 0.1  # another seed, another scene
    assert grey.std() > 0.15  # real texture, not a flat field


def count_reused_content(canvas: canvas_module.TextureCanvas) -> int:
    """Pairs of patches cut from overlapping areas of one sheet (repeated content)."""
    by_sheet: dict[Any, list[canvas_module.Patch]] = {}
    for patch in canvas.patches:
        by_sheet.setdefault(patch.sheet, []).append(patch)
    reused = 0
    for patches in by_sheet.values():
        for p, q in itertools.combinations(patches, 2):
            rows = p.sheet_row < q.sheet_row + q.height and q.sheet_row < p.sheet_row + p.height
            cols = p.sheet_col < q.sheet_col + q.width and q.sheet_col < p.sheet_col + p.width
            reused += rows and cols
    return reused


def test_canvas_for_a_15x15_scan_is_fast_covers_it_and_never_repeats_content() -> None:
    shape = (5300, 7000)  # 15x15 tiles of 640x480 at 30 % overlap
    start = time.perf_counter()
    pixels = make_canvas(shape, seed=11)
    elapsed = time.perf_counter() - start
    canvas = canvas_module.texture_canvas(shape, 11)
    area = sum(p.height * p.width for p in canvas.patches)
    print(f"5300x7000 grey canvas: {elapsed:.2f} s, {len(canvas.patches)} patches")
    assert pixels.shape == shape
    assert area == shape[0] * shape[1]  # patches tile the canvas exactly
    assert len(canvas.patches) > 200
    assert count_reused_content(canvas) == 0
    # Many bundled photographs are used; every patch has texture; touching patches differ.
    assert len({p.sheet.source for p in canvas.patches}) >= 12
    patch_stds = [
        pixels[p.row : p.row + p.height : 4, p.col : p.col + p.width : 4].std()
        for p in canvas.patches
    ]
    assert min(patch_stds) >= 0.05 - 1e-4
    side_by_side = [(p, q) for p, q in zip(canvas.patches, canvas.patches[1:]) if p.row == q.row]
    assert len(side_by_side) > 150
    assert sum(p.sheet.source == q.sheet.source for p, q in side_by_side) == 0
    assert elapsed < 4.0  # about 1 s on an idle core (layout, photographs and pixels)


# ---------------------------------------------------------------------------------------------
# Sampling: exactness and band limit


def test_sampling_kernel_is_band_limited_and_flat_in_the_pass_band() -> None:
    step, margin = 1 / 32, optics.SAMPLING_MARGIN
    x = np.arange(-margin, margin + step, step)
    kernel = optics.lowpass_kernel(x)
    omega = np.linspace(0, 3 * np.pi, 1201)
    response = np.array([np.sum(kernel * np.cos(w * x)) * step for w in omega])
    assert np.abs(response[omega <= 0.75 * np.pi] - 1).max() < 1e-6
    assert np.abs(response[omega >= np.pi]).max() < 5e-7  # nothing at or above Nyquist
    # Unit gain whatever the sub-pixel offset: a flat scene stays flat.
    taps = np.arange(-optics.SAMPLING_MARGIN, optics.SAMPLING_MARGIN + 1)
    sums = [optics.lowpass_kernel(taps + t).sum() for t in np.linspace(0, 1, 17)]
    assert np.ptp(sums) < 1e-7 and abs(sums[0] - 1) < 1e-7


def test_fft_sampler_equals_the_direct_separable_sum() -> None:
    rng = np.random.default_rng(5)
    pad = optics.SAMPLING_MARGIN
    out_shape = (20, 30)
    rows, cols = out_shape[0] + 2 * pad, out_shape[1] + 2 * pad
    region = rng.random((rows, cols)).astype(np.float32)
    frac = (0.3125, 0.871)
    sampled = optics.sample_subpixel(region, frac, pad)

    # f(pad + frac + i) = sum_j region[j] L(pad + frac + i - j), separably.
    def weights(n_out: int, n_in: int, t: float) -> np.ndarray:
        i = np.arange(n_out)[:, None]
        j = np.arange(n_in)[None, :]
        return optics.lowpass_kernel(pad + t + i - j)

    direct = weights(out_shape[0], rows, frac[0]) @ region.astype(float)
    direct = direct @ weights(out_shape[1], cols, frac[1]).T
    assert sampled.shape == out_shape
    assert np.abs(sampled - direct).max() < 2e-5


def test_pair_with_integer_shift_is_an_exact_crop() -> None:
    a, b = make_pair((200, 240), (7.0, -5.0), seed=2)
    # b[y, x] == a[y + 7, x - 5]: the two tiles sample the same scene.
    assert np.abs(b[:-7, 5:] - a[7:, :-5]).max() < 2e-6


def passband_phase_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scikit-image's phase correlation on the spectra below 0.85 x Nyquist.

    The scene holds nothing above 0.9 x Nyquist; in those bins whitening would amplify only
    float rounding and the cut edges, so they are left out.
    """
    from skimage.registration import phase_cross_correlation

    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    fy = np.abs(np.fft.fftfreq(a.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(a.shape[1]))[None, :]
    keep = (fy < 0.425) & (fx < 0.425)
    shift = phase_cross_correlation(fa * keep, fb * keep, upsample_factor=100, space="fourier")[0]
    return np.asarray(shift)


# Whole-image phase correlation is biased toward zero when both images' cut edges hold nearly
# the same content (shifts under ~2 px: up to 0.05 px here); every shift here moves the edges
# by more than that. Sub-pixel shifts below 1 px are checked by least squares below.
SHIFTS = [(3.3, -7.7), (-12.25, 20.8), (25.61, 31.09), (-40.4, 2.93), (-5.55, 9.45)]


@pytest.mark.parametrize("shift", SHIFTS)
def test_subpixel_shift_is_recovered_by_phase_correlation(shift: tuple[float, float]) -> None:
    errors = [
        np.abs(passband_phase_correlation(*make_pair((384, 384), shift, seed=seed)) - shift).max()
        for seed in (7, 8)
    ]
    assert max(errors) <= 0.02


def test_subpixel_shift_is_recovered_by_least_squares_with_a_quintic_spline() -> None:
    """A second independent check: fit the shift with scipy's quintic spline interpolation."""
    from scipy import ndimage, optimize

    for k, shift in enumerate([(3.3, -7.7), (-0.45, 0.62), (11.87, 5.14)]):
        a, b = make_pair((200, 200), shift, seed=20 + k)
        coefficients = ndimage.spline_filter(a.astype(np.float64), order=5)
        border = 24
        yy, xx = np.mgrid[border : 200 - border, border : 200 - border].astype(float)
        target = b[border:-border, border:-border].astype(np.float64)

        def residual(d: np.ndarray) -> np.ndarray:
            moved = ndimage.map_coordinates(
                coefficients, [yy + d[0], xx + d[1]], order=5, prefilter=False
            )
            return (moved - target).ravel()

        start = np.round(shift) + 0.3  # a start that is off by a fraction of a pixel
        fitted = optimize.least_squares(residual, start, xtol=1e-8).x
        assert np.abs(fitted - np.array(shift)).max() < 0.01


def test_pair_dtypes_rgb_and_noise_level() -> None:
    clean_a, _ = make_pair((256, 256), (4.5, 2.25), seed=1)
    noisy_a, noisy_b = make_pair((256, 256), (4.5, 2.25), seed=1, noise_sigma=0.02)
    noise = (noisy_a - clean_a)[np.abs(clean_a - 0.5) < 0.4]  # away from clipping
    assert abs(noise.std() - 0.02) < 0.001
    a8, b8 = make_pair((64, 80), (1.5, 1.5), dtype=np.uint8)
    a16, _ = make_pair((64, 80), (1.5, 1.5), dtype=np.uint16)
    argb, _ = make_pair((64, 80), (1.5, 1.5), rgb=True)
    assert a8.dtype == np.uint8 and a8.shape == (64, 80) and b8.shape == (64, 80)
    assert a16.dtype == np.uint16 and len(np.unique(a16)) > 1000  # real 16-bit levels
    assert argb.shape == (64, 80, 3) and argb.dtype == np.float32
    float_a, _ = make_pair((64, 80), (1.5, 1.5))
    assert np.abs(a8 / 255.0 - float_a).max() <= 0.5 / 255 + 1e-6


def test_tiles_in_memory_share_one_scene_with_blur() -> None:
    positions = [(10.25, 20.5), (10.25 + 30.0, 20.5 - 12.0)]
    a, b = make_tiles(positions, (100, 120), blur_sigma=1.5, seed=4)
    sharp, _ = make_tiles(positions, (100, 120), seed=4)
    assert np.abs(b[:-30, 12:] - a[30:, :-12]).max() < 2e-6  # blur keeps tiles consistent
    # Blur removes fine detail: the mean gradient drops.
    assert np.abs(np.diff(a, axis=1)).mean() < 0.7 * np.abs(np.diff(sharp, axis=1)).mean()


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


def test_15x15_jpeg_scan_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    scan = make_scan(tmp_path, rows=15, cols=15, rgb=False)
    elapsed = time.perf_counter() - start
    print(f"15x15 grey JPEG scan of 640x480 tiles: {elapsed:.2f} s")
    assert len(list(tmp_path.glob("*.jpeg"))) == 225
    assert (tmp_path / GROUND_TRUTH_NAME).is_file()
    assert 20 < scan.rms_error(scan.stage_positions_px) < 35  # 19.2 px per axis * sqrt(2)
    assert elapsed < 10.0  # about 2 s on an idle core


def test_1x150_strip_of_640x480_tiles(tmp_path: Path) -> None:
    scan = make_strip(tmp_path, 150, rgb=False, stage_noise=0.0, position_jitter=0.0)
    assert len(scan.file_names) == 150 and np.all(scan.grid_index[:, 0] == 0)
    assert np.allclose(np.diff(scan.true_positions[:, 1]), 448.0)
    assert np.ptp(scan.true_positions[:, 0]) == 0.0
    width = scan.true_positions[:, 1].max() - scan.true_positions[:, 1].min() + 640
    assert width > 65_500  # the JPEG limit upstream stumbles on
    canvas, _ = synthetic._canvas_covering(scan.true_positions, (480, 640), 0)
    assert canvas.shape[1] > width and count_reused_content(canvas) == 0
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


def test_missing_scikit_image_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'ofs-stitch[test]'")):
        canvas_module._require_skimage_data()


def test_importing_the_module_loads_no_images_and_no_heavy_libraries() -> None:
    code = (
        "import sys; import ofs_stitch.testing.synthetic; "
        "print(sorted(m for m in ('skimage', 'scipy', 'pyvips', 'matplotlib') if m in sys.modules))"
    )
    # The installed package (with its compiled core), in a fresh interpreter.
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
