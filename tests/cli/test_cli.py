"""End-to-end tests of the ``ofs-stitch FOLDER`` command line: outputs, modes, options, the
correlation cache, manual thresholds and bad input.

Most runs call ``ofs_stitch.cli.stitch.main`` in this process (fast, and lets a test count pair
measurements); a few start real processes to prove there is no traceback, the exit status is 2
and nothing waits for the keyboard. Scans are 3x3 tiles of 320x240 generated once per module and
copied for each test that needs its own folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import pyvips
from e2e_support import (
    CACHE_NAME,
    OFM_HEADER,
    OFM_NAME,
    OFM_TILE_LINE,
    POSITIONS_JSON,
    CliRun,
    entry_point_command,
    file_digests,
    listing,
    positions_in_order,
    read_ofm_positions,
    run_cli,
    run_process,
)
from report_page import parse_report

import ofs_stitch.stitching.measure
from ofs_stitch.io.exif import exif_block, insert_exif_into_jpeg, parse_exif_block
from ofs_stitch.stitching.options import build_parser
from ofs_stitch.stitching.report_html import REPORT_NAME
from ofs_stitch.stitching.thresholds import REJECTION_REASONS
from ofs_stitch.testing.scans import SyntheticScan, make_scan

TILE_SHAPE = (240, 320)
SCAN_NAME = "sample_scan"
# 3x3 tiles at 30 % overlap: 6 horizontal + 6 vertical neighbours; diagonal neighbours overlap
# by 9 % of a tile, below the default --minimum_overlap of 0.2.
PAIR_COUNT = 12
CLEAN_RMS_PX = 0.15
PREVIEW_WIDTH = 1000
THUMBNAIL_BOX = 400
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STITCHED_NOTES = "Stitched by OpenFlexure Stitching"
# Exactly the files each --stitching_mode writes into an empty output folder (prefix: the
# input folder's name).
MODE_OUTPUTS = {
    "all": {
        OFM_NAME,
        POSITIONS_JSON,
        "preview.jpg",
        "stitched_thumbnail.jpg",
        f"{SCAN_NAME}_stitched.jpg",
        "stitching_correlations.png",
        "stitching_inputs.png",
        REPORT_NAME,
        CACHE_NAME,
    },
    "preview_stitch": {
        OFM_NAME,
        POSITIONS_JSON,
        "preview.jpg",
        "stitched_thumbnail.jpg",
        "stitching_correlations.png",
        "stitching_inputs.png",
        REPORT_NAME,
        CACHE_NAME,
    },
    "stage_stitch": {"stitched_from_stage.jpg"},
    "only_correlate": {CACHE_NAME},
}


# ------------------------------------------------------------------------------------------------
# Scans


@pytest.fixture(scope="module")
def base_scan(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScan:
    """A 3x3 v3 scan, never run on directly: tests work on copies (see ``copy_scan``)."""
    folder = tmp_path_factory.mktemp("base") / SCAN_NAME
    return make_scan(folder, rows=3, cols=3, tile_shape=TILE_SHAPE, seed=2)


def copy_scan(
    scan: SyntheticScan, destination: Path, *, leave_out: tuple[str, ...] = ()
) -> SyntheticScan:
    """The scan copied to ``destination`` (times kept), optionally without some tiles."""
    destination.mkdir(parents=True)
    for path in scan.folder.iterdir():
        if path.name not in leave_out:
            shutil.copy2(path, destination / path.name)
    return SyntheticScan.load_ground_truth(destination)


def stitched_comment(path: Path) -> dict | None:
    """The UserComment JSON of an image file, through ofs_stitch.io.exif."""
    image = pyvips.Image.new_from_file(str(path))
    if image.get_typeof("exif-data") == 0:
        return None
    return parse_exif_block(image.get("exif-data")).user_comment_json()


def pairs_involving(positions_json: Path, name: str) -> int:
    document = json.loads(positions_json.read_text())
    return sum(name in (p["name_i"], p["name_j"]) for p in document["pairs"])


# ------------------------------------------------------------------------------------------------
# One full run and its outputs


@dataclass
class FullRun:
    scan: SyntheticScan
    output: Path
    run: CliRun
    input_digests_before: dict[str, str]
    input_digests_after: dict[str, str]
    document: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def full_run(base_scan: SyntheticScan, tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    """``ofs-stitch COPY -o OUT`` once; COPY also holds an earlier output and a text file."""
    root = tmp_path_factory.mktemp("full")
    scan = copy_scan(base_scan, root / SCAN_NAME)
    shutil.copy2(scan.paths[0], scan.folder / "previous_stitched.jpg")
    (scan.folder / "notes.txt").write_text("not an image\n")
    before = file_digests(scan.folder)
    output = root / "out"
    run = run_cli([scan.folder, "-o", output])
    after = file_digests(scan.folder)
    document = json.loads((output / POSITIONS_JSON).read_text()) if run.status == 0 else {}
    return FullRun(scan, output, run, before, after, document)


def test_full_run_succeeds_and_reports_skipped_files(full_run: FullRun) -> None:
    assert full_run.run.status == 0, full_run.run.stderr
    assert "Traceback" not in full_run.run.stderr
    skipped = [line for line in full_run.run.stdout.splitlines() if "previous_stitched.jpg" in line]
    assert len(skipped) == 1 and "skip" in skipped[0].lower()
    assert "previous_stitched.jpg" not in read_ofm_positions(full_run.output)


def test_a_rerun_into_the_input_folder_sums_up_its_own_outputs_in_one_line(
    base_scan: SyntheticScan, tmp_path: Path
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    mode = ["--stitching_mode", "preview_stitch"]
    assert run_cli([scan.folder, *mode]).status == 0
    rerun = run_cli([scan.folder, *mode])
    assert rerun.status == 0, rerun.stderr
    skipped = [line for line in rerun.stdout.splitlines() if line.startswith("skipped")]
    images = sorted(n for n in MODE_OUTPUTS["preview_stitch"] if n.endswith((".jpg", ".png")))
    assert len(images) >= 3
    assert len(skipped) == 1, rerun.stdout
    assert skipped[0].startswith(f"skipped {len(images)} earlier outputs: ")
    assert all(name in skipped[0] for name in images)


def test_full_run_never_touches_its_input(full_run: FullRun) -> None:
    assert full_run.input_digests_after == full_run.input_digests_before
    assert listing(full_run.output) == MODE_OUTPUTS["all"]


def test_ofm_tile_configuration_format(full_run: FullRun) -> None:
    lines = (full_run.output / OFM_NAME).read_text(encoding="utf-8").splitlines()
    assert lines[: len(OFM_HEADER)] == OFM_HEADER
    tile_lines = lines[len(OFM_HEADER) :]
    assert len(tile_lines) == len(full_run.scan.file_names)
    assert all(OFM_TILE_LINE.match(line) for line in tile_lines), tile_lines
    positions = positions_in_order(full_run.output, full_run.scan.file_names)
    # Mean-zero, as upstream's solver leaves them.
    assert np.abs(positions.mean(axis=0)).max() < 1e-6
    assert full_run.scan.rms_error(positions) < CLEAN_RMS_PX


def test_positions_json_tiles(full_run: FullRun) -> None:
    document, scan = full_run.document, full_run.scan
    tiles = {t["name"]: t for t in document["tiles"]}
    assert sorted(tiles) == sorted(scan.file_names)
    from_json = np.array(
        [[tiles[n]["position_px"]["row"], tiles[n]["position_px"]["col"]] for n in scan.file_names]
    )
    assert all(tiles[n]["position_px"]["x"] == tiles[n]["position_px"]["col"] for n in tiles)
    from_ofm = positions_in_order(full_run.output, scan.file_names)
    # Same layout as the OFM file, up to the OFM file's mean-zero shift.
    np.testing.assert_allclose(from_json - from_json.mean(axis=0), from_ofm, atol=1e-6)
    accepted_per_tile = {n: 0 for n in scan.file_names}
    for pair in document["pairs"]:
        if pair["accepted"]:
            accepted_per_tile[pair["name_i"]] += 1
            accepted_per_tile[pair["name_j"]] += 1
    for name, tile in tiles.items():
        assert tile["accepted_pairs"] == accepted_per_tile[name] >= 1
        assert 0.0 <= tile["residual_rms_px"] < 0.5


def test_positions_json_pairs(full_run: FullRun) -> None:
    document, scan = full_run.document, full_run.scan
    pairs = document["pairs"]
    index = {name: k for k, name in enumerate(scan.file_names)}
    assert document["pair_count"] == len(pairs) == PAIR_COUNT
    assert document["accepted_pair_count"] == sum(p["accepted"] for p in pairs) >= PAIR_COUNT - 2
    for pair in pairs:
        assert 0.0 <= pair["quality"] <= 1.0
        assert -1.0 <= pair["pearson_r"] <= 1.0
        assert len(pair["shift"]) == len(pair["residual"]) == 2
        # A rejected pair says why; an accepted one has no reason.
        assert (pair["rejected"] is None) == pair["accepted"]
        assert pair["rejected"] in (None, *REJECTION_REASONS)
        if not pair["accepted"]:
            continue
        # null: nothing competed with the peak (the core's 1e6 is never written here).
        assert pair["peak_ratio"] is None or 1.0 <= pair["peak_ratio"] < 1e6
        i, j = index[pair["name_i"]], index[pair["name_j"]]
        truth = scan.true_positions[j] - scan.true_positions[i]
        assert np.hypot(*(np.array(pair["shift"]) - truth)) < 0.5
        assert np.hypot(*pair["residual"]) < 0.5


def test_the_html_report_shows_the_runs_figures(full_run: FullRun) -> None:
    document = full_run.document
    text = (full_run.output / REPORT_NAME).read_text(encoding="utf-8")
    page = parse_report(text)
    figures = page.figures()
    assert figures["tiles"] == str(document["tile_count"]) == str(len(full_run.scan.file_names))
    assert figures["pairs measured"] == str(document["pair_count"])
    assert figures["pairs used"] == str(document["accepted_pair_count"])
    assert f"{document['rms_residual_px']:.3f} px" == figures["RMS residual of the pairs used"]
    # The same starting-position error as the summary line the run printed.
    printed = next(line for line in full_run.run.stdout.splitlines() if line.startswith("using "))
    assert f"were off by {figures['the stage positions were off by']}" in printed
    assert page.elements["rect.tile"] == document["tile_count"]
    pairs = page.elements["g.pair"] + page.elements["g.pair.rejected"]
    assert pairs == document["pair_count"]
    # The preview as written, and the correlations plot, are inside the page.
    previews = [link for link in page.links if link.startswith("data:image/jpeg;base64,")]
    assert (
        base64.b64decode(previews[0].split(",", 1)[1])
        == (full_run.output / "preview.jpg").read_bytes()
    )
    assert all(link.startswith("data:") for link in page.links) and len(page.links) == 2


def test_the_html_report_repeats_the_runs_warnings(
    base_scan: SyntheticScan, tmp_path: Path
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    (scan.folder / CACHE_NAME).write_text("{ not json")
    run = run_cli([scan.folder, "--stitching_mode", "preview_stitch"])
    assert run.status == 0, run.stderr
    (warning,) = run.stderr_lines
    assert warning.startswith("warning: ") and CACHE_NAME in warning
    page = parse_report((scan.folder / REPORT_NAME).read_text(encoding="utf-8"))
    assert warning in page.text


def test_improved_camera_stage_matrix_is_printed_and_saved(full_run: FullRun) -> None:
    improved = np.array(full_run.document["improved_camera_stage_matrix"], dtype=float)
    assert improved.shape == (2, 2)
    truth = full_run.scan.csm_matrix
    assert np.linalg.norm(improved - truth) / np.linalg.norm(truth) < 0.1
    number = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
    printed = [
        np.array([float(v) for v in re.findall(number, line)])
        for line in full_run.run.stdout.splitlines()
        if "matrix" in line.lower()
    ]
    assert any(
        len(values) >= 4 and np.abs(values[-4:] - improved.ravel()).max() < 1e-4
        for values in printed
    ), full_run.run.stdout


def test_a_camera_stage_matrix_that_fits_is_not_questioned(tmp_path: Path) -> None:
    scan = make_scan(
        tmp_path / SCAN_NAME, rows=2, cols=2, tile_shape=TILE_SHAPE, seed=4, stage_noise=0.0
    )
    run = run_cli([scan.folder, "-o", tmp_path / "out", "--stitching_mode", "preview_stitch"])
    assert run.status == 0, run.stderr
    advice = ("camera-stage matrix used", "the registered positions imply")
    assert not any(line.startswith(advice) for line in run.stdout.splitlines()), run.stdout
    document = json.loads((tmp_path / "out" / POSITIONS_JSON).read_text())
    assert "improved_camera_stage_matrix" in document  # still saved for tools


def test_preview_and_thumbnail_sizes(full_run: FullRun) -> None:
    mosaic = pyvips.Image.new_from_file(str(full_run.output / f"{SCAN_NAME}_stitched.jpg"))
    aspect = mosaic.width / mosaic.height
    preview = pyvips.Image.new_from_file(str(full_run.output / "preview.jpg"))
    # About 1000 px wide, as upstream; a mosaic narrower than that is not enlarged.
    assert abs(preview.width - min(PREVIEW_WIDTH, mosaic.width)) <= 2
    assert abs(preview.width / preview.height - aspect) < 0.01 * aspect
    thumbnail = pyvips.Image.new_from_file(str(full_run.output / "stitched_thumbnail.jpg"))
    assert THUMBNAIL_BOX - 2 <= max(thumbnail.width, thumbnail.height) <= THUMBNAIL_BOX
    assert abs(thumbnail.width / thumbnail.height - aspect) < 0.02 * aspect


def test_stitched_jpeg_size_and_exif(full_run: FullRun) -> None:
    scan = full_run.scan
    path = full_run.output / f"{SCAN_NAME}_stitched.jpg"
    mosaic = pyvips.Image.new_from_file(str(path))
    positions = positions_in_order(full_run.output, scan.file_names)
    extent = positions.max(axis=0) - positions.min(axis=0) + np.array(TILE_SHAPE)
    assert abs(mosaic.height - extent[0]) <= 1 and abs(mosaic.width - extent[1]) <= 1
    first_tile = stitched_comment(scan.paths[0])  # the first tile in capture order
    assert first_tile is not None and "stage" in first_tile
    expected = {k: v for k, v in first_tile.items() if k != "stage"}
    expected["Notes"] = STITCHED_NOTES
    expected["NumberOfImages"] = len(scan.file_names)
    assert stitched_comment(path) == expected


def test_plots_are_png_files(full_run: FullRun) -> None:
    for name in ("stitching_correlations.png", "stitching_inputs.png"):
        path = full_run.output / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        image = pyvips.Image.new_from_file(str(path))
        assert image.width >= 200 and image.height >= 200


# ------------------------------------------------------------------------------------------------
# Modes and output folders


@pytest.mark.parametrize("mode", sorted(MODE_OUTPUTS))
def test_stitching_mode_writes_exactly_its_files(
    base_scan: SyntheticScan, tmp_path: Path, mode: str
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    before = file_digests(scan.folder)
    output = tmp_path / "out"
    run = run_cli([scan.folder, "-o", output, "--stitching_mode", mode])
    assert run.status == 0, run.stderr
    assert listing(output) == MODE_OUTPUTS[mode]
    assert file_digests(scan.folder) == before
    assert listing(scan.folder) == set(before)
    if mode == "stage_stitch":
        preview = pyvips.Image.new_from_file(str(output / "stitched_from_stage.jpg"))
        columns = scan.stage_positions_px[:, 1]
        stage_mosaic_width = columns.max() - columns.min() + scan.tile_shape[1]
        # About 1000 px wide, as upstream; a narrower mosaic is not enlarged.
        assert abs(preview.width - min(PREVIEW_WIDTH, stage_mosaic_width)) <= 2


def test_default_output_is_the_input_folder(base_scan: SyntheticScan, tmp_path: Path) -> None:
    # OpenFlexure scans live in <scan>/images: the mosaic is named after <scan>.
    scan = copy_scan(base_scan, tmp_path / "my_scan" / "images")
    before = file_digests(scan.folder)
    run = run_cli([scan.folder, "--stitching_mode", "all"])
    assert run.status == 0, run.stderr
    expected_new = (MODE_OUTPUTS["all"] - {f"{SCAN_NAME}_stitched.jpg"}) | {"my_scan_stitched.jpg"}
    assert listing(scan.folder) == set(before) | expected_new
    after = file_digests(scan.folder)
    assert {name: after[name] for name in before} == before
    assert scan.rms_error(positions_in_order(scan.folder, scan.file_names)) < CLEAN_RMS_PX


# ------------------------------------------------------------------------------------------------
# The correlation cache


class MeasureCounter:
    """Counts pair registrations by wrapping ``ofs_stitch.stitching.measure.register_overlap``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, interrupt_at: int | None = None) -> None:
        self._original = ofs_stitch.stitching.measure.register_overlap
        self._lock = threading.Lock()
        self.calls = 0
        self.interrupt_at = interrupt_at
        monkeypatch.setattr(ofs_stitch.stitching.measure, "register_overlap", self._register)

    def _register(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.calls += 1
            interrupt = self.calls == self.interrupt_at
        if interrupt:
            raise KeyboardInterrupt
        return self._original(*args, **kwargs)

    def run(self, argv: list) -> tuple[CliRun, int]:
        """Run the CLI; return its result and how many pairs it measured."""
        self.calls = 0
        run = run_cli(argv)
        return run, self.calls


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> MeasureCounter:
    return MeasureCounter(monkeypatch)


def test_second_run_measures_no_pairs(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    argv = [scan.folder, "-o", tmp_path / "out", "--stitching_mode", "preview_stitch"]
    first, measured_first = counter.run(argv)
    positions_first = positions_in_order(tmp_path / "out", scan.file_names)
    second, measured_second = counter.run(argv)
    assert first.status == second.status == 0
    assert (measured_first, measured_second) == (PAIR_COUNT, 0)
    positions_second = positions_in_order(tmp_path / "out", scan.file_names)
    np.testing.assert_allclose(positions_second, positions_first, atol=1e-9)
    assert CACHE_NAME not in listing(scan.folder)  # with -o the cache lives with the outputs


def test_new_image_measures_only_its_pairs(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    newest = base_scan.file_names[-1]  # the last tile captured, as in a scan still running
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME, leave_out=(newest,))
    argv = [scan.folder, "--stitching_mode", "preview_stitch"]
    first, measured_first = counter.run(argv)
    shutil.copy2(base_scan.folder / newest, scan.folder / newest)
    second, measured_second = counter.run(argv)
    assert first.status == second.status == 0
    new_pairs = pairs_involving(scan.folder / POSITIONS_JSON, newest)
    assert new_pairs >= 2
    assert (measured_first, measured_second) == (PAIR_COUNT - new_pairs, new_pairs)


def test_touched_image_is_measured_again(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    argv = [scan.folder, "--stitching_mode", "only_correlate"]
    assert counter.run(argv)[1] == PAIR_COUNT
    touched = scan.paths[4]  # the centre tile: 4 neighbours
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    run, measured = counter.run([scan.folder, "--stitching_mode", "preview_stitch"])
    assert run.status == 0, run.stderr
    assert measured == pairs_involving(scan.folder / POSITIONS_JSON, touched.name) == 4


def test_settings_change_uses_a_separate_cache_entry(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    argv = [scan.folder, "--stitching_mode", "only_correlate"]
    default_sigma = build_parser().get_default("high_pass_sigma")
    assert counter.run(argv)[1] == PAIR_COUNT
    assert counter.run([*argv, "--high_pass_sigma", "5"])[1] == PAIR_COUNT
    assert counter.run(argv)[1] == 0  # the first entry is still there
    assert counter.run([*argv, "--priority", "memory"])[1] == 0  # not part of the key

    before = listing(scan.folder)
    shown, measured = counter.run([scan.folder, "--show_cached_settings"])
    assert shown.status == 0 and measured == 0
    settings = [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
    assert sorted(s["high_pass_sigma"] for s in settings) == sorted([5.0, default_sigma])
    assert listing(scan.folder) == before


def test_a_peak_without_rival_is_null_in_positions_json_also_when_read_from_the_cache(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    # The cache keeps the number the core reports (its format is unchanged, so caches written
    # before read the same); positions.json writes null for it, from a fresh or a cached run.
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    argv = [scan.folder, "--stitching_mode", "preview_stitch"]
    assert counter.run(argv)[1] == PAIR_COUNT
    (run,) = json.loads((scan.folder / CACHE_NAME).read_text())["runs"]
    cached = run["pairs"]
    assert sum(p["peak_ratio"] == 1e6 for p in cached) >= PAIR_COUNT // 2
    measured = json.loads((scan.folder / POSITIONS_JSON).read_text())
    assert counter.run(argv)[1] == 0
    reread = json.loads((scan.folder / POSITIONS_JSON).read_text())
    assert reread["pairs"] == measured["pairs"]
    ratios = [p["peak_ratio"] for p in reread["pairs"]]
    assert ratios.count(None) == sum(p["peak_ratio"] == 1e6 for p in cached)
    assert 1e6 not in ratios
    assert "null when nothing competes" in reread["fields"]["pairs[].peak_ratio"]


def test_use_cached_settings_reuses_the_cached_run(
    base_scan: SyntheticScan, tmp_path: Path, counter: MeasureCounter
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    first, measured_first = counter.run(
        [scan.folder, "--stitching_mode", "preview_stitch", "--high_pass_sigma", "5"]
    )
    positions_first = positions_in_order(scan.folder, scan.file_names)
    # Without --use_cached_settings the default sigma would measure every pair again.
    second, measured_second = counter.run(
        [scan.folder, "--stitching_mode", "preview_stitch", "--use_cached_settings"]
    )
    assert first.status == second.status == 0
    assert (measured_first, measured_second) == (PAIR_COUNT, 0)
    positions_second = positions_in_order(scan.folder, scan.file_names)
    np.testing.assert_allclose(positions_second, positions_first, atol=1e-9)


def test_interrupted_run_keeps_the_pairs_it_finished(
    base_scan: SyntheticScan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    before = listing(scan.folder)
    interrupting = MeasureCounter(monkeypatch, interrupt_at=7)
    run, calls = interrupting.run([scan.folder])
    assert run.status == 130
    assert "Traceback" not in run.stderr
    # Nothing that looks like a result; only the cache is new.
    assert listing(scan.folder) == before | {CACHE_NAME}
    finished = calls - 1  # every registration but the interrupted one completed
    resumed = MeasureCounter(monkeypatch)
    run, measured = resumed.run([scan.folder, "--stitching_mode", "preview_stitch"])
    assert run.status == 0, run.stderr
    assert measured == PAIR_COUNT - finished


# ------------------------------------------------------------------------------------------------
# Manual thresholds


class _NoKeyboard:
    """A stdin that fails the test when read."""

    def read(self, *args: object) -> str:
        raise AssertionError("ofs-stitch read stdin")

    readline = read

    def fileno(self) -> int:
        raise AssertionError("ofs-stitch used stdin")


@pytest.fixture
def no_keyboard(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("ofs-stitch called input()")

    monkeypatch.setattr("builtins.input", refuse)
    monkeypatch.setattr(sys, "stdin", _NoKeyboard())


@pytest.mark.usefixtures("no_keyboard")
def test_manual_min_quality_rejecting_everything_leaves_stage_positions(
    base_scan: SyntheticScan, tmp_path: Path
) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    run = run_cli(
        [
            scan.folder,
            "--stitching_mode",
            "preview_stitch",
            "--thresholding_method",
            "manual",
            "--min_peak_quality",
            "1.0",
        ]
    )
    assert run.status == 0, run.stderr
    document = json.loads((scan.folder / POSITIONS_JSON).read_text())
    assert document["accepted_pair_count"] == 0
    positions = positions_in_order(scan.folder, scan.file_names)
    offset = positions - scan.stage_positions_px
    assert np.abs(offset - offset.mean(axis=0)).max() < 1e-6


@pytest.mark.usefixtures("no_keyboard")
def test_manual_max_stage_discrepancy_is_applied(base_scan: SyntheticScan, tmp_path: Path) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    # Stage errors of about 10 px: a limit at the median splits the pairs in two.
    stage_error = scan.stage_positions_px - scan.true_positions
    # Consecutive tiles of the snake are neighbours: their stage errors differ by the pair's.
    limit = float(np.median(np.hypot(*np.diff(stage_error, axis=0).T)))
    min_quality = 0.05
    run = run_cli(
        [
            scan.folder,
            "--stitching_mode",
            "preview_stitch",
            "--thresholding_method",
            "manual",
            "--min_peak_quality",
            str(min_quality),
            "--max_stage_discrepancy",
            f"{limit:.3f}",
        ]
    )
    assert run.status == 0, run.stderr
    pairs = json.loads((scan.folder / POSITIONS_JSON).read_text())["pairs"]
    passing = [p["quality"] >= min_quality and p["stage_discrepancy"] <= limit for p in pairs]
    assert 0 < sum(passing) < len(pairs)
    assert [p["accepted"] for p in pairs] == passing


def test_manual_mode_in_a_real_process_never_waits_for_stdin(
    base_scan: SyntheticScan, tmp_path: Path
) -> None:
    # Upstream asks for the thresholds on the keyboard here; stdin stays open and silent.
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    run = run_process(
        [
            sys.executable,
            "-m",
            "ofs_stitch",
            scan.folder,
            "-o",
            tmp_path / "out",
            "--stitching_mode",
            "preview_stitch",
            "--thresholding_method",
            "manual",
        ],
        keep_stdin_open=True,
    )
    assert run.status == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert scan.rms_error(positions_in_order(tmp_path / "out", scan.file_names)) < CLEAN_RMS_PX


# ------------------------------------------------------------------------------------------------
# Bad input: exit status 2, one line on stderr naming the culprit, nothing left behind


@dataclass
class BadCase:
    argv: list
    must_mention: list[str]
    watched: list[Path]  # folders whose listing must not gain a result file


def _tile_copy_with_stage(
    source: Path, target: Path, move_x: int = 0, shrink: bool = False
) -> None:
    """A copy of a JPEG tile with its stage x moved (or its pixels cropped), EXIF kept."""
    comment = stitched_comment(source)
    assert comment is not None
    comment["stage"]["position"]["x"] += move_x
    image = pyvips.Image.new_from_file(str(source))
    if shrink:
        image = image.crop(0, 0, image.width - 40, image.height - 30)
    image.jpegsave(str(target), Q=90)
    insert_exif_into_jpeg(target, exif_block(comment, "2024:05:17 11:00:00"))


def _case_empty_folder(scan: SyntheticScan, tmp: Path) -> BadCase:
    folder = tmp / "empty"
    folder.mkdir()
    return BadCase([folder], [str(folder)], [folder])


def _case_one_image(scan: SyntheticScan, tmp: Path) -> BadCase:
    folder = tmp / "single"
    folder.mkdir()
    shutil.copy2(scan.paths[0], folder / scan.file_names[0])
    return BadCase([folder], [str(folder)], [folder])


def _case_missing_folder(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([tmp / "no_such_scan"], [str(tmp / "no_such_scan")], [tmp])


def _case_input_is_a_file(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.paths[0]], [str(scan.paths[0])], [scan.folder])


def _case_corrupt_image(scan: SyntheticScan, tmp: Path) -> BadCase:
    bad = scan.folder / "corrupt_tile.jpg"
    bad.write_bytes(np.random.default_rng(1).bytes(20_000))
    return BadCase([scan.folder], ["corrupt_tile.jpg"], [scan.folder])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _case_truncated_jpeg(scan: SyntheticScan, tmp: Path) -> BadCase:
    _truncate(scan.paths[4])
    return BadCase([scan.folder], [scan.file_names[4]], [scan.folder])


def _case_truncated_jpeg_stage_stitch(scan: SyntheticScan, tmp: Path) -> BadCase:
    # stage_stitch decodes tiles only while rendering: the failure comes late.
    _truncate(scan.paths[4])
    argv = [scan.folder, "--stitching_mode", "stage_stitch"]
    return BadCase(argv, [scan.file_names[4]], [scan.folder])


def _case_mixed_sizes(scan: SyntheticScan, tmp: Path) -> BadCase:
    _tile_copy_with_stage(scan.paths[0], scan.folder / "odd_size.jpeg", move_x=50, shrink=True)
    return BadCase([scan.folder], ["odd_size.jpeg"], [scan.folder])


def _case_no_positions(scan: SyntheticScan, tmp: Path) -> BadCase:
    folder = tmp / "anonymous"
    make_scan(
        folder,
        rows=1,
        cols=2,
        tile_shape=(64, 96),
        metadata_layout="none",
        name_pattern="tile_{index}",
        write_ground_truth=False,
    )
    return BadCase([folder], ["tile_", "--positions", "--grid"], [folder])


def _case_float_tiles(scan: SyntheticScan, tmp: Path) -> BadCase:
    # Float samples correlate fine but no mosaic format holds them: refused before measuring.
    folder = tmp / "float_tiles"
    folder.mkdir()
    for k in range(2):
        ramp = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64) * (k + 1)
        pyvips.Image.new_from_array(ramp).tiffsave(str(folder / f"tile_{k}.tif"))
    argv = [folder, "--grid", "1x2", "--overlap", "0.3"]
    return BadCase(argv, ["tile_0.tif", "float", "16-bit"], [folder])


def _case_isolated_tile(scan: SyntheticScan, tmp: Path) -> BadCase:
    _tile_copy_with_stage(scan.paths[0], scan.folder / "far_away.jpeg", move_x=100_000)
    return BadCase([scan.folder], ["far_away.jpeg", "--minimum_overlap"], [scan.folder])


def _case_unwritable_output(scan: SyntheticScan, tmp: Path) -> BadCase:
    blocker = tmp / "a_file"
    blocker.write_text("a file, not a folder\n")
    output = blocker / "out"
    return BadCase([scan.folder, "-o", output], [str(output), "-o"], [scan.folder, tmp])


def _case_malformed_matrix(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--csm_matrix", "[[1, 2], [3]]"], ["--csm_matrix"], [scan.folder])


def _case_singular_matrix(scan: SyntheticScan, tmp: Path) -> BadCase:
    argv = [scan.folder, "--csm_matrix", "[[1, 2], [2, 4]]"]
    return BadCase(argv, ["--csm_matrix"], [scan.folder])


def _case_missing_positions_file(scan: SyntheticScan, tmp: Path) -> BadCase:
    path = tmp / "nowhere.csv"
    return BadCase([scan.folder, "--positions", path], [str(path), "--positions"], [scan.folder])


def _case_malformed_positions_file(scan: SyntheticScan, tmp: Path) -> BadCase:
    path = tmp / "TileConfiguration.txt"
    lines = [f"{name}; ; (0.0, 0.0)" for name in scan.file_names]
    lines[3] = f"{scan.file_names[3]}; ; (twelve, 7)"
    path.write_text("dim = 2\n" + "\n".join(lines) + "\n")
    return BadCase([scan.folder, "--positions", path], [str(path)], [scan.folder])


def _case_grid_text(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--grid", "4by4"], ["--grid"], [scan.folder])


def _case_grid_zero(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--grid", "0x3"], ["--grid"], [scan.folder])


def _case_grid_count(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--grid", "4x4"], ["--grid", "16", "9"], [scan.folder])


def _case_negative_resize(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--resize", "-1"], ["--resize"], [scan.folder])


def _case_resize_above_one(scan: SyntheticScan, tmp: Path) -> BadCase:
    # Enlarging only costs memory and time (--resize 20 ran for minutes at 14 GB): refused at once.
    return BadCase([scan.folder, "--resize", "20"], ["--resize", "at most 1"], [scan.folder])


def _case_zero_threads(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--threads", "0"], ["--threads", "1 or more"], [scan.folder])


def _case_negative_threads(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--threads", "-2"], ["--threads", "1 or more"], [scan.folder])


def _case_negative_high_pass(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase(
        [scan.folder, "--high_pass_sigma", "-5"], ["--high_pass_sigma", "0 or more"], [scan.folder]
    )


def _case_grid_overlap_one(scan: SyntheticScan, tmp: Path) -> BadCase:
    words = ["--overlap", "from 0 up to (not including) 1"]
    return BadCase([scan.folder, "--grid", "3x3", "--overlap", "1"], words, [scan.folder])


def _case_grid_overlap_above_one(scan: SyntheticScan, tmp: Path) -> BadCase:
    words = ["--overlap", "from 0 up to (not including) 1"]
    return BadCase([scan.folder, "--grid", "3x3", "--overlap", "1.5"], words, [scan.folder])


def _case_output_is_a_file(scan: SyntheticScan, tmp: Path) -> BadCase:
    output = tmp / "afile"
    output.write_text("a file, not a folder\n")
    return BadCase(
        [scan.folder, "-o", output], [str(output), "is a file", "-o"], [scan.folder, tmp]
    )


def _case_grid_count_with_an_earlier_output(scan: SyntheticScan, tmp: Path) -> BadCase:
    (scan.folder / "preview.jpg").write_bytes((scan.folder / scan.file_names[0]).read_bytes())
    (scan.folder / scan.file_names[1]).unlink()
    # 8 tiles and a preview: the count must come with the name of the file not counted.
    return BadCase(
        [scan.folder, "--grid", "3x3"], ["--grid", "9", "8", "preview.jpg"], [scan.folder]
    )


def _case_unknown_mode(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--stitching_mode", "foo"], ["--stitching_mode"], [scan.folder])


def _case_image_count_one(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--image_count", "1"], ["--image_count"], [scan.folder])


def _case_no_cache_to_reuse(scan: SyntheticScan, tmp: Path) -> BadCase:
    return BadCase([scan.folder, "--use_cached_settings"], ["--use_cached_settings"], [scan.folder])


BAD_CASES: dict[str, Callable[[SyntheticScan, Path], BadCase]] = {
    "empty-folder": _case_empty_folder,
    "one-image": _case_one_image,
    "missing-folder": _case_missing_folder,
    "input-is-a-file": _case_input_is_a_file,
    "corrupt-image": _case_corrupt_image,
    "truncated-jpeg": _case_truncated_jpeg,
    "truncated-jpeg-stage-stitch": _case_truncated_jpeg_stage_stitch,
    "mixed-tile-sizes": _case_mixed_sizes,
    "no-positions": _case_no_positions,
    "tile-overlapping-nothing": _case_isolated_tile,
    "float-samples": _case_float_tiles,
    "unwritable-output": _case_unwritable_output,
    "malformed-csm-matrix": _case_malformed_matrix,
    "singular-csm-matrix": _case_singular_matrix,
    "missing-positions-file": _case_missing_positions_file,
    "malformed-positions-file": _case_malformed_positions_file,
    "grid-not-rows-x-cols": _case_grid_text,
    "grid-zero-rows": _case_grid_zero,
    "grid-count-mismatch": _case_grid_count,
    "negative-resize": _case_negative_resize,
    "resize-above-one": _case_resize_above_one,
    "zero-threads": _case_zero_threads,
    "negative-threads": _case_negative_threads,
    "negative-high-pass-sigma": _case_negative_high_pass,
    "grid-overlap-one": _case_grid_overlap_one,
    "grid-overlap-above-one": _case_grid_overlap_above_one,
    "output-is-a-file": _case_output_is_a_file,
    "grid-count-with-an-earlier-output": _case_grid_count_with_an_earlier_output,
    "unknown-stitching-mode": _case_unknown_mode,
    "image-count-one": _case_image_count_one,
    "no-cache-to-reuse": _case_no_cache_to_reuse,
}


def assert_clean_failure(run: CliRun, case: BadCase, before: dict[Path, set[str]]) -> None:
    assert run.status == 2, (run.status, run.stderr)
    assert "Traceback" not in run.stderr
    assert len(run.stderr_lines) == 1, run.stderr
    line = run.stderr_lines[0]
    for text in case.must_mention:
        assert text in line, f"{text!r} not in {line!r}"
    for folder, names in before.items():
        # A correlation cache may stay (measurements are worth keeping); no result may.
        new = listing(folder) - names
        assert new <= {CACHE_NAME}, f"left in {folder}: {new}"


@pytest.mark.parametrize("case_name", sorted(BAD_CASES))
def test_bad_input_fails_cleanly(base_scan: SyntheticScan, tmp_path: Path, case_name: str) -> None:
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    case = BAD_CASES[case_name](scan, tmp_path)
    before = {folder: listing(folder) for folder in case.watched}
    assert_clean_failure(run_cli(case.argv), case, before)


@pytest.mark.parametrize(
    ("case_name", "launcher"),
    [
        ("empty-folder", "entry-point"),
        ("truncated-jpeg", "entry-point"),
        ("unknown-stitching-mode", "module"),
        ("malformed-positions-file", "module"),
    ],
)
def test_bad_input_in_a_real_process(
    base_scan: SyntheticScan, tmp_path: Path, case_name: str, launcher: str
) -> None:
    module = [sys.executable, "-m", "ofs_stitch"]
    command = entry_point_command() if launcher == "entry-point" else module
    if command is None:
        pytest.skip("the ofs-stitch script is not installed next to this interpreter")
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    case = BAD_CASES[case_name](scan, tmp_path)
    before = {folder: listing(folder) for folder in case.watched}
    assert_clean_failure(run_process([*command, *case.argv]), case, before)


def test_real_process_stitches(base_scan: SyntheticScan, tmp_path: Path) -> None:
    command = entry_point_command()
    if command is None:
        pytest.skip("the ofs-stitch script is not installed next to this interpreter")
    scan = copy_scan(base_scan, tmp_path / SCAN_NAME)
    run = run_process(
        [*command, scan.folder, "-o", tmp_path / "out", "--stitching_mode", "preview_stitch"]
    )
    assert run.status == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert listing(tmp_path / "out") == MODE_OUTPUTS["preview_stitch"]
    assert scan.rms_error(positions_in_order(tmp_path / "out", scan.file_names)) < CLEAN_RMS_PX
