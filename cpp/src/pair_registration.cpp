#include "ofs/pair_registration.hpp"

#include <vector>

namespace ofs {

PairRegistration register_regions(const Spectrum& spectrum_a, const Spectrum& spectrum_b,
                                  const ImageView& a, const ImageView& b, const PeakSearch& search,
                                  int max_candidates, CorrelationSurface& surface) {
    PairRegistration result;
    cross_correlate(spectrum_a, spectrum_b, surface);
    const std::vector<PeakCandidate> candidates = peak_candidates(surface, search, max_candidates);
    if (candidates.empty()) return result;

    std::size_t chosen = 0;
    double best_r = -2.0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        const double r = overlap_pearson(a, b, candidates[k].row, candidates[k].col);
        if (r > best_r) {  // ties keep the higher correlation peak (earlier in the list)
            best_r = r;
            chosen = k;
        }
    }
    result.peak = peak_from_candidate(surface, candidates, chosen);
    result.pearson_r = best_r;
    return result;
}

}  // namespace ofs
