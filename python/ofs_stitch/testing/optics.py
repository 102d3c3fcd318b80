"""The synthetic camera's optics: band-limited, exactly consistent sub-pixel sampling.

The scene is the continuous image ``f(y, x) = sum_k canvas[k] L(y - k_row) L(x - k_col)``, where
L is a Kaiser-windowed sinc: a low-pass with cutoff 0.9 pi (half gain at 0.9 x Nyquist, flat to
5e-8 below 0.75 x Nyquist, below 1e-7 at and above Nyquist; 97 taps). A tile whose top-left
corner sits at the real position R holds ``f(R + (i, j))``. This buys two properties at once:

* **Consistency.** L has a finite support (+-48 px), so a tile cut from the canvas with a 48 px
  margin holds exactly the values of the whole-canvas image: every tile samples one and the same
  scene, and ``b[y, x] == a[y + d_row, x + d_col]`` holds to float32 rounding for any d.
* **Band limit.** f has no content at or above Nyquist (to 1e-7), so sampling it is alias-free
  and any two tiles are exact band-limited (Fourier) shifts of each other, as with a real
  microscope, whose objective limits the bandwidth. We tried a cubic spline first: it is
  consistent too, but f then carries aliased content whose phase does not follow the shift,
  and whitened phase correlation on noise-free pairs was biased by 0.06-0.15 px, which is the
  size of the errors the benchmarks measure. A Fourier shift of each cut region (scikit-image's
  way) is band-limited but not consistent: the wrap-around of the cut rings into the tile and
  overlapping tiles disagree.

The convolution is done with scipy.fft on the cut region (circular convolution equals the
linear one on the trimmed interior because the kernel support fits in the margin): a 576x736
float32 region costs about 4 ms per channel. An optional Gaussian blur (defocus) is folded into
the same transfer function; the margin grows by 6 sigma so that consistency still holds.
"""

from __future__ import annotations

import numpy as np

# Kernel half-width, cutoff and Kaiser beta (beta = 0.1102 (A - 8.7) for A = 140 dB stop band).
SAMPLING_MARGIN = 48
CUTOFF = 0.9 * np.pi
_KAISER_BETA = 0.1102 * (140.0 - 8.7)


def lowpass_kernel(x: np.ndarray) -> np.ndarray:
    """The continuous interpolation kernel L(x) (zero for |x| > SAMPLING_MARGIN)."""
    x = np.asarray(x, dtype=np.float64)
    inside = np.clip(1.0 - (x / SAMPLING_MARGIN) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    window[np.abs(x) > SAMPLING_MARGIN] = 0.0
    return (CUTOFF / np.pi) * np.sinc(CUTOFF * x / np.pi) * window


# Blur beyond this is not a microscope tile any more; the bound keeps the canvas margin fixed.
MAX_BLUR_SIGMA = 8.0


def blur_margin(blur_sigma: float) -> int:
    """Extra margin a Gaussian blur of ``blur_sigma`` px needs to keep tiles consistent (1e-7)."""
    return int(np.ceil(6.0 * blur_sigma)) if blur_sigma > 0 else 0


def _axis_transfer(length: int, frac: float, real: bool, blur_sigma: float) -> np.ndarray:
    """DFT of the sampled kernel k[n] = L(n + frac), n in [-margin, margin], wrapped to length."""
    from scipy import fft

    taps = np.arange(-SAMPLING_MARGIN, SAMPLING_MARGIN + 1)
    kernel = np.zeros(length)
    kernel[taps % length] = lowpass_kernel(taps + frac)
    transfer = fft.rfft(kernel) if real else fft.fft(kernel)
    if blur_sigma > 0:
        omega = 2 * np.pi * (fft.rfftfreq(length) if real else fft.fftfreq(length))
        transfer = transfer * np.exp(-0.5 * (blur_sigma * omega) ** 2)
    return transfer.astype(np.complex64)


def sample_subpixel(
    region: np.ndarray,
    frac: tuple[float, float],
    pad: int,
    *,
    blur_sigma: float = 0.0,
) -> np.ndarray:
    """Sample a cut region of the canvas at a sub-pixel offset, band-limited.

    ``region`` is (rows, cols) or channels-first (channels, rows, cols) float32 and holds canvas
    pixels [R0 - pad, R0 + n + pad) along each axis. The result, (n_rows, n_cols) or
    (channels, n_rows, n_cols), holds f(R0 + frac + i), optionally blurred by a Gaussian of
    ``blur_sigma`` px, with 0 <= frac < 1. ``pad`` must be at least
    ``SAMPLING_MARGIN + blur_margin(blur_sigma)``.
    """
    from scipy import fft

    if pad < SAMPLING_MARGIN + blur_margin(blur_sigma):
        raise ValueError(
            f"sample_subpixel needs pad >= {SAMPLING_MARGIN + blur_margin(blur_sigma)}, got {pad}"
        )
    rows, cols = region.shape[-2], region.shape[-1]
    # Zero-padding to fast FFT lengths is harmless: the kernel never reaches the padding from a
    # pixel that is kept.
    fft_shape = (fft.next_fast_len(rows, real=False), fft.next_fast_len(cols, real=True))
    spectrum = fft.rfft2(region.astype(np.float32, copy=False), s=fft_shape, workers=1)
    spectrum *= _axis_transfer(fft_shape[0], frac[0], False, blur_sigma)[:, np.newaxis]
    spectrum *= _axis_transfer(fft_shape[1], frac[1], True, blur_sigma)[np.newaxis, :]
    sampled = fft.irfft2(spectrum, s=fft_shape, workers=1)
    return np.ascontiguousarray(sampled[..., pad : rows - pad, pad : cols - pad], dtype=np.float32)
