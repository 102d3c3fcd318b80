"""ofs_stitch._core.compose: nearest-centre and blended painting, the preview's row sums,
pyramid halving (bind_compose.cpp). Arrays written into must be writable, C-contiguous numpy
arrays of the named dtype; they are never converted."""

import numpy as np
from numpy.typing import NDArray

def paint_nearest(
    colour: NDArray[np.uint8] | NDArray[np.uint16],
    covered: NDArray[np.bool_],
    y0: int,
    tiles: list[tuple[int, int, int, int, int, int, int, NDArray[np.uint8] | NDArray[np.uint16]]],
) -> None:
    """Paint canvas rows y0.. into colour (rows, width, channels) and covered (rows, width)
    under the nearest-centre rule. tiles: (index, top, left, height, width, strip_top,
    strip_left, strip) for every tile reaching into the band; strip (rows, cols, channels)
    holds the decoded pixels from canvas (strip_top, strip_left)."""

def add_rows(
    pixels: NDArray[np.uint8] | NDArray[np.uint16], sums: NDArray[np.uint32] | NDArray[np.uint64]
) -> None:
    """Add every row of (rows, cols, channels) 8/16-bit pixels of any strides into sums
    (cols, channels), column by column. uint32 sums are faster; the caller makes sure they
    cannot overflow."""

def block_means(
    sums: NDArray[np.uint32] | NDArray[np.uint64],
    across: int,
    count: float,
    out: NDArray[np.float32],
) -> None:
    """Write into out (cols // across, channels) the means of blocks of ``across`` columns of
    sums, each sum standing for ``count`` samples; then set sums to zero."""

def add_patch(
    total: NDArray[np.float32],
    weight: NDArray[np.float32],
    patch: NDArray[np.uint8] | NDArray[np.uint16] | NDArray[np.float32],
    top: int,
    left: int,
    tile_map: tuple[float, float, float, float, float, float],
    tile_rows: int,
    tile_cols: int,
    gain: float,
    rule: str,
) -> None:
    """Add one tile's patch (on the chunk's grid, first pixel at chunk (top, left)) into the
    float32 sums total (rows, cols, channels) and weight (rows, cols) under rule feather,
    cosine, mean or max. tile_map = (u0, du_di, du_dj, v0, dv_di, dv_dj): tile coordinates of
    patch pixel (i, j). Pixels whose tile coordinates fall outside the tile are skipped."""

def finish_blend(
    total: NDArray[np.float32],
    weight: NDArray[np.float32],
    out: NDArray[np.uint8] | NDArray[np.uint16],
    covered: NDArray[np.bool_],
    max_value: float,
) -> None:
    """Write total / weight, rounded and clamped to [0, max_value], into out, 0 where the
    weight is 0, and covered = weight > 0."""

def halve(
    pixels: NDArray[np.uint8] | NDArray[np.uint16], out: NDArray[np.uint8] | NDArray[np.uint16]
) -> None:
    """Write the 2 x 2 means of (rows, cols, channels) pixels into out (ceil(rows / 2),
    ceil(cols / 2), channels), rounded; an odd last row or column averages what exists."""
