"""ofs_stitch._core.compose: nearest-centre painting and the preview's row sums
(bind_compose.cpp). Arrays written into must be writable, C-contiguous numpy arrays of the
named dtype; they are never converted."""

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
