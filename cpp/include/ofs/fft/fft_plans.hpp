// FFTW single-precision plans and aligned buffers, shared by every kernel.
//
// FFTW's planner is not thread-safe, but executing a finished plan on new arrays is. So plans
// are made once per shape under one global mutex (FFTW_ESTIMATE: planning is instant and, for
// the 2/3/5/7-smooth sizes we pick, execution is within ~30 % of FFTW_MEASURE), cached for the
// life of the process, and executed with the new-array API from any thread.
#pragma once

#include <complex>
#include <cstddef>
#include <memory>

#include <fftw3.h>

namespace ofs {

using Complex = std::complex<float>;

// fftwf_malloc gives the SIMD alignment that the new-array execute functions require.
struct FftwFree {
    void operator()(void* p) const { fftwf_free(p); }
};
using FloatBuffer = std::unique_ptr<float[], FftwFree>;
using ComplexBuffer = std::unique_ptr<Complex[], FftwFree>;

FloatBuffer allocate_floats(std::size_t count);
ComplexBuffer allocate_complex(std::size_t count);

// Number of complex values in the half spectrum of a rows x cols real transform.
inline std::size_t half_spectrum_size(int rows, int cols) {
    return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols / 2 + 1);
}

// Real -> half-complex forward transform and its inverse (unnormalised), planned once per shape.
fftwf_plan forward_plan(int rows, int cols);
fftwf_plan inverse_plan(int rows, int cols);

// The smallest n' >= n whose only prime factors are 2, 3 and 5 (fast sizes for FFTW; factors of 7
// and above measured up to 3x slower).
int fast_fft_size(int n);

}  // namespace ofs
