from __future__ import annotations

import numpy as np
import pytest

from ofs_stitch.errors import InputError
from ofs_stitch.openflexure.stage import (
    SWAP_XY,
    grid_positions,
    parse_csm_matrix,
    parse_grid,
    position_from_file_name,
    resolve_camera_matrix,
    stage_to_pixels,
)
from ofs_stitch.testing.files import REAL_CSM_MATRIX

M = np.array(REAL_CSM_MATRIX)


def test_real_matrix_calibrated_at_640_used_on_1280_wide_images() -> None:
    used = resolve_camera_matrix(1280, file_matrix=M, file_calibration_width=640)
    np.testing.assert_allclose(used, M / 2, rtol=1e-15)
    # 3400 steps in x is 3400 / (3.406378 / 2) = 1996.25 columns; the axes are swapped, so x
    # moves the image along columns and y along rows.
    pixels = stage_to_pixels([[3400, 0], [0, 3400], [-2000, 5000]], used)
    np.testing.assert_allclose(
        pixels,
        [[-2.31241955, 1996.25375294], [2001.26400, 1.30426103], [2944.395534, -1172.34888257]],
        rtol=1e-8,
    )
    # The matrix maps pixel displacements back to the same stage displacement.
    np.testing.assert_allclose(pixels @ used, [[3400, 0], [0, 3400], [-2000, 5000]], atol=1e-9)


def test_no_matrix_means_stage_numbers_are_pixels_with_x_as_column() -> None:
    used = resolve_camera_matrix(640)
    np.testing.assert_array_equal(used, SWAP_XY)
    np.testing.assert_array_equal(stage_to_pixels([[10, -3]], used), [[-3, 10]])


def test_override_matrix_replaces_file_matrix_and_its_calibration() -> None:
    override = np.array([[0.0, 2.0], [2.0, 0.0]])
    used = resolve_camera_matrix(1280, M, 640, override_matrix=override)
    np.testing.assert_array_equal(used, override)  # taken as calibrated at the image width
    used = resolve_camera_matrix(1280, M, 640, override, override_calibration_width=320)
    np.testing.assert_array_equal(used, override / 4)


def test_calibration_width_override_rescales_file_matrix_and_zero_means_unscaled() -> None:
    np.testing.assert_allclose(resolve_camera_matrix(1280, M, 640, None, 1280), M)
    np.testing.assert_allclose(resolve_camera_matrix(1280, M, 640, None, 2560), 2 * M)
    np.testing.assert_array_equal(resolve_camera_matrix(1280, M, 640, None, 0), M)
    np.testing.assert_array_equal(resolve_camera_matrix(1280, None, None, None, 640), SWAP_XY / 2)
    with pytest.raises(InputError, match="--csm_calibration_width -1"):
        resolve_camera_matrix(1280, M, 640, None, -1)


def test_parse_csm_matrix_accepts_the_documented_form() -> None:
    np.testing.assert_array_equal(
        parse_csm_matrix(" [[-0.00222, 3.39785], [3.406378, 0.003936]] "), M
    )
    np.testing.assert_array_equal(parse_csm_matrix("((0, 1), (1, 0))"), SWAP_XY)


@pytest.mark.parametrize(
    "text",
    [
        "[[1, 2], [3]]",
        "[[1, 2], [3, 'a']]",
        "1, 2, 3, 4",
        "[[1,2],[3,4],[5,6]]",
        "matrix",
        "__import__('os').getcwd()",
        "[[True, 0], [0, 1]]",
        "[[1e999, 0], [0, 1]]",
        "",
    ],
)
def test_malformed_csm_matrix_says_the_expected_form(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_csm_matrix(text)
    assert "--csm_matrix" in str(caught.value)
    assert '"[[a, b], [c, d]]"' in str(caught.value)


def test_singular_matrix_is_an_input_error() -> None:
    with pytest.raises(InputError, match="singular"):
        parse_csm_matrix("[[1, 2], [2, 4]]")
    with pytest.raises(InputError, match="from img_1.jpg .* is singular"):
        stage_to_pixels([[1, 2]], np.zeros((2, 2)), "img_1.jpg")


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("img_-2114_-6466_-314", (-2114, -6466)),
        ("image_10_20", (10, 20)),
        ("10_5_2_4", (10, 5)),
        ("scan_7_-3", (7, -3)),
        ("img_12", None),
        ("img_1_2_x", None),
        ("tile", None),
    ],
)
def test_position_from_file_name(stem: str, expected: tuple[int, int] | None) -> None:
    assert position_from_file_name(stem) == expected


def test_parse_grid() -> None:
    assert parse_grid("2x3") == (2, 3)
    assert parse_grid(" 4 X 5 ") == (4, 5)
    for bad in ("2x", "ax3", "2*3", "0x3", "1x1", "2x3x4", ""):
        with pytest.raises(InputError, match="--grid"):
            parse_grid(bad)


# 2 rows x 3 columns of 48x64 tiles with 25 % overlap: pitch 36 rows, 48 columns.
_ROW, _COL = 36.0, 48.0


@pytest.mark.parametrize(
    ("order", "cells"),
    [
        ("raster", [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]),
        ("snake", [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]),
        ("column", [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]),
        ("column-snake", [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2)]),
    ],
)
def test_grid_orders_on_a_2x3_grid(order: str, cells: list[tuple[int, int]]) -> None:
    positions = grid_positions(6, 2, 3, (48, 64), 0.25, order)
    expected = [(r * _ROW, c * _COL) for r, c in cells]
    np.testing.assert_allclose(positions, expected, atol=1e-12)


def test_grid_errors() -> None:
    with pytest.raises(InputError, match="--grid 2x3 needs 6 images but the folder has 5"):
        grid_positions(5, 2, 3, (48, 64), 0.1)
    with pytest.raises(InputError, match="--overlap 1.0"):
        grid_positions(6, 2, 3, (48, 64), 1.0)
    with pytest.raises(InputError, match="--order 'spiral'"):
        grid_positions(6, 2, 3, (48, 64), 0.1, "spiral")
