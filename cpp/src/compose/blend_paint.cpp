#include "ofs/compose/blend_paint.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace ofs {
namespace {

// Tile coordinates this close outside the tile still count as inside: the affine map of a
// whole-pixel placement may carry rounding of a few ulps.
constexpr double kInsideTolerance = 1e-6;
constexpr double kPi = 3.14159265358979323846;

// The weight of tile coordinate u along an axis of n pixels, or -1 when u is outside the tile.
double axis_weight(double u, std::int64_t n, BlendRule rule) {
    if (u < -kInsideTolerance || u > static_cast<double>(n - 1) + kInsideTolerance) return -1.0;
    u = std::clamp(u, 0.0, static_cast<double>(n - 1));
    switch (rule) {
        case BlendRule::feather:
            return std::min(u + 1.0, static_cast<double>(n) - u);
        case BlendRule::cosine: {
            const double s = std::sin(kPi * (u + 1.0) / static_cast<double>(n + 1));
            return s * s;
        }
        default:
            return 1.0;
    }
}

// Adds `value` with weight `w` into pixel `at` of the buffers.
template <typename Sample>
inline void add_pixel(const BlendBuffers& b, std::int64_t at, const Sample* in,
                      std::ptrdiff_t channel_step, float gain, float w, BlendRule rule) {
    float* total = b.total + at * b.channels;
    if (rule == BlendRule::max) {
        for (int c = 0; c < b.channels; ++c)
            total[c] = std::max(total[c], static_cast<float>(in[c * channel_step]) * gain);
        b.weight[at] = 1.0f;
        return;
    }
    for (int c = 0; c < b.channels; ++c)
        total[c] += static_cast<float>(in[c * channel_step]) * gain * w;
    b.weight[at] += w;
}

}  // namespace

template <typename Sample>
void add_patch(const BlendBuffers& buffers, const PlacedPatch<Sample>& patch, BlendRule rule) {
    const ImageView<Sample>& px = patch.pixels;
    if (patch.top < 0 || patch.left < 0 || patch.top + px.rows > buffers.rows ||
        patch.left + px.cols > buffers.cols)
        throw std::invalid_argument("the patch reaches outside the chunk");
    if (px.channels != buffers.channels)
        throw std::invalid_argument("the patch and the chunk have different channel counts");
    const std::ptrdiff_t col_step = px.col_step(), channel_step = px.channel_step();
    // Translations and scalings (u depends on the row only, v on the column only): the column
    // weights are the same on every row, so they are computed once.
    const bool separable = patch.du_dj == 0.0 && patch.dv_di == 0.0;
    std::vector<float> col_weight;
    if (separable) {
        col_weight.resize(static_cast<std::size_t>(px.cols));
        for (std::int64_t j = 0; j < px.cols; ++j)
            col_weight[static_cast<std::size_t>(j)] = static_cast<float>(
                axis_weight(patch.v0 + static_cast<double>(j) * patch.dv_dj, patch.tile_cols, rule));
    }
    for (std::int64_t i = 0; i < px.rows; ++i) {
        const Sample* in = px.row(i);
        const std::int64_t first = (patch.top + i) * buffers.cols + patch.left;
        if (separable) {
            const double row_w =
                axis_weight(patch.u0 + static_cast<double>(i) * patch.du_di, patch.tile_rows, rule);
            if (row_w < 0) continue;
            const float rw = static_cast<float>(row_w);
            for (std::int64_t j = 0; j < px.cols; ++j, in += col_step) {
                const float cw = col_weight[static_cast<std::size_t>(j)];
                if (cw < 0) continue;
                add_pixel(buffers, first + j, in, channel_step, patch.gain, rw * cw, rule);
            }
            continue;
        }
        for (std::int64_t j = 0; j < px.cols; ++j, in += col_step) {
            const double u = patch.u0 + static_cast<double>(i) * patch.du_di +
                             static_cast<double>(j) * patch.du_dj;
            const double v = patch.v0 + static_cast<double>(i) * patch.dv_di +
                             static_cast<double>(j) * patch.dv_dj;
            const double wu = axis_weight(u, patch.tile_rows, rule);
            const double wv = axis_weight(v, patch.tile_cols, rule);
            if (wu < 0 || wv < 0) continue;
            add_pixel(buffers, first + j, in, channel_step, patch.gain,
                      static_cast<float>(wu * wv), rule);
        }
    }
}

template <typename Out>
void finish_blend(const BlendBuffers& buffers, Out* out, std::uint8_t* covered, double max_value) {
    const std::int64_t pixels = buffers.rows * buffers.cols;
    const float top = static_cast<float>(max_value);
    for (std::int64_t p = 0; p < pixels; ++p) {
        const float w = buffers.weight[p];
        const float* total = buffers.total + p * buffers.channels;
        Out* target = out + p * buffers.channels;
        covered[p] = w > 0.0f ? 1 : 0;
        for (int c = 0; c < buffers.channels; ++c) {
            if (!(w > 0.0f)) {
                target[c] = Out(0);
                continue;
            }
            const float value = std::floor(total[c] / w + 0.5f);
            target[c] = static_cast<Out>(std::clamp(value, 0.0f, top));
        }
    }
}

// One output row from two whole input rows `a` and `b` of interleaved samples: the 2 x 2
// means of the first `pairs` column pairs, (sum + 2) / 4 as the general loop rounds. Kept
// apart and free of strides so that the compiler vectorises it: on a 2048^2 uint16 block the
// general loop below takes 2.7 ns a pixel (given strided columns), this one 0.9 ns (the
// halving was the largest share of a fusion's CPU once the tiles were read directly).
template <typename Sample>
void halve_row_pairs(const Sample* a, const Sample* b, Sample* out, std::int64_t pairs,
                     std::int64_t channels) {
    if (channels == 1) {
        for (std::int64_t c = 0; c < pairs; ++c) {
            const std::uint32_t sum = std::uint32_t(a[2 * c]) + a[2 * c + 1] + b[2 * c] +
                                      b[2 * c + 1];
            out[c] = static_cast<Sample>((sum + 2) >> 2);
        }
        return;
    }
    for (std::int64_t c = 0; c < pairs; ++c) {
        const Sample* a0 = a + 2 * c * channels;
        const Sample* b0 = b + 2 * c * channels;
        for (std::int64_t ch = 0; ch < channels; ++ch) {
            const std::uint32_t sum = std::uint32_t(a0[ch]) + a0[channels + ch] + b0[ch] +
                                      b0[channels + ch];
            out[c * channels + ch] = static_cast<Sample>((sum + 2) >> 2);
        }
    }
}

template <typename Sample>
void halve_by_means(const ImageView<Sample>& in, Sample* out) {
    const std::int64_t rows = (in.rows + 1) / 2, cols = (in.cols + 1) / 2;
    const std::ptrdiff_t col_step = in.col_step(), channel_step = in.channel_step();
    const std::int64_t channels = in.channels;
    // Samples interleaved within each row (any row stride): the fast path's layout.
    const bool interleaved = channel_step == 1 && col_step == channels;
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t r0 = 2 * r, r_count = std::min<std::int64_t>(2, in.rows - r0);
        std::int64_t first = 0;  // the first output column the general loop makes
        if (interleaved && r_count == 2) {
            first = in.cols / 2;
            halve_row_pairs(in.row(r0), in.row(r0 + 1), out + r * cols * channels, first,
                            channels);
        }
        for (std::int64_t c = first; c < cols; ++c) {
            const std::int64_t c0 = 2 * c, c_count = std::min<std::int64_t>(2, in.cols - c0);
            const std::uint32_t count = static_cast<std::uint32_t>(r_count * c_count);
            for (std::int64_t ch = 0; ch < channels; ++ch) {
                std::uint64_t sum = 0;
                for (std::int64_t dr = 0; dr < r_count; ++dr) {
                    const Sample* row = in.row(r0 + dr) + ch * channel_step;
                    for (std::int64_t dc = 0; dc < c_count; ++dc) sum += row[(c0 + dc) * col_step];
                }
                out[(r * cols + c) * channels + ch] = static_cast<Sample>((sum + count / 2) / count);
            }
        }
    }
}

template void add_patch<std::uint8_t>(const BlendBuffers&, const PlacedPatch<std::uint8_t>&,
                                      BlendRule);
template void add_patch<std::uint16_t>(const BlendBuffers&, const PlacedPatch<std::uint16_t>&,
                                       BlendRule);
template void add_patch<float>(const BlendBuffers&, const PlacedPatch<float>&, BlendRule);
template void finish_blend<std::uint8_t>(const BlendBuffers&, std::uint8_t*, std::uint8_t*,
                                         double);
template void finish_blend<std::uint16_t>(const BlendBuffers&, std::uint16_t*, std::uint8_t*,
                                          double);
template void halve_by_means<std::uint8_t>(const ImageView<std::uint8_t>&, std::uint8_t*);
template void halve_by_means<std::uint16_t>(const ImageView<std::uint16_t>&, std::uint16_t*);

}  // namespace ofs
