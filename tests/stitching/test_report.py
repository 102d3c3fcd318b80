"""positions.json content and the camera-stage matrix fit."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.core.matches import PEAK_RATIO_WITHOUT_RIVAL, PairMeasurement
from ofs_stitch.io import json_text
from ofs_stitch.io.tiles import Tile
from ofs_stitch.stitching.positions_text import write_positions_json
from ofs_stitch.stitching.report import (
    fit_camera_stage_matrix,
    format_camera_stage_matrix,
    positions_document,
)
from ofs_stitch.stitching.thresholds import REJECTION_REASONS

# A real OpenFlexure matrix (motor steps per pixel, axes swapped): stage_xy = [d_row, d_col] @ M.
M = np.array([[-0.00222, 3.39785], [3.406378, 0.003936]])
STAGE_ORIGIN = np.array([-2000.0, 5000.0])


def scan():
    """A 2x2 scan: tiles 0 1 / 2 3, with 4 neighbour pairs accepted and the diagonal rejected."""
    stage_px = np.array([[0.0, 0.0], [0.0, 448.0], [336.0, 0.0], [336.0, 448.0]])
    tiles = [
        Tile(
            path=Path(f"/scan/img_{t}.jpg"),
            height=480,
            width=640,
            stage_position_px=tuple(stage_px[t]),
            stage_xyz=(*(STAGE_ORIGIN + stage_px[t] @ M), -313.0),
        )
        for t in range(4)
    ]
    # The registration moved the tiles a little away from where the stage put them.
    delta = np.array([[0.5, -1.0], [2.0, 0.0], [-1.5, 1.0], [0.0, 3.0]])
    positions = stage_px + delta
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]
    measurements = [
        PairMeasurement(
            i=i,
            j=j,
            shift=tuple(positions[j] - positions[i] + (0.1 * k, -0.2)),
            expected_shift=tuple(stage_px[j] - stage_px[i]),
            pearson_r=0.9 - 0.1 * k,
            peak_ratio=5.0 + k,
        )
        for k, (i, j) in enumerate(edges)
    ]
    rejected = [None, None, None, None, "discrepancy"]
    residuals = np.array([[0.3, 0.4], [1.0, 0.0], [0.0, 2.0], [0.6, 0.8], [np.nan, np.nan]])
    return tiles, positions, measurements, rejected, residuals, delta


def test_positions_json_holds_tiles_and_pairs(tmp_path):
    tiles, positions, measurements, rejected, residuals, delta = scan()
    path = tmp_path / "positions.json"
    improved = np.array([[0.001, 3.4], [3.41, 0.002]])
    write_positions_json(
        path,
        tiles,
        positions,
        measurements,
        rejected,
        residuals,
        csm_matrix=M,
        pixel_size_um=0.35,
        extra={"improved_camera_stage_matrix": improved, "thresholds": {"min_peak_quality": 0.5}},
    )
    # Strict JSON: NaN would make this parse fail.
    document = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert [p.name for p in tmp_path.iterdir()] == ["positions.json"]

    assert (document["format"], document["version"]) == ("ofs-stitch positions", 1)
    assert document["tile_count"] == 4 and document["tile_shape"] == [480, 640]
    assert document["pair_count"] == 5 and document["accepted_pair_count"] == 4
    assert document["pixel_size_um"] == 0.35
    assert document["camera_stage_matrix"] == M.tolist()
    assert document["improved_camera_stage_matrix"] == improved.tolist()
    assert document["thresholds"] == {"min_peak_quality": 0.5}
    # Accepted residual norms 0.5, 1, 2, 1.
    assert document["rms_residual_px"] == pytest.approx(math.sqrt((0.25 + 1 + 4 + 1) / 4))

    t1 = document["tiles"][1]
    assert t1["index"] == 1 and t1["name"] == "img_1.jpg"
    assert t1["position_px"] == {"row": 2.0, "col": 448.0, "x": 448.0, "y": 2.0}
    assert t1["stage_position_px"] == {"row": 0.0, "col": 448.0}
    mean_delta = delta.mean(axis=0)
    assert t1["offset_from_stage_px"]["row"] == pytest.approx(2.0 - mean_delta[0])
    assert t1["offset_from_stage_px"]["col"] == pytest.approx(0.0 - mean_delta[1])
    assert t1["stage_xyz"] == pytest.approx([*(STAGE_ORIGIN + [0.0, 448.0] @ M), -313.0])
    # The stage coordinates the images imply: the reported ones moved by the registration's
    # correction (relative to the scan's mean correction), mapped through M.
    for t, entry in enumerate(document["tiles"]):
        expected = np.array(tiles[t].stage_xyz[:2]) + (delta[t] - mean_delta) @ M
        got = entry["registered_stage_xy"]
        assert [got["x"], got["y"]] == pytest.approx(expected.tolist(), abs=1e-9)
    # Tile 1 is in accepted pairs 0-1 (residual 0.5) and 1-3 (residual 2).
    assert t1["accepted_pairs"] == 2
    assert t1["residual_rms_px"] == pytest.approx(math.sqrt((0.25 + 4) / 2))
    # Tile 0: pairs 0-1 and 0-2 accepted, the diagonal 0-3 rejected.
    assert document["tiles"][0]["accepted_pairs"] == 2
    assert document["tiles"][0]["residual_rms_px"] == pytest.approx(math.sqrt((0.25 + 1) / 2))

    p0, p4 = document["pairs"][0], document["pairs"][4]
    assert (p0["i"], p0["j"], p0["name_i"], p0["name_j"]) == (0, 1, "img_0.jpg", "img_1.jpg")
    assert p0["shift"] == pytest.approx([1.5, 448.8])
    assert p0["expected_shift"] == [0.0, 448.0]
    # Quality follows from r and the peak ratio: 0.9 * (1 - 1 / 5).
    assert (p0["pearson_r"], p0["peak_ratio"], p0["quality"]) == (0.9, 5.0, 0.9 * (1 - 1 / 5.0))
    assert p0["quality"] == pytest.approx(0.72) == measurements[0].quality
    assert p0["stage_discrepancy"] == pytest.approx(math.hypot(1.5, 0.8))
    assert p0["accepted"] is True
    assert p0["residual"] == [0.3, 0.4] and p0["residual_px"] == pytest.approx(0.5)
    assert p4["accepted"] is False
    assert p4["residual"] == [None, None] and p4["residual_px"] is None
    assert p0["rejected"] is None and p4["rejected"] == "discrepancy"

    mapping = document["stage_mapping"]
    assert mapping["matrix"] == M.tolist()
    assert mapping["stage_origin_xy"] == pytest.approx(
        np.mean([t.stage_xyz[:2] for t in tiles], axis=0).tolist()
    )
    assert mapping["position_origin_px"] == pytest.approx(positions.mean(axis=0).tolist())


def test_pair_entries_keep_their_keys_order_and_numbers(tmp_path):
    # One line per pair, as ofs-stitch has always written it: readers may rely on any of it.
    tiles, positions, measurements, rejected, residuals, _ = scan()
    path = tmp_path / "positions.json"
    write_positions_json(path, tiles, positions, measurements, rejected, residuals)
    lines = [line for line in path.read_text().splitlines() if line.startswith('  {"i": ')]
    assert len(lines) == 5
    assert lines[0] == (
        '  {"i": 0, "j": 1, "name_i": "img_0.jpg", "name_j": "img_1.jpg", "shift": [1.5, 448.8], '
        '"expected_shift": [0.0, 448.0], "pearson_r": 0.9, "peak_ratio": 5.0, '
        '"quality": 0.7200000000000001, "stage_discrepancy": 1.7000000000000053, '
        '"accepted": true, "residual": [0.3, 0.4], "residual_px": 0.5, "rejected": null},'
    )
    assert lines[4] == (
        '  {"i": 0, "j": 3, "name_i": "img_0.jpg", "name_j": "img_3.jpg", '
        '"shift": [335.9, 451.8], "expected_shift": [336.0, 448.0], "pearson_r": 0.5, '
        '"peak_ratio": 9.0, "quality": 0.4444444444444444, "stage_discrepancy": '
        '3.8013155617496546, "accepted": false, "residual": [null, null], "residual_px": null, '
        '"rejected": "discrepancy"}'
    )


def test_every_rejected_pair_says_why(tmp_path):
    tiles, positions, measurements, _, residuals, _ = scan()
    reasons = ["quality", None, "loop inconsistency", None, "discrepancy"]
    path = tmp_path / "positions.json"
    write_positions_json(path, tiles, positions, measurements, reasons, residuals)
    document = json.loads(path.read_text())
    assert [p["rejected"] for p in document["pairs"]] == reasons
    assert [p["accepted"] for p in document["pairs"]] == [r is None for r in reasons]
    assert document["accepted_pair_count"] == 2
    # The vocabulary is the thresholds' and the layout's, and the file explains each word.
    assert REJECTION_REASONS == ("quality", "discrepancy", "loop inconsistency")
    for reason in REJECTION_REASONS:
        assert f"'{reason}'" in document["fields"]["pairs[].rejected"]


def test_a_peak_without_rival_is_written_as_null_and_explained():
    # The compiled core reports 1e6 when nothing competes with the peak; the cache keeps that
    # number, positions.json writes null and says what it means.
    tiles, positions, measurements, rejected, residuals, _ = scan()
    unrivalled = replace(measurements[1], peak_ratio=PEAK_RATIO_WITHOUT_RIVAL)
    assert unrivalled.peak_ratio == 1e6
    measurements[1] = unrivalled
    document = positions_document(tiles, positions, measurements, rejected, residuals)
    assert document["pairs"][1]["peak_ratio"] is None
    assert document["pairs"][1]["quality"] == unrivalled.quality
    assert document["pairs"][0]["peak_ratio"] == 5.0
    fields = document["fields"]
    assert "null when nothing competes" in fields["pairs[].peak_ratio"]
    assert "mean of that difference over all tiles" in fields["tiles[].offset_from_stage_px"]
    # Every key of a tile or pair entry that a reader may wonder about is described.
    for key in ("offset_from_stage_px", "stage_position_px", "residual_rms_px"):
        assert f"tiles[].{key}" in fields and key in document["tiles"][0]
    for key in ("peak_ratio", "quality", "pearson_r", "rejected", "residual_px"):
        assert f"pairs[].{key}" in fields and key in document["pairs"][0]


def test_without_stage_coordinates_or_matrix_there_is_no_stage_mapping():
    tiles, positions, measurements, rejected, residuals, _ = scan()
    document = positions_document(tiles, positions, measurements, rejected, residuals)
    assert document["stage_mapping"] is None and document["camera_stage_matrix"] is None
    assert all(t["registered_stage_xy"] is None for t in document["tiles"])

    no_stage = [Tile(t.path, t.height, t.width, t.stage_position_px) for t in tiles[:2]] + tiles[2:]
    document = positions_document(
        no_stage, positions, measurements, rejected, residuals, csm_matrix=M
    )
    assert [t["registered_stage_xy"] is None for t in document["tiles"]] == [
        True,
        True,
        False,
        False,
    ]
    assert [t["stage_xyz"] is None for t in document["tiles"]] == [True, True, False, False]


def test_a_tile_without_accepted_pairs_has_no_residual():
    tiles, positions, measurements, _, residuals, _ = scan()
    document = positions_document(
        tiles, positions, measurements, ["quality", "quality", None, None, "discrepancy"], residuals
    )
    assert document["tiles"][0]["accepted_pairs"] == 0
    assert document["tiles"][0]["residual_rms_px"] is None
    assert document["tiles"][3]["accepted_pairs"] == 2
    assert document["rms_residual_px"] == pytest.approx(math.sqrt((4 + 1) / 2))


def _document_variants():
    """(name, positions_document's arguments): what the file's formatter must get right."""
    tiles, positions, measurements, rejected, residuals, _ = scan()
    yield "plain", (tiles, positions, measurements, rejected, residuals), {}
    extra = {"improved_camera_stage_matrix": np.eye(2), "search_radius_px": np.float32(0.5)}
    yield (
        "stage mapping",
        (tiles, positions, measurements, rejected, residuals),
        {
            "csm_matrix": M,
            "pixel_size_um": 0.35,
            "extra": {**extra, "thresholds": {"max_discrepancy_px": None}},
        },
    )
    odd = [
        Tile(Path('/scan/a "quoted" \u00e9t\u00e9.jpg'), 480, 640, (0.0, 0.0)),
        Tile(tiles[1].path, 240, 320, tiles[1].stage_position_px, tiles[1].stage_xyz),
        *tiles[2:],
    ]
    unusual = [
        replace(measurements[0], pearson_r=math.nan),
        replace(measurements[1], peak_ratio=PEAK_RATIO_WITHOUT_RIVAL),
        *measurements[2:],
    ]
    strange = residuals.copy()
    strange[2] = (math.inf, 1.0)
    reasons = ["quality", None, None, "loop inconsistency", "discrepancy"]
    yield "odd tiles and numbers", (odd, positions, unusual, reasons, strange), {"csm_matrix": M}
    yield "no pairs", (tiles, positions, [], [], np.zeros((0, 2))), {"csm_matrix": M}


@pytest.mark.parametrize("variant", [name for name, _, _ in _document_variants()])
def test_the_file_is_the_document_encoded_record_by_record(tmp_path, variant):
    # The file is formatted from arrays (positions_text); it must be exactly what encoding
    # positions_document with json_text writes: the same values, keys, order and lines.
    (args, options) = next((a, o) for name, a, o in _document_variants() if name == variant)
    path = tmp_path / "positions.json"
    write_positions_json(path, *args, **options)
    document = positions_document(*args, **options)
    assert path.read_text() == json_text.dumps(document, allow_nan=False) + "\n"


@pytest.mark.parametrize("make", ["positions_document", "write_positions_json"])
def test_inconsistent_inputs_are_refused(tmp_path, make):
    def build(*args, **options):  # type: ignore[no-untyped-def]
        if make == "positions_document":
            return positions_document(*args, **options)
        return write_positions_json(tmp_path / "positions.json", *args, **options)

    tiles, positions, measurements, rejected, residuals, _ = scan()
    with pytest.raises(ValueError, match="positions_px"):
        build(tiles, positions[:3], measurements, rejected, residuals)
    with pytest.raises(ValueError, match="rejection reasons"):
        build(tiles, positions, measurements, rejected[:4], residuals)
    with pytest.raises(ValueError, match="'blurry'"):
        build(tiles, positions, measurements, [*rejected[:4], "blurry"], residuals)
    with pytest.raises(ValueError, match="residuals"):
        build(tiles, positions, measurements, rejected, residuals[:4])
    with pytest.raises(ValueError, match="'tiles'"):
        build(tiles, positions, measurements, rejected, residuals, extra={"tiles": []})
    with pytest.raises(TypeError, match="object"):
        build(tiles, positions, measurements, rejected, residuals, extra={"x": object()})
    assert not any(tmp_path.iterdir())


def test_matrix_fit_recovers_a_known_matrix_from_exact_data():
    rng = np.random.default_rng(3)
    positions = np.array([(r * 336.0, c * 448.0) for r in range(5) for c in range(5)])
    positions += rng.normal(0.0, 15.0, positions.shape)
    stage_xy = STAGE_ORIGIN + positions @ M
    fitted = fit_camera_stage_matrix(stage_xy, positions)
    assert fitted is not None
    np.testing.assert_allclose(fitted, M, rtol=0, atol=1e-9)
    # Rows with NaN (a tile without stage coordinates) are left out, not propagated.
    stage_xy[4] = np.nan
    np.testing.assert_allclose(fit_camera_stage_matrix(stage_xy, positions), M, atol=1e-9)


def test_matrix_fit_is_least_squares_on_noisy_data():
    rng = np.random.default_rng(4)
    positions = rng.uniform(0, 3000, (40, 2))
    stage_xy = positions @ M + rng.normal(0, 2.0, (40, 2))
    fitted = fit_camera_stage_matrix(stage_xy, positions)
    centred = positions - positions.mean(axis=0)
    reference = np.linalg.pinv(centred) @ (stage_xy - stage_xy.mean(axis=0))
    np.testing.assert_allclose(fitted, reference, atol=1e-12)
    np.testing.assert_allclose(fitted, M, atol=5e-3)


@pytest.mark.parametrize("seed", range(6))
def test_matrix_fit_is_the_old_lstsq_formula(seed):
    # The formula report.py used before core.transform.fit, verbatim: numpy's lstsq on the
    # centred positions and stage coordinates.
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 7, 2)
    positions = np.array([(r * 336.0, c * 448.0) for r in range(rows) for c in range(cols)])
    positions += rng.normal(0.0, 20.0, positions.shape) + rng.uniform(-5e4, 5e4, 2)
    stage_xy = (
        STAGE_ORIGIN + positions @ (M * rng.uniform(0.9, 1.1)) + rng.normal(0, 30, positions.shape)
    )
    centred = positions - positions.mean(axis=0)
    reference, *_ = np.linalg.lstsq(centred, stage_xy - stage_xy.mean(axis=0), rcond=None)
    np.testing.assert_allclose(
        fit_camera_stage_matrix(stage_xy, positions), reference, rtol=0, atol=1e-9
    )


def test_matrix_fit_refuses_degenerate_layouts():
    strip = np.array([(0.0, 448.0 * k) for k in range(10)])
    assert fit_camera_stage_matrix(strip @ M, strip) is None
    two = np.array([[0.0, 0.0], [300.0, 400.0]])
    assert fit_camera_stage_matrix(two @ M, two) is None


def test_matrix_is_printed_like_openflexure_stitching():
    # The exact text openflexure-stitching 0.3.1 prints for this matrix.
    assert format_camera_stage_matrix(M) == "[[-0.0022,  3.3979], [ 3.4064,  0.0039]]"
    # Matrices at tile resolution are printed for the calibration resolution: 832 / 416 = 2.
    assert format_camera_stage_matrix(M * 2, scale=2.0) == format_camera_stage_matrix(M)
