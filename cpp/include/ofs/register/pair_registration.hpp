// One pair, start to finish: correlate two spectra, pick the peak, fit it, judge it.
#pragma once

#include "ofs/image/image_view.hpp"
#include "ofs/register/correlation.hpp"
#include "ofs/register/peak.hpp"

namespace ofs {

struct PairRegistration {
    Peak peak;
    double pearson_r = 0.0;  // Pearson r of the overlapping pixels at the chosen integer shift
};

// The correlation's few highest local maxima are re-ranked by the Pearson r of the pixels they
// would overlap: an unnormalised correlation favours shifts with more overlap, so on small or
// repetitive overlaps the highest maximum is not always the match, while the true match is the
// one whose pixels agree. With search.rank_by_evidence (a search without a hint, over overlaps
// of every size) the choice is the most significant agreement instead, Fisher's z of r times
// sqrt(overlap pixels - 3), and the peak ratio that evidence over the runner-up's. `surface`
// is scratch space, reused between calls.
PairRegistration register_regions(const Spectrum& spectrum_a, const Spectrum& spectrum_b,
                                  const ImageView<float>& a, const ImageView<float>& b,
                                  const PeakSearch& search, int max_candidates,
                                  CorrelationSurface& surface);

}  // namespace ofs
