// What the warp's edge path (warp.cpp) and its interior kernels (warp_interior.hpp) share:
// the flattened job, sample conversion and the interpolation formulas. Both paths compute a
// pixel with the same functions, so its value never depends on which path computed it.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "ofs/resample/warp.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define OFS_WARP_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define OFS_WARP_INLINE __forceinline
#else
#define OFS_WARP_INLINE inline
#endif

namespace ofs::resample::detail {

using Index = std::int64_t;

// Everything one worker needs, with the views flattened to byte pointers and byte strides.
template <typename Sample>
struct WarpJob {
    const char* in = nullptr;
    Index in_rows = 0, in_cols = 0, in_row_stride = 0, in_col_stride = 0, in_channel_stride = 0;
    const char* in_end = nullptr;  // one past the input's highest byte
    char* out = nullptr;
    Index out_rows = 0, out_cols = 0, out_row_stride = 0, out_col_stride = 0;
    Index out_channel_stride = 0;
    std::uint8_t* valid = nullptr;  // null: no mask wanted
    Index valid_row_stride = 0, valid_col_stride = 0;
    Index channels = 1;
    AffineMatrix matrix{};
    Index top = 0, left = 0;
    Sample fill{};
    float cubic_a = -0.5f;
    bool avx2 = false;  // run the interior kernels compiled for AVX2
    // Per output column j, the column's share of the input position (see RowLine).
    const double* row_term = nullptr;
    const double* col_term = nullptr;
};

template <typename Sample>
OFS_WARP_INLINE Sample sample_at(const char* at) {
    return *reinterpret_cast<const Sample*>(at);
}

template <typename Sample>
OFS_WARP_INLINE void store(char* at, Sample value) {
    *reinterpret_cast<Sample*>(at) = value;
}

// Integer samples: round half away from zero and saturate at the type's range, as scipy does
// for integer outputs. Interpolated values of integer samples stay far inside int32, and
// adding 0.5 then truncating rounds every value that survives the clamp; the clamp is done on
// integers because compilers keep that branch-free (and so vectorised).
template <typename Sample>
OFS_WARP_INLINE Sample to_sample(float value) {
    if constexpr (std::is_same_v<Sample, float>) {
        return value;
    } else {
        constexpr std::int32_t top = std::numeric_limits<Sample>::max();
        std::int32_t rounded = static_cast<std::int32_t>(value + 0.5f);
        rounded = rounded > 0 ? rounded : 0;
        rounded = rounded < top ? rounded : top;
        return static_cast<Sample>(rounded);
    }
}

OFS_WARP_INLINE float blend_linear(float a, float b, float c, float d, float fy, float fx) {
    const float top = a + fx * (b - a);
    const float bottom = c + fx * (d - c);
    return top + fy * (bottom - top);
}

// Keys' cubic convolution weights of the taps at offsets -1, 0, 1, 2 from floor(position),
// for t = position - floor(position) in [0, 1). Written so that t = 0 gives exactly
// (0, 1, 0, 0) for any a.
OFS_WARP_INLINE void cubic_weights(float t, float a, float w[4]) {
    const float u = 1.0f - t;
    w[0] = a * t * u * u;
    w[1] = 1.0f + t * t * ((a + 2.0f) * t - (a + 3.0f));
    w[2] = 1.0f - u * u * ((a + 2.0f) * t + 1.0f);
    w[3] = 1.0f - w[0] - w[1] - w[2];  // the weights sum to one: flat images stay flat
}

// v[4 * r + t]: the tap in row r, column t of the 4 x 4 footprint.
OFS_WARP_INLINE float blend_cubic(const float v[16], const float wy[4], const float wx[4]) {
    float sum = 0.0f;
    for (int r = 0; r < 4; ++r) {
        const float across =
            wx[0] * v[4 * r] + wx[1] * v[4 * r + 1] + wx[2] * v[4 * r + 2] + wx[3] * v[4 * r + 3];
        sum += wy[r] * across;
    }
    return sum;
}

// Input position of output pixel (top + i, left + j) along one output row: base + step *
// (left + j) for each input axis, with step * (left + j) computed once per output column (the
// same products every row), so a pixel's position is the same in every window and thread.
struct RowLine {
    double row_base = 0, col_base = 0;
    const double* row_term = nullptr;  // [j]: matrix[1] * (left + j)
    const double* col_term = nullptr;  // [j]: matrix[4] * (left + j)
    double row_at(Index j) const { return row_base + row_term[j]; }
    double col_at(Index j) const { return col_base + col_term[j]; }
};

struct Span {
    Index begin = 0, end = 0;
};

// Taps per axis of each interpolation's footprint, and where it starts from floor(position).
constexpr int taps_across(Interpolation kind) {
    return kind == Interpolation::nearest ? 1 : kind == Interpolation::linear ? 2 : 4;
}

}  // namespace ofs::resample::detail
