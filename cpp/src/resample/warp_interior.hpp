// The interior of an output row, where every tap of every pixel lies inside the input: no
// checks, no clamping, no branches per pixel. This is where a warp spends its time.
//
// Pixels go in batches, each in phases that compilers turn into vector instructions where
// they can: the positions (double precision, as scipy), the gather (plain copies of the runs of
// samples that neighbouring taps form in memory: the only scalar loads), and the blend, which
// writes into the output row. On x86-64 the same code is compiled a second time for AVX2 (a
// target attribute, no build flag) and chosen at run time: same operations in the same order
// (no FMA), so the same results, twice the vector width.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "warp_detail.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define OFS_WARP_AVX2_VARIANT 1
#endif

namespace ofs::resample::detail {

constexpr int kBatchSamples = 192;  // 64 RGB pixels: the scratch stays in L1
constexpr int kSlack = 16;          // bytes a rounded-up copy may write past a pixel's samples

constexpr int power_of_two_at_least(std::size_t n) {
    int p = 1;
    while (static_cast<std::size_t>(p) < n) p *= 2;
    return p;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kLittleEndian = false;
#else
constexpr bool kLittleEndian = true;
#endif

// Copies one pixel's Count samples. Wide rounds the copy up to a power of two bytes (RGB: one
// move instead of three), reading and writing a few bytes beyond the pixel; the caller has
// checked that the input holds them and the target has kSlack bytes to spare.
template <typename Sample, int Count, bool Wide>
OFS_WARP_INLINE void copy_run(Sample* to, const char* from) {
    constexpr std::size_t exact = Count * sizeof(Sample);
    std::memcpy(to, from, Wide ? power_of_two_at_least(exact) : exact);
}

// Writes `value` to to[0 .. Channels): as one 4-lane store for three channels (the fourth lane
// is overwritten by the next pixel, or is slack), so a pixel costs one store, not three.
template <int Channels>
OFS_WARP_INLINE void repeat_fraction(float* to, float value) {
    if constexpr (Channels == 3) {
        const float four[4] = {value, value, value, value};
        std::memcpy(to, four, sizeof four);
    } else {
        for (int c = 0; c < Channels; ++c) to[c] = value;
    }
}

// Bytes the interior kernels read from the first tap of each footprint row when reads may be
// rounded up (`wide`); interior_body checks, batch by batch, that they stay inside the input.
template <typename Sample, int Channels, Interpolation Kind>
constexpr Index wide_row_bytes() {
    constexpr int pixel = Channels * sizeof(Sample);
    if constexpr (Kind == Interpolation::linear && !std::is_same_v<Sample, float>)
        return (2 * pixel + 3) / 4 * 4;  // linear_colour_words: whole 32-bit words
    return (taps_across(Kind) - 1) * pixel + power_of_two_at_least(pixel);  // copy_run
}

// Input positions of output pixels j0 .. j0 + count - 1 of a row: the byte offset of the
// first tap (floor, or floor(p + 0.5) for nearest, less `first_tap`) and the fractions.
// Strides are passed as int32 (the caller checks they fit) so that the multiplications
// vectorise.
template <Interpolation Kind>
OFS_WARP_INLINE void batch_positions(const RowLine& line, Index j0, int count,
                                     std::int32_t row_stride, std::int32_t col_stride,
                                     Index first_tap, Index* offset, float* ty, float* tx) {
    const double round = Kind == Interpolation::nearest ? 0.5 : 0.0;
    const double* row_term = line.row_term + j0;
    const double* col_term = line.col_term + j0;
    for (int k = 0; k < count; ++k) {
        const double y = line.row_base + row_term[k];
        const double x = line.col_base + col_term[k];
        // Positions are >= 0 here, so truncation is floor; the input is under 2^31 pixels.
        const auto iy = static_cast<std::int32_t>(y + round);
        const auto ix = static_cast<std::int32_t>(x + round);
        offset[k] = static_cast<Index>(iy) * row_stride + static_cast<Index>(ix) * col_stride -
                    first_tap;
        if constexpr (Kind != Interpolation::nearest) {
            ty[k] = static_cast<float>(y - static_cast<double>(iy));
            tx[k] = static_cast<float>(x - static_cast<double>(ix));
        }
    }
}

// One channel: the taps of a footprint row are consecutive samples, copied as one run into
// taps[(k * across + r) * across + t] (pixel k, tap row r, tap column t).
template <typename Sample, Interpolation Kind>
OFS_WARP_INLINE void grey_batch(const WarpJob<Sample>& job, const Index* offset,
                                const float* ty, const float* tx, int count, Sample* result) {
    constexpr int across = taps_across(Kind);
    const Index rs = job.in_row_stride;
    if constexpr (Kind == Interpolation::nearest) {
        for (int k = 0; k < count; ++k) result[k] = sample_at<Sample>(job.in + offset[k]);
    } else if constexpr (Kind == Interpolation::linear && !std::is_same_v<Sample, float>) {
        // Integer samples: each pair of neighbours (a, b) and (c, d) is read as one word of
        // twice the sample's width, and split again with a mask and a shift, which vector
        // units do in place (no shuffles).
        using Pair = std::conditional_t<sizeof(Sample) == 1, std::uint16_t, std::uint32_t>;
        constexpr int bits = 8 * sizeof(Sample);
        constexpr Pair low = (Pair{1} << bits) - 1;
        Pair top[kBatchSamples], bottom[kBatchSamples];
        for (int k = 0; k < count; ++k) {
            const char* p = job.in + offset[k];
            std::memcpy(&top[k], p, sizeof(Pair));  // a, then b
            std::memcpy(&bottom[k], p + rs, sizeof(Pair));
        }
        // Little-endian: a is the low half of its word.
        constexpr int first = kLittleEndian ? 0 : bits, second = bits - first;
        for (int k = 0; k < count; ++k) {
            const auto a = static_cast<float>((top[k] >> first) & low);
            const auto b = static_cast<float>((top[k] >> second) & low);
            const auto c = static_cast<float>((bottom[k] >> first) & low);
            const auto d = static_cast<float>((bottom[k] >> second) & low);
            result[k] = to_sample<Sample>(blend_linear(a, b, c, d, ty[k], tx[k]));
        }
    } else {
        Sample taps[kBatchSamples * across * across];
        for (int k = 0; k < count; ++k) {
            const char* p = job.in + offset[k];
            for (int r = 0; r < across; ++r)
                copy_run<Sample, across, false>(taps + (k * across + r) * across, p + r * rs);
        }
        if constexpr (Kind == Interpolation::linear) {
            for (int k = 0; k < count; ++k) {
                const Sample* t = taps + 4 * k;
                result[k] =
                    to_sample<Sample>(blend_linear(t[0], t[1], t[2], t[3], ty[k], tx[k]));
            }
        } else {
            const float a = job.cubic_a;
            for (int k = 0; k < count; ++k) {
                float wy[4], wx[4], v[16];
                cubic_weights(ty[k], a, wy);
                cubic_weights(tx[k], a, wx);
                for (int q = 0; q < 16; ++q) v[q] = static_cast<float>(taps[16 * k + q]);
                result[k] = to_sample<Sample>(blend_cubic(v, wy, wx));
            }
        }
    }
}

// Bilinear, several channels of integer samples: the neighbours a, b (and c, d below) of a
// pixel are one run of 2 * Channels samples, read at once as whole 32-bit words (RGB 8-bit:
// two words, two bytes past b). The blend takes each sample out of its word with a shift and a
// mask, which vector units do lane by lane: two reads and two writes per pixel instead of four
// and four, and no byte shuffles.
template <typename Sample, int Channels>
OFS_WARP_INLINE void linear_colour_words(const WarpJob<Sample>& job, const Index* offset,
                                         const float* ty, const float* tx, int count,
                                         Sample* result) {
    constexpr int per_word = 4 / sizeof(Sample);
    constexpr int used_words = (2 * Channels + per_word - 1) / per_word;
    constexpr int bits = 8 * sizeof(Sample);
    constexpr std::uint32_t mask = (std::uint32_t{1} << bits) - 1;
    const Index rs = job.in_row_stride;
    std::uint32_t top[kBatchSamples][used_words], bottom[kBatchSamples][used_words];
    for (int k = 0; k < count; ++k) {
        std::memcpy(top[k], job.in + offset[k], sizeof top[k]);
        std::memcpy(bottom[k], job.in + offset[k] + rs, sizeof bottom[k]);
    }
    // Sample i of a run (little-endian: the first sample is the low bits of word 0).
    using Words = std::uint32_t[kBatchSamples][used_words];
    const auto sample = [](const Words& words, int i, int k) {
        const int place = kLittleEndian ? i % per_word : per_word - 1 - i % per_word;
        return static_cast<float>((words[k][i / per_word] >> (place * bits)) & mask);
    };
    for (int k = 0; k < count; ++k)
        for (int c = 0; c < Channels; ++c)
            result[Channels * k + c] = to_sample<Sample>(blend_linear(
                sample(top, c, k), sample(top, Channels + c, k), sample(bottom, c, k),
                sample(bottom, Channels + c, k), ty[k], tx[k]));
}

// Several channels: each tap of the footprint gets its own plane of samples, planes[q][s] for
// sample s = k * Channels + c, and the fractions are repeated per sample, so the blend runs over
// consecutive samples whatever the channel count.
template <typename Sample, int Channels, Interpolation Kind, bool Wide>
OFS_WARP_INLINE void colour_batch(const WarpJob<Sample>& job, const Index* offset,
                                  const float* ty, const float* tx, int count, Sample* result) {
    constexpr int across = taps_across(Kind), taps = across * across;
    constexpr int slack = kSlack / sizeof(Sample);
    const Index rs = job.in_row_stride, cs = job.in_col_stride;
    const int samples = count * Channels;
    if constexpr (Kind == Interpolation::nearest) {
        for (int k = 0; k < count; ++k)
            copy_run<Sample, Channels, Wide>(result + k * Channels, job.in + offset[k]);
    } else if constexpr (Kind == Interpolation::linear && Wide &&
                         !std::is_same_v<Sample, float>) {
        linear_colour_words<Sample, Channels>(job, offset, ty, tx, count, result);
    } else {
        Sample planes[taps][kBatchSamples + slack];
        float fy[kBatchSamples + 4], fx[kBatchSamples + 4];
        for (int k = 0; k < count; ++k) {
            const char* p = job.in + offset[k];
            for (int q = 0; q < taps; ++q)
                copy_run<Sample, Channels, Wide>(planes[q] + k * Channels,
                                                 p + (q / across) * rs + (q % across) * cs);
            if constexpr (Kind == Interpolation::cubic) {
                repeat_fraction<Channels>(fy + k * Channels, ty[k]);
                repeat_fraction<Channels>(fx + k * Channels, tx[k]);
            }
        }
        if constexpr (Kind == Interpolation::linear) {
            for (int k = 0; k < count; ++k)
                for (int c = 0; c < Channels; ++c) {
                    const int s = k * Channels + c;
                    result[s] = to_sample<Sample>(blend_linear(
                        planes[0][s], planes[1][s], planes[2][s], planes[3][s], ty[k], tx[k]));
                }
        } else {
            const float a = job.cubic_a;
            for (int s = 0; s < samples; ++s) {
                float wy[4], wx[4], v[16];
                cubic_weights(fy[s], a, wy);
                cubic_weights(fx[s], a, wx);
                for (int q = 0; q < 16; ++q) v[q] = static_cast<float>(planes[q][s]);
                result[s] = to_sample<Sample>(blend_cubic(v, wy, wx));
            }
        }
    }
}

// The interior pixels [span.begin, span.end) of one output row. The input's pixels are packed
// (channel stride = one sample, column stride = one pixel).
template <typename Sample, int Channels, Interpolation Kind>
OFS_WARP_INLINE void interior_body(const WarpJob<Sample>& job, const RowLine& line, Span span,
                                   char* out_row) {
    constexpr int batch_pixels = kBatchSamples / Channels;
    constexpr auto sample_size = static_cast<Index>(sizeof(Sample));
    const bool packed_out =
        job.out_channel_stride == sample_size && job.out_col_stride == Channels * sample_size;
    const auto row_stride = static_cast<std::int32_t>(job.in_row_stride);
    const auto col_stride = static_cast<std::int32_t>(job.in_col_stride);
    const Index first_tap =
        Kind == Interpolation::cubic ? job.in_row_stride + job.in_col_stride : 0;
    // Rounded-up reads start at most this far into the input: the last footprint row's first
    // tap (the first row's when rows run backwards in memory).
    const Index last_tap_row = std::max<Index>(0, (taps_across(Kind) - 1) * job.in_row_stride);
    const Index wide_limit =
        (job.in_end - job.in) - wide_row_bytes<Sample, Channels, Kind>() - last_tap_row;
    alignas(32) Index offset[batch_pixels];
    alignas(32) float ty[batch_pixels], tx[batch_pixels];
    alignas(32) Sample staged[kBatchSamples + kSlack / sizeof(Sample)];
    // Results go straight into a packed output row, except nearest's rounded-up pixel copies,
    // which would write past the batch.
    const bool direct = packed_out && !(Kind == Interpolation::nearest && Channels > 1);
    for (Index j0 = span.begin; j0 < span.end; j0 += batch_pixels) {
        const int count = static_cast<int>(std::min<Index>(batch_pixels, span.end - j0));
        char* out = out_row + j0 * job.out_col_stride;
        Sample* result = direct ? reinterpret_cast<Sample*>(out) : staged;
        batch_positions<Kind>(line, j0, count, row_stride, col_stride, first_tap, offset, ty, tx);
        if constexpr (Channels == 1) {
            grey_batch<Sample, Kind>(job, offset, ty, tx, count, result);
        } else {
            // Only a batch reaching the input's last bytes needs exact-size reads.
            Index farthest = offset[0];
            for (int k = 1; k < count; ++k) farthest = std::max(farthest, offset[k]);
            if (farthest <= wide_limit)
                colour_batch<Sample, Channels, Kind, true>(job, offset, ty, tx, count, result);
            else
                colour_batch<Sample, Channels, Kind, false>(job, offset, ty, tx, count, result);
        }
        if (direct) continue;
        if (packed_out) {
            std::memcpy(out, staged, static_cast<std::size_t>(count * Channels) * sizeof(Sample));
        } else {
            for (int k = 0; k < count; ++k)
                for (int c = 0; c < Channels; ++c)
                    store<Sample>(out + k * job.out_col_stride + c * job.out_channel_stride,
                                  staged[k * Channels + c]);
        }
    }
}

template <typename Sample, int Channels, Interpolation Kind>
void interior_baseline(const WarpJob<Sample>& job, const RowLine& line, Span span,
                       char* out_row) {
    interior_body<Sample, Channels, Kind>(job, line, span, out_row);
}

#ifdef OFS_WARP_AVX2_VARIANT
template <typename Sample, int Channels, Interpolation Kind>
__attribute__((target("avx2"))) void interior_avx2(const WarpJob<Sample>& job,
                                                   const RowLine& line, Span span,
                                                   char* out_row) {
    interior_body<Sample, Channels, Kind>(job, line, span, out_row);
}

// OFS_NO_AVX2=1 in the environment keeps the baseline kernels (to compare the two).
inline bool use_avx2() {
    static const bool use = [] {
        const char* off = std::getenv("OFS_NO_AVX2");
        return __builtin_cpu_supports("avx2") && !(off && *off && *off != '0');
    }();
    return use;
}
#else
inline bool use_avx2() { return false; }
#endif

template <typename Sample, int Channels, Interpolation Kind>
void interior_pixels(const WarpJob<Sample>& job, const RowLine& line, Span span,
                     char* out_row) {
#ifdef OFS_WARP_AVX2_VARIANT
    if (job.avx2) {
        interior_avx2<Sample, Channels, Kind>(job, line, span, out_row);
        return;
    }
#endif
    interior_baseline<Sample, Channels, Kind>(job, line, span, out_row);
}

}  // namespace ofs::resample::detail
