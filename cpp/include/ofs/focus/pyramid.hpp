// Laplacian pyramids of float32 images for focus stacking (the Burt-Adelson 5-tap binomial
// kernel [1 4 6 4 1] / 16, mirrored edges).
//
// An image is a C-contiguous (rows, cols, channels) float32 array, channels interleaved, as
// numpy holds an RGB image; a grey plane is the same with one channel. `reduce` blurs and keeps
// every second row and column; `expand_add` interpolates an image back to twice its size and
// adds it, times `sign`, into a larger one: with sign -1 it turns a Gaussian level into its
// Laplacian level (level - expand(reduce(level))), with sign +1 it collapses a pyramid. Any
// interpolation reconstructs exactly as long as both directions use the same one.
#pragma once

#include <cstddef>

namespace ofs::focus {

using Index = std::ptrdiff_t;

struct ConstFloatImage {
    const float* data = nullptr;
    Index rows = 0, cols = 0, channels = 1;
};

struct FloatImage {
    float* data = nullptr;
    Index rows = 0, cols = 0, channels = 1;
};

// The size of the next-coarser level: (rows + 1) / 2 by (cols + 1) / 2.
inline Index reduced_size(Index size) { return (size + 1) / 2; }

// Index i of a line of n samples, mirrored at both ends without repeating the edge sample
// (-1 -> 1, n -> n - 2), as the binomial kernel expects; clamped to the line beyond that.
inline Index mirror(Index i, Index n) {
    if (n == 1) return 0;
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

// dst = every second pixel of src blurred by the 5x5 binomial kernel. dst must be
// reduced_size(src.rows) x reduced_size(src.cols) with src's channels. Rows are split between
// `threads` threads (the result does not depend on their number).
void reduce(const ConstFloatImage& src, const FloatImage& dst, int threads);

// dst += sign * expand(src), where expand interpolates src to dst's size: dst.rows must be
// 2 * src.rows - 1 or 2 * src.rows, and the same for the columns.
void expand_add(const ConstFloatImage& src, const FloatImage& dst, float sign, int threads);

}  // namespace ofs::focus
