"""ofs_stitch._core.register: filtered cross-correlation, peak fit and pair ranking
(bind_register.cpp). Images are 2-D float32 of any strides, read in place; other dtypes are
refused, never converted."""

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

class AffineRefinement:
    @property
    def matrix(self) -> NDArray[np.float64]:
        """The refined 3x3 homogeneous matrix in (row, col): b[p] ~ a[M p]."""
    iterations: int
    converged: bool
    valid_pixels: int
    pearson_r: float

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
    rank_by_evidence: bool = False,
) -> PairRegistration: ...
def refine_affine(
    a: NDArray[np.float32],
    b: NDArray[np.float32],
    initial: NDArray[np.float64],
    model: str,
    max_iterations: int = 40,
    tolerance: float = 1e-3,
    smoothing_sigma: float = 1.0,
    huber_threshold: float = 2.0,
    noise_model: bool = False,
    cubic: bool = False,
) -> AffineRefinement: ...
