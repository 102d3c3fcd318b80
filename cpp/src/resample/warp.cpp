// Affine warps: the row loop, the pixels near the input's edges, the whole-pixel copy path and
// the threads. The interior kernels, where the time goes, are in warp_interior.hpp.
#include "ofs/resample/warp.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>
#include <thread>
#include <vector>

#include "warp_detail.hpp"
#include "warp_interior.hpp"

namespace ofs::resample {

namespace {

using detail::Index;
using detail::RowLine;
using detail::Span;
using detail::WarpJob;

// The output columns j in [0, cols) whose input coordinate base + step * (left + j) lies in
// [lo, hi] (or [lo, hi) when `open_hi`). The coordinate is monotone in j, so they form one
// interval: estimated by division, then settled by testing its ends with the exact formula.
Span inside_span(double base, double step, Index left, Index cols, double lo, double hi,
                 bool open_hi) {
    const auto inside = [&](Index j) {
        const double v = base + step * static_cast<double>(left + j);
        return v >= lo && (open_hi ? v < hi : v <= hi);
    };
    if (step == 0.0) return inside(0) ? Span{0, cols} : Span{0, 0};
    const double a = (lo - base) / step - static_cast<double>(left);
    const double b = (hi - base) / step - static_cast<double>(left);
    const double first = std::ceil(std::min(a, b)), last = std::floor(std::max(a, b));
    const auto columns = static_cast<double>(cols);
    // Clamped before converting: the estimate can lie far outside [0, cols).
    Span span;
    span.begin = first > 0 ? (first < columns ? static_cast<Index>(first) : cols) : 0;
    span.end = last >= 0 ? (last < columns ? static_cast<Index>(last) + 1 : cols) : 0;
    span.end = std::max(span.end, span.begin);
    while (span.begin < span.end && !inside(span.begin)) ++span.begin;
    while (span.end > span.begin && !inside(span.end - 1)) --span.end;
    return span;
}

// Interior bounds per interpolation: there every tap lies in the input without clamping.
struct TapMargins {
    double lo;      // position >= lo
    double hi_off;  // position < size - hi_off (<= when closed)
    bool open_hi;
};

constexpr TapMargins margins_of(Interpolation kind) {
    switch (kind) {
        case Interpolation::nearest: return {0.0, 1.0, false};  // floor(p + 0.5) <= size - 1
        case Interpolation::linear: return {0.0, 1.0, true};    // floor(p) + 1 <= size - 1
        case Interpolation::cubic: return {1.0, 2.0, true};     // floor(p) + 2 <= size - 1
    }
    return {0.0, 1.0, false};
}

template <typename Sample, int Channels>
Index channel_count(const WarpJob<Sample>& job) {
    return Channels > 0 ? Channels : job.channels;
}

template <typename Sample, int Channels>
void write_fill(const WarpJob<Sample>& job, char* out) {
    for (Index k = 0; k < channel_count<Sample, Channels>(job); ++k)
        detail::store<Sample>(out + k * job.out_channel_stride, job.fill);
}

// One pixel near or beyond the input's edges (or of a layout the interior kernels do not
// take): positions outside the input take the fill; taps off the input repeat its edge
// samples.
template <typename Sample, int Channels, Interpolation Kind>
void edge_pixel(const WarpJob<Sample>& job, double y, double x, char* out, std::uint8_t* valid) {
    using detail::sample_at;
    const Index rows = job.in_rows, cols = job.in_cols;
    const double last_row = static_cast<double>(rows - 1), last_col = static_cast<double>(cols - 1);
    if (!(y >= 0.0 && y <= last_row && x >= 0.0 && x <= last_col)) {
        write_fill<Sample, Channels>(job, out);
        if (valid) *valid = 0;
        return;
    }
    const Index channels = channel_count<Sample, Channels>(job);
    const Index rs = job.in_row_stride, cs = job.in_col_stride, ks = job.in_channel_stride;
    const Index out_ks = job.out_channel_stride;
    if constexpr (Kind == Interpolation::nearest) {
        const char* p =
            job.in + static_cast<Index>(y + 0.5) * rs + static_cast<Index>(x + 0.5) * cs;
        for (Index k = 0; k < channels; ++k)
            detail::store<Sample>(out + k * out_ks, sample_at<Sample>(p + k * ks));
        if (valid) *valid = 1;
    } else if constexpr (Kind == Interpolation::linear) {
        const auto iy = static_cast<Index>(y), ix = static_cast<Index>(x);  // y, x >= 0
        const float fy = static_cast<float>(y - static_cast<double>(iy));
        const float fx = static_cast<float>(x - static_cast<double>(ix));
        const Index y0 = iy * rs, y1 = std::min(iy + 1, rows - 1) * rs;
        const Index x0 = ix * cs, x1 = std::min(ix + 1, cols - 1) * cs;
        for (Index k = 0; k < channels; ++k) {
            const char* p = job.in + k * ks;
            const float v = detail::blend_linear(
                sample_at<Sample>(p + y0 + x0), sample_at<Sample>(p + y0 + x1),
                sample_at<Sample>(p + y1 + x0), sample_at<Sample>(p + y1 + x1), fy, fx);
            detail::store<Sample>(out + k * out_ks, detail::to_sample<Sample>(v));
        }
        if (valid) *valid = 1;
    } else {
        const auto iy = static_cast<Index>(y), ix = static_cast<Index>(x);
        float wy[4], wx[4];
        detail::cubic_weights(static_cast<float>(y - static_cast<double>(iy)), job.cubic_a, wy);
        detail::cubic_weights(static_cast<float>(x - static_cast<double>(ix)), job.cubic_a, wx);
        Index row_offsets[4], col_offsets[4];
        for (int t = 0; t < 4; ++t) {
            row_offsets[t] = std::clamp<Index>(iy - 1 + t, 0, rows - 1) * rs;
            col_offsets[t] = std::clamp<Index>(ix - 1 + t, 0, cols - 1) * cs;
        }
        for (Index k = 0; k < channels; ++k) {
            float v[16];
            const char* p = job.in + k * ks;
            for (int q = 0; q < 16; ++q)
                v[q] = sample_at<Sample>(p + row_offsets[q / 4] + col_offsets[q % 4]);
            detail::store<Sample>(out + k * out_ks,
                                  detail::to_sample<Sample>(detail::blend_cubic(v, wy, wx)));
        }
        if (valid)
            *valid = y >= 1.0 && y <= last_row - 1.0 && x >= 1.0 && x <= last_col - 1.0;
    }
}

template <typename Sample, int Channels, Interpolation Kind>
void warp_rows(const WarpJob<Sample>& job, Index row_begin, Index row_end) {
    constexpr TapMargins margins = margins_of(Kind);
    const auto sample_size = static_cast<Index>(sizeof(Sample));
    // The interior kernels take packed pixels of 1, 3 or 4 channels and strides that fit
    // int32 (see batch_positions); anything else goes pixel by pixel.
    constexpr Index int32_max = std::numeric_limits<std::int32_t>::max();
    const bool kernels = Channels > 0 && job.in_channel_stride == sample_size &&
                         job.in_col_stride == job.channels * sample_size &&
                         std::abs(job.in_row_stride) <= int32_max && job.in_col_stride <= int32_max;
    const AffineMatrix& m = job.matrix;
    const double last_row = static_cast<double>(job.in_rows - 1);
    const double last_col = static_cast<double>(job.in_cols - 1);
    for (Index i = row_begin; i < row_end; ++i) {
        const auto r = static_cast<double>(job.top + i);
        const RowLine line{m[2] + m[0] * r, m[5] + m[3] * r, job.row_term, job.col_term};
        // Along a row the input position moves on a line, so the pixels inside the input
        // (`inside`) and those whose every tap is inside (`interior`) form two nested spans.
        const auto span_where = [&](double row_lo, double row_hi, double col_lo, double col_hi,
                                    bool open_hi) {
            const Span rows = inside_span(line.row_base, m[1], job.left, job.out_cols, row_lo,
                                          row_hi, open_hi);
            const Span cols = inside_span(line.col_base, m[4], job.left, job.out_cols, col_lo,
                                          col_hi, open_hi);
            const Span both{std::max(rows.begin, cols.begin), std::min(rows.end, cols.end)};
            return both.end > both.begin ? both : Span{0, 0};
        };
        const Span inside = span_where(0.0, last_row, 0.0, last_col, false);
        Span interior = span_where(margins.lo, static_cast<double>(job.in_rows) - margins.hi_off,
                                   margins.lo, static_cast<double>(job.in_cols) - margins.hi_off,
                                   margins.open_hi);
        if (interior.begin >= interior.end) interior = {inside.begin, inside.begin};

        char* out_row = job.out + i * job.out_row_stride;
        std::uint8_t* valid_row = job.valid ? job.valid + i * job.valid_row_stride : nullptr;
        const auto fill = [&](Index begin, Index end) {
            for (Index j = begin; j < end; ++j) {
                write_fill<Sample, Channels>(job, out_row + j * job.out_col_stride);
                if (valid_row) valid_row[j * job.valid_col_stride] = 0;
            }
        };
        const auto edges = [&](Index begin, Index end) {
            for (Index j = begin; j < end; ++j)
                edge_pixel<Sample, Channels, Kind>(
                    job, line.row_at(j), line.col_at(j), out_row + j * job.out_col_stride,
                    valid_row ? valid_row + j * job.valid_col_stride : nullptr);
        };
        fill(0, inside.begin);
        edges(inside.begin, interior.begin);
        if constexpr (Channels > 0) {
            if (kernels) {
                detail::interior_pixels<Sample, Channels, Kind>(job, line, interior, out_row);
                if (valid_row)
                    for (Index j = interior.begin; j < interior.end; ++j)
                        valid_row[j * job.valid_col_stride] = 1;
            } else {
                edges(interior.begin, interior.end);
            }
        } else {
            edges(interior.begin, interior.end);
        }
        edges(interior.end, inside.end);
        fill(inside.end, job.out_cols);
    }
}

// The identity plus a whole-pixel shift: samples are copied, not interpolated.
template <typename Sample>
void copy_rows(const WarpJob<Sample>& job, Interpolation kind, Index row_begin, Index row_end) {
    const auto shift_row = static_cast<Index>(job.matrix[2]);
    const auto shift_col = static_cast<Index>(job.matrix[5]);
    // Output column j copies input column left + j + shift_col when that lies in [0, in_cols).
    const Index first = std::clamp<Index>(-(job.left + shift_col), 0, job.out_cols);
    const Index end = std::clamp<Index>(job.in_cols - (job.left + shift_col), first, job.out_cols);
    const Index channels = job.channels;
    const auto sample = static_cast<Index>(sizeof(Sample));
    const bool packed = job.in_channel_stride == sample && job.out_channel_stride == sample &&
                        job.in_col_stride == channels * sample &&
                        job.out_col_stride == channels * sample;
    for (Index i = row_begin; i < row_end; ++i) {
        char* out_row = job.out + i * job.out_row_stride;
        const Index source_row = job.top + i + shift_row;
        const bool row_inside = source_row >= 0 && source_row < job.in_rows;
        const Index copy_begin = row_inside ? first : job.out_cols;
        const Index copy_end = row_inside ? end : job.out_cols;
        for (Index j = 0; j < copy_begin; ++j)
            write_fill<Sample, 0>(job, out_row + j * job.out_col_stride);
        if (copy_end > copy_begin) {
            const char* in_row = job.in + source_row * job.in_row_stride +
                                 (job.left + copy_begin + shift_col) * job.in_col_stride;
            if (packed) {
                std::memcpy(out_row + copy_begin * job.out_col_stride, in_row,
                            static_cast<std::size_t>((copy_end - copy_begin) * channels * sample));
            } else {
                for (Index j = copy_begin; j < copy_end; ++j) {
                    const char* p = in_row + (j - copy_begin) * job.in_col_stride;
                    char* o = out_row + j * job.out_col_stride;
                    for (Index k = 0; k < channels; ++k)
                        detail::store<Sample>(
                            o + k * job.out_channel_stride,
                            detail::sample_at<Sample>(p + k * job.in_channel_stride));
                }
            }
        }
        for (Index j = copy_end; j < job.out_cols; ++j)
            write_fill<Sample, 0>(job, out_row + j * job.out_col_stride);
        if (job.valid) {
            // The footprint rule of the interpolating path, which gives the same samples here.
            std::uint8_t* valid_row = job.valid + i * job.valid_row_stride;
            const Index margin = kind == Interpolation::cubic ? 1 : 0;
            const bool row_valid = source_row >= margin && source_row <= job.in_rows - 1 - margin;
            for (Index j = 0; j < job.out_cols; ++j) {
                const Index source_col = job.left + j + shift_col;
                valid_row[j * job.valid_col_stride] =
                    row_valid && source_col >= margin && source_col <= job.in_cols - 1 - margin;
            }
        }
    }
}

// Runs work(row_begin, row_end) over blocks of output rows on `threads` threads. Each output
// row is computed by one thread from the same formulas, so the result never depends on the
// thread count.
template <typename Work>
void for_row_blocks(Index rows, int threads, const Work& work) {
    const Index block = 16;
    const Index blocks = (rows + block - 1) / block;
    const Index workers = std::min<Index>(std::max(threads, 1), blocks);
    if (workers <= 1) {
        work(0, rows);
        return;
    }
    std::atomic<Index> next{0};
    const auto worker = [&] {
        for (Index b = next++; b < blocks; b = next++)
            work(b * block, std::min(rows, (b + 1) * block));
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(workers - 1));
    try {
        for (Index t = 1; t < workers; ++t) pool.emplace_back(worker);
    } catch (const std::system_error&) {
        // No more threads to be had: the ones started and this one share the blocks.
    }
    worker();
    for (std::thread& thread : pool) thread.join();
}

template <typename Sample, Interpolation Kind>
void warp_with(const WarpJob<Sample>& job, int threads) {
    const auto run = [&](auto rows_of) {
        for_row_blocks(job.out_rows, threads,
                       [&](Index begin, Index end) { rows_of(job, begin, end); });
    };
    switch (job.channels) {
        case 1: run(warp_rows<Sample, 1, Kind>); break;
        case 3: run(warp_rows<Sample, 3, Kind>); break;
        case 4: run(warp_rows<Sample, 4, Kind>); break;
        default: run(warp_rows<Sample, 0, Kind>); break;
    }
}

// One past the highest byte any sample of the view occupies.
template <typename Sample>
const char* end_of(const ImageView<Sample>& image) {
    Index reach = static_cast<Index>(sizeof(Sample));
    for (const auto& [count, stride] : {std::pair{image.rows, image.row_stride},
                                        std::pair{image.cols, image.col_stride},
                                        std::pair{image.channels, image.channel_stride}})
        reach += std::max<Index>(0, (count - 1) * stride);
    return reinterpret_cast<const char*>(image.data) + reach;
}

}  // namespace

const char* kernel_variant() { return detail::use_avx2() ? "avx2" : "baseline"; }

bool is_integer_translation(const AffineMatrix& m) {
    const auto whole = [](double v) { return std::abs(v) < 0x1p52 && v == std::floor(v); };
    return m[0] == 1.0 && m[1] == 0.0 && m[3] == 0.0 && m[4] == 1.0 && whole(m[2]) &&
           whole(m[5]);
}

template <typename Sample>
void warp_affine(const ImageView<Sample>& input, const AffineMatrix& matrix,
                 const WarpSettings& settings, const WritableImageView<Sample>& output,
                 const WritableImageView<std::uint8_t>& valid) {
    WarpJob<Sample> job;
    job.in = reinterpret_cast<const char*>(input.data);
    job.in_rows = input.rows;
    job.in_cols = input.cols;
    job.in_row_stride = input.row_stride;
    job.in_col_stride = input.col_stride;
    job.in_channel_stride = input.channel_stride;
    job.in_end = end_of(input);
    job.out = reinterpret_cast<char*>(output.data);
    job.out_rows = output.rows;
    job.out_cols = output.cols;
    job.out_row_stride = output.row_stride;
    job.out_col_stride = output.col_stride;
    job.out_channel_stride = output.channel_stride;
    job.valid = valid.data;
    job.valid_row_stride = valid.row_stride;
    job.valid_col_stride = valid.col_stride;
    job.channels = input.channels;
    job.matrix = matrix;
    job.top = settings.top;
    job.left = settings.left;
    // The fill is clamped in double first: a float beyond int32 would not convert.
    const double lowest = static_cast<double>(std::numeric_limits<Sample>::lowest());
    const double highest = static_cast<double>(std::numeric_limits<Sample>::max());
    job.fill = detail::to_sample<Sample>(static_cast<float>(
        std::is_same_v<Sample, float> ? settings.fill
                                      : std::clamp(settings.fill, lowest, highest)));
    job.cubic_a = static_cast<float>(settings.cubic_a);
    job.avx2 = detail::use_avx2();
    if (job.out_rows <= 0 || job.out_cols <= 0) return;
    std::vector<double> row_term(static_cast<std::size_t>(job.out_cols));
    std::vector<double> col_term(row_term.size());
    for (Index j = 0; j < job.out_cols; ++j) {
        row_term[static_cast<std::size_t>(j)] = matrix[1] * static_cast<double>(job.left + j);
        col_term[static_cast<std::size_t>(j)] = matrix[4] * static_cast<double>(job.left + j);
    }
    job.row_term = row_term.data();
    job.col_term = col_term.data();

    if (is_integer_translation(matrix)) {
        for_row_blocks(job.out_rows, settings.threads, [&](Index begin, Index end) {
            copy_rows(job, settings.interpolation, begin, end);
        });
        return;
    }
    switch (settings.interpolation) {
        case Interpolation::nearest:
            warp_with<Sample, Interpolation::nearest>(job, settings.threads);
            break;
        case Interpolation::linear:
            warp_with<Sample, Interpolation::linear>(job, settings.threads);
            break;
        case Interpolation::cubic:
            warp_with<Sample, Interpolation::cubic>(job, settings.threads);
            break;
    }
}

template void warp_affine<std::uint8_t>(const ImageView<std::uint8_t>&, const AffineMatrix&,
                                        const WarpSettings&,
                                        const WritableImageView<std::uint8_t>&,
                                        const WritableImageView<std::uint8_t>&);
template void warp_affine<std::uint16_t>(const ImageView<std::uint16_t>&, const AffineMatrix&,
                                         const WarpSettings&,
                                         const WritableImageView<std::uint16_t>&,
                                         const WritableImageView<std::uint8_t>&);
template void warp_affine<float>(const ImageView<float>&, const AffineMatrix&,
                                 const WarpSettings&, const WritableImageView<float>&,
                                 const WritableImageView<std::uint8_t>&);

}  // namespace ofs::resample
