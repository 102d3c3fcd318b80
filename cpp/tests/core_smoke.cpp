// A smoke test of the pure C++ core, for builds that cannot run the Python suite (cross builds
// for ARM run under emulation): register a pair with a known half-pixel shift, then place a few
// tiles. It prints its results and exits non-zero when a result is wrong, so the same program
// checks one build alone and, by comparing printouts, one build against another
// (scripts/arm_smoke.sh compares each ARM build with the machine's own).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "ofs/correlation.hpp"
#include "ofs/fft_plans.hpp"
#include "ofs/pair_registration.hpp"
#include "ofs/peak.hpp"
#include "ofs/placement.hpp"

namespace {

int failures = 0;

void expect_near(const char* what, double value, double truth, double tolerance) {
    const bool ok = std::fabs(value - truth) <= tolerance;
    std::printf("%-34s %10.4f  (truth %.4f, tolerance %.4f)%s\n", what, value, truth, tolerance,
                ok ? "" : "  WRONG");
    if (!ok) ++failures;
}

// A smooth random texture at twice the tiles' resolution, from integers only (a fixed linear
// congruential generator and box sums), so every build of this program sees the same pixels.
std::vector<std::int64_t> fine_texture(int rows, int cols) {
    std::vector<std::int64_t> noise(static_cast<std::size_t>(rows) * cols);
    std::uint32_t state = 12345u;
    for (auto& value : noise) {
        state = state * 1664525u + 1013904223u;
        value = static_cast<std::int64_t>(state >> 24);  // 0..255
    }
    // Two passes of a 7x7 box sum: features a few fine pixels wide, like a microscope sample.
    std::vector<std::int64_t> smooth(noise.size());
    for (int pass = 0; pass < 2; ++pass) {
        for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < cols; ++c) {
                std::int64_t sum = 0;
                for (int dr = -3; dr <= 3; ++dr) {
                    for (int dc = -3; dc <= 3; ++dc) {
                        const int rr = (r + dr + rows) % rows, cc = (c + dc + cols) % cols;
                        sum += noise[static_cast<std::size_t>(rr) * cols + cc];
                    }
                }
                smooth[static_cast<std::size_t>(r) * cols + c] = sum;
            }
        }
        noise.swap(smooth);
    }
    return noise;
}

// One tile: the mean of 2x2 blocks of the fine texture from a fine-pixel offset. An odd offset
// shifts the tile by half a tile pixel.
std::vector<float> tile(const std::vector<std::int64_t>& fine, int fine_cols, int fine_row,
                        int fine_col, int rows, int cols) {
    std::vector<float> pixels(static_cast<std::size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            std::int64_t sum = 0;
            for (int i = 0; i < 2; ++i) {
                for (int j = 0; j < 2; ++j) {
                    sum += fine[static_cast<std::size_t>(fine_row + 2 * r + i) * fine_cols +
                                fine_col + 2 * c + j];
                }
            }
            // Exact in float: the sums stay far below 2^24 and the divisor is a power of two.
            pixels[static_cast<std::size_t>(r) * cols + c] = static_cast<float>(sum) / 4096.0f;
        }
    }
    return pixels;
}

ofs::ImageView view(const std::vector<float>& pixels, int rows, int cols) {
    return ofs::ImageView{pixels.data(), rows, cols, cols, 1};
}

void register_known_shift() {
    const int rows = 128, cols = 160;
    const int fine_rows = 2 * rows + 64, fine_cols = 2 * cols + 64;
    const std::vector<std::int64_t> fine = fine_texture(fine_rows, fine_cols);
    // b[y, x] = a[y + 10.5, x - 7]: b starts 21 fine rows below a and 14 fine columns left of it.
    const std::vector<float> a = tile(fine, fine_cols, 8, 40, rows, cols);
    const std::vector<float> b = tile(fine, fine_cols, 8 + 21, 40 - 14, rows, cols);

    ofs::SpectrumSettings settings;
    settings.padded_rows = ofs::fast_fft_size(2 * rows - 1);
    settings.padded_cols = ofs::fast_fft_size(2 * cols - 1);
    // The Python API's defaults (ofs_stitch.core.registration).
    settings.high_pass_sigma = 2.0;
    settings.smoothing_sigma = 1.0;
    settings.whiten = 0.5;
    settings.taper = 16;
    const auto spectrum_a = ofs::compute_spectrum(view(a, rows, cols), settings);
    const auto spectrum_b = ofs::compute_spectrum(view(b, rows, cols), settings);

    // As the stitching pipeline searches: near the stage's guess, here 2.5 px off the truth.
    ofs::PeakSearch search;
    search.has_expected = true;
    search.expected_row = 12.0;
    search.expected_col = -5.0;
    search.radius = 10.0;
    ofs::CorrelationSurface surface;
    const ofs::PairRegistration result = ofs::register_regions(
        *spectrum_a, *spectrum_b, view(a, rows, cols), view(b, rows, cols), search, 16, surface);

    std::printf("register_regions: found %d, integer shift (%d, %d), gaussian fit %d\n",
                result.peak.found ? 1 : 0, result.peak.integer_row, result.peak.integer_col,
                result.peak.gaussian_fit ? 1 : 0);
    if (!result.peak.found) ++failures;
    expect_near("shift row (px)", result.peak.row, 10.5, 0.1);
    expect_near("shift col (px)", result.peak.col, -7.0, 0.1);
    expect_near("pearson r", result.pearson_r, 1.0, 0.1);
    std::printf("%-34s %10.4f\n", "peak ratio", result.peak.peak_ratio);
}

void place_tiles() {
    // A 2x2 grid 100 px apart with slightly inconsistent measurements, one wrong measurement
    // that the Huber loss must down-weight, and one stage prior that fixes the translation.
    const std::vector<ofs::Displacement> measured = {
        {0, 1, 0.2, 100.1, 1.0},  {2, 3, -0.1, 99.8, 1.0}, {0, 2, 100.3, -0.2, 1.0},
        {1, 3, 99.9, 0.1, 1.0},   {0, 3, 100.0, 100.0, 1.0}, {1, 2, 130.0, -70.0, 1.0},
    };
    const std::vector<ofs::Prior> priors = {{0, 5.0, 7.0, 1.0}};
    ofs::SolveSettings settings;
    settings.loss = ofs::RobustLoss::huber;
    settings.robust_scale = 1.0;
    const ofs::Placement placement = ofs::solve_positions(4, measured, priors, settings);

    std::printf("solve_positions: converged %d\n", placement.converged ? 1 : 0);
    if (!placement.converged) ++failures;
    const double truth[4][2] = {{5.0, 7.0}, {5.0, 107.0}, {105.0, 7.0}, {105.0, 107.0}};
    for (int t = 0; t < 4; ++t) {
        char label[64];
        std::snprintf(label, sizeof label, "tile %d row (px)", t);
        expect_near(label, placement.positions[2 * t], truth[t][0], 1.0);
        std::snprintf(label, sizeof label, "tile %d col (px)", t);
        expect_near(label, placement.positions[2 * t + 1], truth[t][1], 1.0);
    }
    expect_near("weight of the wrong pair", placement.robust_weights[5], 0.0, 0.1);
}

}  // namespace

int main() {
    register_known_shift();
    place_tiles();
    std::printf("%s\n", failures == 0 ? "core smoke: all results right" : "core smoke: WRONG");
    return failures == 0 ? 0 : 1;
}
