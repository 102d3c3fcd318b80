// Laplacian pyramid steps (see pyramid.hpp). Each output row is made from a few input rows in
// two passes: the vertical taps into one buffer row, then the horizontal taps out of it.
#include "ofs/focus/pyramid.hpp"

#include <stdexcept>
#include <vector>

#include "ofs/focus/row_blocks.hpp"

namespace ofs::focus {
namespace {

constexpr float kOuter = 1.0f / 16.0f, kInner = 4.0f / 16.0f, kCentre = 6.0f / 16.0f;

void check_same_channels(const ConstFloatImage& src, const FloatImage& dst) {
    if (src.channels != dst.channels || src.channels < 1)
        throw std::invalid_argument("src and dst must have the same number of channels");
    if (src.rows < 1 || src.cols < 1) throw std::invalid_argument("src must not be empty");
}

}  // namespace

void reduce(const ConstFloatImage& src, const FloatImage& dst, int threads) {
    check_same_channels(src, dst);
    if (dst.rows != reduced_size(src.rows) || dst.cols != reduced_size(src.cols))
        throw std::invalid_argument("dst must be ((rows + 1) / 2, (cols + 1) / 2) of src");
    const Index channels = src.channels, in_width = src.cols * channels;
    for_row_blocks(dst.rows, threads, [&](Index begin, Index end) {
        std::vector<float> blurred(static_cast<std::size_t>(in_width));
        for (Index row = begin; row < end; ++row) {
            const float* taps[5];
            for (Index k = 0; k < 5; ++k)
                taps[k] = src.data + mirror(2 * row + k - 2, src.rows) * in_width;
            for (Index x = 0; x < in_width; ++x)
                blurred[x] = (taps[0][x] + taps[4][x]) * kOuter +
                             (taps[1][x] + taps[3][x]) * kInner + taps[2][x] * kCentre;
            float* out = dst.data + row * dst.cols * channels;
            for (Index col = 0; col < dst.cols; ++col) {
                const Index centre = 2 * col;
                const float* c0 = &blurred[mirror(centre - 2, src.cols) * channels];
                const float* c1 = &blurred[mirror(centre - 1, src.cols) * channels];
                const float* c2 = &blurred[centre * channels];
                const float* c3 = &blurred[mirror(centre + 1, src.cols) * channels];
                const float* c4 = &blurred[mirror(centre + 2, src.cols) * channels];
                for (Index c = 0; c < channels; ++c)
                    out[col * channels + c] =
                        (c0[c] + c4[c]) * kOuter + (c1[c] + c3[c]) * kInner + c2[c] * kCentre;
            }
        }
    });
}

void expand_add(const ConstFloatImage& src, const FloatImage& dst, float sign, int threads) {
    check_same_channels(src, dst);
    const bool rows_fit = dst.rows == 2 * src.rows - 1 || dst.rows == 2 * src.rows;
    const bool cols_fit = dst.cols == 2 * src.cols - 1 || dst.cols == 2 * src.cols;
    if (!rows_fit || !cols_fit)
        throw std::invalid_argument("dst must be (2 rows - 1 or 2 rows, 2 cols - 1 or 2 cols)");
    const Index channels = src.channels, in_width = src.cols * channels;
    // Upsampling by inserting zeros and filtering with 2 x the kernel leaves two phases: an
    // output on an input sample takes (1 6 1) / 8 of its neighbourhood, one between two
    // samples takes their mean.
    for_row_blocks(dst.rows, threads, [&](Index begin, Index end) {
        std::vector<float> line(static_cast<std::size_t>(in_width));
        for (Index row = begin; row < end; ++row) {
            const Index m = row / 2;
            if (row % 2 == 0) {
                const float* above = src.data + mirror(m - 1, src.rows) * in_width;
                const float* centre = src.data + m * in_width;
                const float* below = src.data + mirror(m + 1, src.rows) * in_width;
                for (Index x = 0; x < in_width; ++x)
                    line[x] = (above[x] + below[x]) * 0.125f + centre[x] * 0.75f;
            } else {
                const float* above = src.data + m * in_width;
                const float* below = src.data + (m + 1 < src.rows ? m + 1 : m) * in_width;
                for (Index x = 0; x < in_width; ++x) line[x] = (above[x] + below[x]) * 0.5f;
            }
            float* out = dst.data + row * dst.cols * channels;
            for (Index col = 0; col < dst.cols; ++col) {
                const Index n = col / 2;
                float* pixel = out + col * channels;
                if (col % 2 == 0) {
                    const float* left = &line[mirror(n - 1, src.cols) * channels];
                    const float* centre = &line[n * channels];
                    const float* right = &line[mirror(n + 1, src.cols) * channels];
                    for (Index c = 0; c < channels; ++c)
                        pixel[c] += sign * ((left[c] + right[c]) * 0.125f + centre[c] * 0.75f);
                } else {
                    const float* left = &line[n * channels];
                    const float* right = &line[(n + 1 < src.cols ? n + 1 : n) * channels];
                    for (Index c = 0; c < channels; ++c)
                        pixel[c] += sign * ((left[c] + right[c]) * 0.5f);
                }
            }
        }
    });
}

}  // namespace ofs::focus
