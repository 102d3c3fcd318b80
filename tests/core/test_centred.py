"""A similarity about a frame's centre as (theta, log s, d_row, d_col), and back."""

from __future__ import annotations

import math

import numpy as np

from ofs_stitch.core.centred import centred_matrix, centred_parameters, probe_points


def test_parameters_and_matrix_round_trip() -> None:
    centre = np.array([99.5, 149.5])
    parameters = np.array([math.radians(1.3), math.log(1.02), 4.25, -7.5])
    matrix = centred_matrix(parameters, centre)
    np.testing.assert_allclose(centred_parameters(matrix, centre), parameters, atol=1e-12)
    # The centre moves by d; the scale and turn act about it.
    np.testing.assert_allclose(matrix[:2] @ [*centre, 1.0], centre + parameters[2:], atol=1e-12)
    corner = matrix[:2] @ [0.0, 0.0, 1.0] - (centre + parameters[2:])
    assert math.isclose(np.hypot(*corner), 1.02 * np.hypot(*centre), rel_tol=1e-12)


def test_a_reflection_has_no_log_scale() -> None:
    flip = np.diag([1.0, -1.0, 1.0])
    assert math.isnan(centred_parameters(flip, np.array([10.0, 10.0]))[1])


def test_probe_points_are_the_corners_and_the_centre() -> None:
    points = probe_points(np.array([4.5, 9.5]))
    assert points.tolist() == [[0, 0, 1], [0, 19, 1], [9, 0, 1], [9, 19, 1], [4.5, 9.5, 1]]
