"""A similarity about a frame's centre as four numbers, for joint solves over links of frames.

A frame's transform ``M(p) = s R(theta) (p - c) + c + d`` (c the frame's centre, all in
(row, col)) is held as ``(theta, log s, d_row, d_col)``. Along a chain of links the angles and
log scales add up, so a least-squares solve over them is linear; given them, the moves of the
centre are linear too. The drift and stack families solve their frames this way.
"""

from __future__ import annotations

import math

import numpy as np


def centred_parameters(matrix: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(theta, log s, d_row, d_col) of a 3x3 map: its rotation and scale (the similarity part
    of its linear block; log s is NaN for a reflection or a collapse), and how far it moves
    the centre."""
    linear = matrix[:2, :2]
    angle = math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])
    det = float(np.linalg.det(linear))
    log_scale = 0.5 * math.log(det) if det > 0 else math.nan
    move = linear @ centre + matrix[:2, 2] - centre
    return np.array([angle, log_scale, move[0], move[1]])


def similarity_linear(parameters: np.ndarray) -> np.ndarray:
    """The 2x2 ``s R(theta)`` of (theta, log s, ...)."""
    cos, sin = math.cos(parameters[0]), math.sin(parameters[0])
    return math.exp(parameters[1]) * np.array([[cos, -sin], [sin, cos]])


def centred_matrix(parameters: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The 3x3 map of (theta, log s, d_row, d_col) about ``centre``."""
    matrix = np.eye(3)
    matrix[:2, :2] = similarity_linear(parameters)
    matrix[:2, 2] = centre + parameters[2:] - matrix[:2, :2] @ centre
    return matrix


def probe_points(centre: np.ndarray) -> np.ndarray:
    """(5, 3) homogeneous points where a link's residual is evaluated: the frame's corners and
    centre (an affine map's error is largest at the corners, so their mean bounds the frame's
    mean)."""
    rows, cols = 2 * centre
    return np.array(
        [[0, 0, 1], [0, cols, 1], [rows, 0, 1], [rows, cols, 1], [centre[0], centre[1], 1]],
        dtype=float,
    )
