#include "ofs/register/correlation.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "ofs/register/taper.hpp"

namespace ofs {

namespace {

constexpr double pi = 3.14159265358979323846;

bool same_settings(const SpectrumSettings& a, const SpectrumSettings& b) {
    return a.padded_rows == b.padded_rows && a.padded_cols == b.padded_cols &&
           a.high_pass_sigma == b.high_pass_sigma && a.smoothing_sigma == b.smoothing_sigma &&
           a.whiten == b.whiten && a.taper == b.taper;
}

void validate(const ImageView<float>& region, const SpectrumSettings& s) {
    if (region.data == nullptr || region.rows <= 0 || region.cols <= 0)
        throw std::invalid_argument("region must be a non-empty 2-D image");
    if (s.padded_rows < region.rows || s.padded_cols < region.cols)
        throw std::invalid_argument("padded size must be at least the region size");
    if (!(s.whiten >= 0.0 && s.whiten <= 1.0))
        throw std::invalid_argument("whiten must be between 0 and 1");
    if (!(s.high_pass_sigma >= 0.0) || !(s.smoothing_sigma >= 0.0))
        throw std::invalid_argument("filter sigmas must be >= 0");
    if (s.taper < 0) throw std::invalid_argument("taper must be >= 0");
}

// Square root of the frequency filter, high_pass * smoothing, on the half spectrum. Each
// spectrum is multiplied by it, so the cross power carries the whole filter. Cached per size
// and sigmas because every region of a scan shares them.
using FilterKey = std::tuple<int, int, double, double>;

std::shared_ptr<const std::vector<float>> filter_amplitude(int rows, int cols, double high_pass,
                                                           double smoothing) {
    static std::mutex mutex;
    static std::map<FilterKey, std::shared_ptr<const std::vector<float>>> cache;
    const FilterKey key{rows, cols, high_pass, smoothing};
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;

    // Both filters are exp(-2 pi^2 sigma^2 (f_row^2 + f_col^2)) in part, which separates into
    // a row factor times a column factor: one exp per row and column instead of per element.
    const int half_cols = cols / 2 + 1;
    auto separable_gaussian = [](int n, int count, double sigma) {
        std::vector<double> factor(count);
        for (int k = 0; k < count; ++k) {
            const double f = (k <= n / 2 ? k : k - n) / static_cast<double>(n);  // cycles/pixel
            factor[k] = std::exp(-2.0 * pi * pi * sigma * sigma * f * f);
        }
        return factor;
    };
    const auto high_row = separable_gaussian(rows, rows, high_pass);
    const auto high_col = separable_gaussian(cols, half_cols, high_pass);
    const auto smooth_row = separable_gaussian(rows, rows, smoothing);
    const auto smooth_col = separable_gaussian(cols, half_cols, smoothing);

    auto amplitude = std::make_shared<std::vector<float>>(half_spectrum_size(rows, cols));
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < half_cols; ++c) {
            const double high = high_pass > 0.0 ? 1.0 - high_row[r] * high_col[c] : 1.0;
            const double smooth = smooth_row[r] * smooth_col[c];
            (*amplitude)[static_cast<std::size_t>(r) * half_cols + c] =
                static_cast<float>(std::sqrt(std::max(high, 0.0) * smooth));
        }
    }
    cache.emplace(key, amplitude);
    return amplitude;
}

// |v|^(-p) from the squared magnitude, with the common exponents done by square roots, which
// are several times cheaper than pow.
inline float whitening_factor(float magnitude_squared, double p) {
    const float m2 = magnitude_squared + 1e-30f;
    if (p == 0.5) return 1.0f / std::sqrt(std::sqrt(m2));
    if (p == 1.0) return 1.0f / std::sqrt(m2);
    if (p == 0.75) {  // m2^(-3/8) = (m2^(1/8))^-3
        const float root8 = std::sqrt(std::sqrt(std::sqrt(m2)));
        return 1.0f / (root8 * root8 * root8);
    }
    return std::pow(m2, static_cast<float>(-0.5 * p));
}

}  // namespace

Spectrum::Spectrum(int region_rows, int region_cols, const SpectrumSettings& settings)
    : region_rows_(region_rows),
      region_cols_(region_cols),
      settings_(settings),
      values_(allocate_complex(half_spectrum_size(settings.padded_rows, settings.padded_cols))) {}

std::shared_ptr<Spectrum> compute_spectrum(const ImageView<float>& region,
                                           const SpectrumSettings& settings) {
    validate(region, settings);
    const int rows = static_cast<int>(region.rows);
    const int cols = static_cast<int>(region.cols);
    const int padded_rows = settings.padded_rows;
    const int padded_cols = settings.padded_cols;

    // Four running sums instead of one: each addition no longer waits for the previous one,
    // which made this loop cost half as much as the transform.
    double sums[4] = {0.0, 0.0, 0.0, 0.0};
    with_step(region.col_step(), [&](auto col_step) {
        for (int r = 0; r < rows; ++r) {
            const float* in = region.row(r);
            int c = 0;
            for (; c + 4 <= cols; c += 4)
                for (int lane = 0; lane < 4; ++lane) sums[lane] += in[(c + lane) * col_step];
            for (; c < cols; ++c) sums[0] += in[c * col_step];
        }
    });
    const double sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    const float mean = static_cast<float>(sum / (static_cast<double>(rows) * cols));

    const std::vector<float> row_taper = taper_weights(rows, settings.taper);
    const std::vector<float> col_taper = taper_weights(cols, settings.taper);
    // The padded input is scratch that each thread keeps for its next region: a fresh buffer
    // per region cost a quarter of the transform's time in allocation and page faults.
    const std::size_t padded_size = static_cast<std::size_t>(padded_rows) * padded_cols;
    thread_local FloatBuffer padded;
    thread_local std::size_t padded_capacity = 0;
    if (padded_capacity < padded_size) {
        padded = allocate_floats(padded_size);
        padded_capacity = padded_size;
    }
    with_step(region.col_step(), [&](auto col_step) {
        for (int r = 0; r < rows; ++r) {
            const float* in = region.row(r);
            float* out = padded.get() + static_cast<std::size_t>(r) * padded_cols;
            const float weight = row_taper[r];
            for (int c = 0; c < cols; ++c)
                out[c] = (in[c * col_step] - mean) * weight * col_taper[c];
            std::fill(out + cols, out + padded_cols, 0.0f);
        }
    });
    std::fill(padded.get() + static_cast<std::size_t>(rows) * padded_cols,
              padded.get() + padded_size, 0.0f);

    auto spectrum = std::make_shared<Spectrum>(rows, cols, settings);
    forward_transform(padded_rows, padded_cols, padded.get(), spectrum->values());

    const auto amplitude = filter_amplitude(padded_rows, padded_cols, settings.high_pass_sigma,
                                            settings.smoothing_sigma);
    // Plain (re, im) float pairs, and the default exponent fixed outside the loop (so its
    // tests fold away): both let the compiler turn the loop into vector instructions
    // (std::complex arithmetic blocked that).
    float* values = reinterpret_cast<float*>(spectrum->values());
    const float* gain = amplitude->data();
    const std::size_t count = spectrum->size();
    const auto apply = [&](auto whitening) {
        for (std::size_t k = 0; k < count; ++k) {
            const float re = values[2 * k], im = values[2 * k + 1];
            const float factor = gain[k] * whitening(re * re + im * im);
            values[2 * k] = re * factor;
            values[2 * k + 1] = im * factor;
        }
    };
    const double p = settings.whiten;
    if (p == 0.0) {
        apply([](float) { return 1.0f; });
    } else if (p == 0.5) {
        apply([](float m2) { return whitening_factor(m2, 0.5); });
    } else {
        apply([p](float m2) { return whitening_factor(m2, p); });
    }
    return spectrum;
}

float CorrelationSurface::at_shift(int d_row, int d_col) const {
    const int r = ((d_row % rows) + rows) % rows;
    const int c = ((d_col % cols) + cols) % cols;
    return values[static_cast<std::size_t>(r) * cols + c];
}

CorrelationSurface cross_correlate(const Spectrum& a, const Spectrum& b) {
    CorrelationSurface surface;
    cross_correlate(a, b, surface);
    return surface;
}

void cross_correlate(const Spectrum& a, const Spectrum& b, CorrelationSurface& surface) {
    if (!same_settings(a.settings(), b.settings()) || a.region_rows() != b.region_rows() ||
        a.region_cols() != b.region_cols())
        throw std::invalid_argument(
            "spectra differ in region size or settings; compute both with the same settings");
    const int rows = a.settings().padded_rows;
    const int cols = a.settings().padded_cols;
    const std::size_t count = a.size();

    // The inverse transform overwrites its input, so the product lives in a scratch buffer
    // that each thread keeps for the next pair of the same size.
    thread_local ComplexBuffer product;
    thread_local std::size_t product_capacity = 0;
    if (product_capacity < count) {
        product = allocate_complex(count);
        product_capacity = count;
    }
    // Dividing by the number of samples makes values independent of the padding.
    const float scale = 1.0f / (static_cast<float>(rows) * static_cast<float>(cols));
    // a * conj(b) written out on (re, im) pairs: std::complex multiplication checks every
    // product for infinities and NaNs, which also keeps the loop from vectorising.
    const float* va = reinterpret_cast<const float*>(a.values());
    const float* vb = reinterpret_cast<const float*>(b.values());
    float* out = reinterpret_cast<float*>(product.get());
    for (std::size_t k = 0; k < count; ++k) {
        const float ar = va[2 * k], ai = va[2 * k + 1], br = vb[2 * k], bi = vb[2 * k + 1];
        out[2 * k] = (ar * br + ai * bi) * scale;
        out[2 * k + 1] = (ai * br - ar * bi) * scale;
    }

    const std::size_t samples = static_cast<std::size_t>(rows) * cols;
    if (!surface.values || static_cast<std::size_t>(surface.rows) * surface.cols < samples)
        surface.values = allocate_floats(samples);
    surface.rows = rows;
    surface.cols = cols;
    surface.region_rows = a.region_rows();
    surface.region_cols = a.region_cols();
    surface.taper = a.settings().taper;
    inverse_transform(rows, cols, product.get(), surface.values.get());
}

}  // namespace ofs
