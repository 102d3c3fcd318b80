"""ofs_stitch._core.fft: FFT sizes (cpp/bindings/bind_fft.cpp)."""

def fast_fft_size(n: int) -> int:
    """Smallest size >= n with prime factors 2, 3 and 5 only."""
