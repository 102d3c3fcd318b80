// A read-only view of a 2-D float32 image: pointer, shape and strides (in elements).
//
// The core never copies or owns caller pixels; numpy views (including non-contiguous slices)
// cross the Python boundary as one of these.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ofs {

struct ImageView {
    const float* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::int64_t row_stride = 0;  // elements between (r, c) and (r + 1, c)
    std::int64_t col_stride = 1;  // elements between (r, c) and (r, c + 1)

    float at(std::int64_t r, std::int64_t c) const { return data[r * row_stride + c * col_stride]; }
};

// A rows x cols x bands block of samples (8- or 16-bit tile pixels, or float images); strides
// count samples, not bytes, so a numpy slice of a decoded tile is viewed in place.
template <typename Sample>
struct PixelsView {
    const Sample* data = nullptr;
    std::ptrdiff_t rows = 0, cols = 0, bands = 1;
    std::ptrdiff_t row_stride = 0, col_stride = 0, band_stride = 1;
};

}  // namespace ofs
