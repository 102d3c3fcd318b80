#include "ofs/pair_registration.hpp"

#include <vector>

namespace ofs {

namespace {
constexpr double kClearlyBetterR = 0.05;
}  // namespace

PairRegistration register_regions(const Spectrum& spectrum_a, const Spectrum& spectrum_b,
                                  const ImageView& a, const ImageView& b, const PeakSearch& search,
                                  int max_candidates, CorrelationSurface& surface) {
    PairRegistration result;
    cross_correlate(spectrum_a, spectrum_b, surface);
    const std::vector<PeakCandidate> candidates = peak_candidates(surface, search, max_candidates);
    if (candidates.empty()) return result;

    // Ranking samples every other row and column: four times cheaper, and plenty to tell a
    // match (r near 1) from a coincidence.
    const int ranking_step = candidates.size() > 1 ? 2 : 1;
    std::size_t chosen = 0;
    double best_r = -2.0, highest_peak_r = -2.0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        const double r = overlap_pearson(a, b, candidates[k].row, candidates[k].col, 64, ranking_step);
        if (k == 0) highest_peak_r = r;
        if (r > best_r) {  // ties keep the higher correlation peak (earlier in the list)
            best_r = r;
            chosen = k;
        }
    }
    // Pixel agreement only overrules the correlation when it is clearly better: on smooth
    // content, neighbouring maxima of one broad peak have nearly equal r, and there the
    // filtered correlation locates the match more precisely.
    if (best_r - highest_peak_r < kClearlyBetterR) {
        chosen = 0;
        best_r = highest_peak_r;
    }
    result.peak = peak_from_candidate(surface, candidates, chosen);
    result.pearson_r = ranking_step == 1 ? best_r
                                         : overlap_pearson(a, b, result.peak.integer_row,
                                                           result.peak.integer_col);
    return result;
}

}  // namespace ofs
