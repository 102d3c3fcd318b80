"""Type stubs for the compiled core (cpp/bindings). Arrays are float32 2-D unless noted."""

import numpy as np
from numpy.typing import NDArray

class Spectrum:
    """Filtered half spectrum of one region (opaque; reuse it for many pairs)."""

    @property
    def region_shape(self) -> tuple[int, int]: ...
    @property
    def padded_shape(self) -> tuple[int, int]: ...

class CorrelationSurface:
    @property
    def values(self) -> NDArray[np.float32]:
        """The surface in FFT order: [r, c] is the shift (r, c) modulo shape (a view)."""
    @property
    def region_shape(self) -> tuple[int, int]: ...

class Peak:
    found: bool
    integer_row: int
    integer_col: int
    row: float
    col: float
    gaussian_fit: bool
    height: float
    peak_ratio: float

class PairRegistration:
    peak: Peak
    pearson_r: float

def fast_fft_size(n: int) -> int: ...
def paint_nearest(
    colour: NDArray[np.uint8] | NDArray[np.uint16],
    covered: NDArray[np.bool_],
    y0: int,
    tiles: list[tuple[int, int, int, int, int, int, int, NDArray[np.uint8] | NDArray[np.uint16]]],
) -> None:
    """Paint canvas rows y0.. into colour (rows, width, bands) and covered (rows, width) under
    the nearest-centre rule. tiles: (index, top, left, height, width, strip_top, strip_left,
    strip) for every tile reaching into the band; strip (rows, cols, bands) holds the decoded
    pixels from canvas (strip_top, strip_left)."""

def add_rows(
    pixels: NDArray[np.uint8] | NDArray[np.uint16], sums: NDArray[np.uint32] | NDArray[np.uint64]
) -> None:
    """Add every row of (rows, cols, bands) 8/16-bit pixels of any strides into sums
    (cols, bands), column by column. uint32 sums are faster; the caller makes sure they cannot
    overflow."""

def block_means(
    sums: NDArray[np.uint32] | NDArray[np.uint64],
    across: int,
    count: float,
    out: NDArray[np.float32],
) -> None:
    """Write into out (cols // across, bands) the means of blocks of ``across`` columns of
    sums, each sum standing for ``count`` samples; then set sums to zero."""

def block_mean(image: NDArray[np.float32], factor: int) -> NDArray[np.float32]:
    """Means of factor x factor blocks of a 2-D float32 image of any strides (partial blocks
    at the right and bottom edges left out)."""

def grey_float32(pixels: NDArray[np.uint8] | NDArray[np.uint16]) -> NDArray[np.float32]:
    """Float32 grey copy of (rows, cols[, bands]) 8/16-bit pixels: mean of the first three
    bands when there are three or more, else the first band."""

def compute_spectrum(
    region: NDArray[np.float32],
    padded_shape: tuple[int, int],
    high_pass_sigma: float,
    smoothing_sigma: float,
    whiten: float,
    taper: int,
) -> Spectrum: ...
def cross_correlate(a: Spectrum, b: Spectrum) -> CorrelationSurface: ...
def find_peak(
    surface: CorrelationSurface,
    expected: tuple[float, float] | None = None,
    radius: float = 0.0,
    min_overlap_fraction: float = 0.05,
    exclusion_radius: int = 4,
) -> Peak: ...
def overlap_pearson(
    a: NDArray[np.float32], b: NDArray[np.float32], d_row: int, d_col: int
) -> float: ...
def register_spectra(
    spectrum_a: Spectrum,
    spectrum_b: Spectrum,
    a: NDArray[np.float32],
    b: NDArray[np.float32],
    expected: tuple[float, float] | None = None,
    radius: float = 0.0,
    min_overlap_fraction: float = 0.05,
    exclusion_radius: int = 4,
    max_candidates: int = 16,
) -> PairRegistration: ...
def solve_positions(
    n_tiles: int,
    i: NDArray[np.int64],
    j: NDArray[np.int64],
    displacement: NDArray[np.float64],
    weight: NDArray[np.float64],
    prior_tile: NDArray[np.int64],
    prior_position: NDArray[np.float64],
    prior_weight: NDArray[np.float64],
    loss: str = "none",
    robust_scale: float = 1.0,
    max_reweighting_iterations: int = 50,
    tolerance: float = 1e-12,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], dict[str, object]]: ...
