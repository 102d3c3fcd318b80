// Padded, filtered cross-correlation of two equal-size regions.
//
// All filtering is folded into each region's spectrum, so one spectrum serves every pair that
// region takes part in, and a pair costs one complex product and one inverse FFT:
//   cross power = (A * sqrt(F) / |A|^p) * conj(B * sqrt(F) / |B|^p)
//               = F * A conj(B) / (|A| |B|)^p
// where F = high_pass * smoothing is the frequency filter and p the whitening exponent.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ofs/fft/fft_plans.hpp"
#include "ofs/image/image_view.hpp"

namespace ofs {

struct SpectrumSettings {
    // FFT size; must be >= the region size. 2 * size - 1 removes all wrap-around ambiguity;
    // size + max_shift is enough for shifts up to max_shift.
    int padded_rows = 0;
    int padded_cols = 0;
    // OpenFlexure's high-pass 1 - exp(-2 pi^2 sigma^2 |f|^2), sigma in pixels; 0 disables it.
    double high_pass_sigma = 0.0;
    // Gaussian low-pass exp(-2 pi^2 s^2 |f|^2) on the cross power: it makes the correlation peak
    // a well-sampled Gaussian, which the sub-pixel fit assumes, and suppresses pixel noise.
    double smoothing_sigma = 0.0;
    // Partial spectral whitening exponent p in [0, 1]: 0 = plain correlation, 1 = phase
    // correlation.
    double whiten = 0.0;
    // Width in pixels of the raised-cosine taper applied at each edge after mean subtraction
    // (0 = none). Tapering removes the region border's own correlation peak at zero shift.
    int taper = 0;
};

// The filtered half spectrum of one region, ready to be correlated with any other spectrum that
// was computed with the same settings.
class Spectrum {
  public:
    Spectrum(int region_rows, int region_cols, const SpectrumSettings& settings);

    int region_rows() const { return region_rows_; }
    int region_cols() const { return region_cols_; }
    const SpectrumSettings& settings() const { return settings_; }
    const Complex* values() const { return values_.get(); }
    Complex* values() { return values_.get(); }
    std::size_t size() const { return half_spectrum_size(settings_.padded_rows, settings_.padded_cols); }

  private:
    int region_rows_;
    int region_cols_;
    SpectrumSettings settings_;
    ComplexBuffer values_;
};

// Mean-subtract, taper, zero-pad, transform and filter one region.
std::shared_ptr<Spectrum> compute_spectrum(const ImageView<float>& region,
                                           const SpectrumSettings& settings);

// A correlation surface in FFT order: element (r, c) holds the correlation at shift
// (r, c) modulo (rows, cols), that is shift r for r < rows / 2 and r - rows above.
struct CorrelationSurface {
    int rows = 0;
    int cols = 0;
    int region_rows = 0;  // size of the correlated regions (for the valid shift range)
    int region_cols = 0;
    int taper = 0;
    FloatBuffer values;

    float at_shift(int d_row, int d_col) const;
};

// corr(s) = sum_x a(x + s) b(x), filtered: its peak is at s = d when b(x) = a(x + d).
// Throws std::invalid_argument when the spectra were made with different sizes or settings.
CorrelationSurface cross_correlate(const Spectrum& a, const Spectrum& b);
// The same into an existing surface, reusing its buffer when large enough (no allocation per
// pair in loops over many pairs).
void cross_correlate(const Spectrum& a, const Spectrum& b, CorrelationSurface& surface);

}  // namespace ofs
