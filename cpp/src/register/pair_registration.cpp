#include "ofs/register/pair_registration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace ofs {

namespace {
constexpr double kClearlyBetterR = 0.05;

// Pixels of two equal-size regions that overlap at shift (d_row, d_col).
double overlap_pixels(const ImageView<float>& b, int d_row, int d_col) {
    const double rows = std::max<std::ptrdiff_t>(0, b.rows - std::abs(d_row));
    const double cols = std::max<std::ptrdiff_t>(0, b.cols - std::abs(d_col));
    return rows * cols;
}

// The choice when candidates span very different overlaps (a search without a hint): the one
// whose pixels agree most significantly, by Fisher's z of its Pearson r times sqrt(n - 3)
// (the z-score of r against no correlation). At equal r, a match shared by 40,000 pixels
// scores about 12 times one shared by 300, where r alone would call them equal.
PairRegistration choose_by_evidence(const CorrelationSurface& surface,
                                    const std::vector<PeakCandidate>& candidates,
                                    const ImageView<float>& a, const ImageView<float>& b) {
    std::vector<double> r(candidates.size()), score(candidates.size());
    std::size_t best = 0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        r[k] = overlap_pearson(a, b, candidates[k].row, candidates[k].col);
        const double n = overlap_pixels(b, candidates[k].row, candidates[k].col);
        score[k] =
            std::atanh(std::clamp(r[k], -0.9999, 0.9999)) * std::sqrt(std::max(n - 3.0, 1.0));
        if (score[k] > score[best]) best = k;
    }
    // The peak ratio is the chosen evidence over the runner-up's, on the same scale: a match
    // that stands out from every other shift scores well above 1; on noisy or featureless
    // images, where some wrong shift agrees nearly as significantly, it falls towards 1, so
    // the quality drops and a wrong choice is flagged rather than trusted.
    PairRegistration result;
    result.peak = peak_from_candidate(surface, candidates, best, {});
    double runner_up = 0.0;
    for (std::size_t k = 0; k < candidates.size(); ++k)
        if (k != best) runner_up = std::max(runner_up, score[k]);
    result.peak.peak_ratio = score[best] <= 0.0 ? 0.0
                             : runner_up > 0.0  ? score[best] / runner_up
                                                : 1e6;
    result.pearson_r = r[best];
    return result;
}
}  // namespace

PairRegistration register_regions(const Spectrum& spectrum_a, const Spectrum& spectrum_b,
                                  const ImageView<float>& a, const ImageView<float>& b,
                                  const PeakSearch& search, int max_candidates,
                                  CorrelationSurface& surface) {
    PairRegistration result;
    cross_correlate(spectrum_a, spectrum_b, surface);
    const std::vector<PeakCandidate> candidates = peak_candidates(surface, search, max_candidates);
    if (candidates.empty()) return result;
    if (search.rank_by_evidence) return choose_by_evidence(surface, candidates, a, b);

    // Ranking samples every other row and column: four times cheaper, and plenty to tell a
    // match (r near 1) from a coincidence.
    const int ranking_step = candidates.size() > 1 ? 2 : 1;
    std::vector<double> r(candidates.size());
    std::size_t best = 0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        r[k] = overlap_pearson(a, b, candidates[k].row, candidates[k].col, 64, ranking_step);
        if (r[k] > r[best]) best = k;  // ties keep the higher peak (earlier in the list)
    }
    // Pixel agreement only overrules the correlation when it is clearly better: on smooth
    // content, neighbouring maxima of one broad peak have nearly equal r, and there the
    // filtered correlation locates the match more precisely.
    const std::size_t chosen = r[best] - r[0] >= kClearlyBetterR ? best : 0;
    // Only maxima whose pixels agree about as well as the chosen one's make it ambiguous; the
    // others are coincidences of the filtered correlation, already ruled out by r.
    std::vector<bool> competing(candidates.size());
    for (std::size_t k = 0; k < candidates.size(); ++k)
        competing[k] = r[k] >= r[chosen] - kClearlyBetterR;
    result.peak = peak_from_candidate(surface, candidates, chosen, competing);
    result.pearson_r = ranking_step == 1 ? r[chosen]
                                         : overlap_pearson(a, b, result.peak.integer_row,
                                                           result.peak.integer_col);
    return result;
}

}  // namespace ofs
