#include "ofs/register/pair_registration.hpp"

#include <vector>

namespace ofs {

namespace {
constexpr double kClearlyBetterR = 0.05;
}  // namespace

PairRegistration register_regions(const Spectrum& spectrum_a, const Spectrum& spectrum_b,
                                  const ImageView<float>& a, const ImageView<float>& b,
                                  const PeakSearch& search, int max_candidates,
                                  CorrelationSurface& surface) {
    PairRegistration result;
    cross_correlate(spectrum_a, spectrum_b, surface);
    const std::vector<PeakCandidate> candidates = peak_candidates(surface, search, max_candidates);
    if (candidates.empty()) return result;

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
