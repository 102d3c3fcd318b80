// FFTW single-precision 2-D real transforms and aligned buffers, shared by every kernel.
//
// FFTW's planner is not thread-safe, but executing a finished plan on new arrays is. So plans
// are made once per shape under one global mutex, cached for the life of the process, and
// executed with the new-array API from any thread.
//
// Plans are FFTW_ESTIMATE (instant), but a tall 2-D transform is not left to FFTW's estimate: it
// transforms the columns in place, a whole row apart, which measured 2.6x slower than the plan
// FFTW_MEASURE finds in 1.5 s (2500 x 1152, the refinement of an 8 MP tile pair). That plan
// copies a few columns at a time into a contiguous buffer; from 1024 rows (or 2 M samples) the
// transforms here do the same (rows, then columns through a buffer), with estimated plans.
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

// Real -> half-complex forward transform of a rows x cols image (rows contiguous, `real` from
// allocate_floats) into `half_spectrum` (rows x (cols / 2 + 1), from allocate_complex).
void forward_transform(int rows, int cols, const float* real, Complex* half_spectrum);
// Its inverse, unnormalised (a round trip multiplies by rows * cols). Overwrites
// `half_spectrum`, as FFTW's complex-to-real transforms do.
void inverse_transform(int rows, int cols, Complex* half_spectrum, float* real);

// The smallest n' >= n whose only prime factors are 2, 3 and 5 (fast sizes for FFTW; factors of 7
// and above measured up to 3x slower).
int fast_fft_size(int n);

}  // namespace ofs
