from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ofs_stitch.openflexure.metadata import (
    V2_CALIBRATION_WIDTH,
    StageMetadata,
    parse_stage_metadata,
    stitched_user_comment,
)
from ofs_stitch.testing.files import (
    FIRST_TILE_COMMENT,
    REAL_CSM_MATRIX,
    legacy_v3_comment,
    v2_comment,
    v3_comment,
)

MATRIX_TUPLE = (tuple(REAL_CSM_MATRIX[0]), tuple(REAL_CSM_MATRIX[1]))


def test_v3_layout() -> None:
    meta = parse_stage_metadata(v3_comment(-2000, 5000, -313, REAL_CSM_MATRIX, [480, 640]))
    assert meta == StageMetadata(
        position=(-2000.0, 5000.0, -313.0),
        csm_matrix=MATRIX_TUPLE,
        calibration_width=640,  # image_resolution is [height, width]
        pixel_size_um=None,
    )


def test_legacy_v3_layout() -> None:
    meta = parse_stage_metadata(legacy_v3_comment(-2000, 5000, -313, REAL_CSM_MATRIX, [480, 640]))
    assert meta.position == (-2000.0, 5000.0, -313.0)
    assert meta.csm_matrix == MATRIX_TUPLE
    assert meta.calibration_width == 640


def test_v2_layout_implies_832_pixel_calibration_and_reads_pixel_size() -> None:
    meta = parse_stage_metadata(v2_comment(-2000, 5000, -313, REAL_CSM_MATRIX, um_per_px=0.0775))
    assert meta.position == (-2000.0, 5000.0, -313.0)
    assert meta.csm_matrix == MATRIX_TUPLE
    assert meta.calibration_width == V2_CALIBRATION_WIDTH == 832
    assert meta.pixel_size_um == pytest.approx(0.0775)


def test_missing_pieces_are_none() -> None:
    assert parse_stage_metadata(None) == StageMetadata()
    assert parse_stage_metadata({}) == StageMetadata()
    assert parse_stage_metadata({"unrelated": 1}) == StageMetadata()
    only_position = parse_stage_metadata({"stage": {"position": {"x": 1, "y": 2}}})
    assert only_position == StageMetadata(position=(1.0, 2.0))
    # No matrix means no calibration width either (832 is assumed only alongside a matrix).
    assert parse_stage_metadata(v2_comment(3, 4)).calibration_width is None


def test_first_layout_present_wins_per_quantity() -> None:
    comment = v3_comment(1, 2)
    comment.update(v2_comment(100, 200, matrix=[[0, 2], [2, 0]]))
    meta = parse_stage_metadata(comment)
    assert meta.position == (1.0, 2.0, 0.0)  # v3 position beats v2 position
    assert meta.csm_matrix == ((0.0, 2.0), (2.0, 0.0))  # only v2 has a matrix


def test_malformed_pieces_are_dropped_and_reported() -> None:
    comment = {
        "stage": {"position": {"x": "left", "y": 2}},
        "camera_stage_mapping": {
            "image_to_stage_displacement_matrix": [[1, 2], [3]],
            "image_resolution": [480, -5],
        },
    }
    meta = parse_stage_metadata(comment)
    assert meta.position is None and meta.csm_matrix is None and meta.calibration_width is None
    assert [quantity for quantity, _ in meta.problems] == [
        "position",
        "csm_matrix",
        "calibration_width",
    ]
    assert meta.problem("position") == "stage.position is not {x: number, y: number}"
    assert meta.problem("csm_matrix") == (
        "camera_stage_mapping.image_to_stage_displacement_matrix is not a 2x2 matrix of numbers"
    )
    assert meta.problem("calibration_width") == (
        "camera_stage_mapping.image_resolution.1 is not a positive width"
    )
    # true/false are not coordinates even though bool is an int in Python
    assert parse_stage_metadata({"stage": {"position": {"x": True, "y": 2}}}).position is None


UPSTREAM_PYTHON = Path("/tmp/upvenv/bin/python")

_UPSTREAM_SCRIPT = """
import json, sys
from openflexure_metadata import metadata as m
out = []
for comment in json.loads(sys.stdin.read()):
    csm = m.get_csm(comment)
    out.append({
        "position": m.get_stage_position("noname", comment),
        "matrix": None if csm is None else csm.tolist(),
        "width": m.get_csm_width(comment, from_openflexure=csm is not None),
        "um_per_px": m.get_um_per_px(comment),
    })
print(json.dumps(out))
"""


@pytest.mark.skipif(not UPSTREAM_PYTHON.exists(), reason="upstream venv /tmp/upvenv absent")
def test_agrees_with_openflexure_metadata_on_all_layouts() -> None:
    comments = [
        v3_comment(-2000, 5000, -313, REAL_CSM_MATRIX, [480, 640]),
        legacy_v3_comment(12, -7, 3, REAL_CSM_MATRIX, [624, 832]),
        v2_comment(-5, 9, 1, REAL_CSM_MATRIX, um_per_px=0.12),
        v3_comment(4, 5, 6, REAL_CSM_MATRIX),  # matrix without image_resolution: 832 too
        v3_comment(4, 5),
    ]
    result = subprocess.run(
        [str(UPSTREAM_PYTHON), "-c", _UPSTREAM_SCRIPT],
        input=json.dumps(comments),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    upstream = json.loads(result.stdout)
    for comment, theirs in zip(comments, upstream, strict=True):
        ours = parse_stage_metadata(comment)
        assert ours.position is not None
        assert [round(v) for v in ours.position[:2]] == theirs["position"]
        assert (None if ours.csm_matrix is None else [list(r) for r in ours.csm_matrix]) == (
            theirs["matrix"]
        )
        assert ours.calibration_width == theirs["width"]
        assert ours.pixel_size_um == theirs["um_per_px"]


def test_stitched_comment_drops_the_stage_and_tuning_and_counts_images() -> None:
    comment = stitched_user_comment(FIRST_TILE_COMMENT, 25)
    assert comment == {
        "camera": {"exposure": 100},
        "camera_stage_mapping": {"image_resolution": [480, 640]},
        "Notes": "Stitched by OpenFlexure Stitching",
        "NumberOfImages": 25,
    }
    assert "tuning" in FIRST_TILE_COMMENT["camera"]  # the tile's own metadata is untouched
