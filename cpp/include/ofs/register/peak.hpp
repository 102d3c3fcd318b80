// Locating the correlation peak to sub-pixel precision, and judging how trustworthy it is.
#pragma once

#include <cstdint>
#include <vector>

#include "ofs/image/image_view.hpp"
#include "ofs/register/correlation.hpp"

namespace ofs {

struct PeakSearch {
    // Restrict the search to shifts within `radius` pixels of `expected` (radius <= 0: anywhere).
    bool has_expected = false;
    double expected_row = 0.0;
    double expected_col = 0.0;
    double radius = 0.0;
    // Shifts whose overlap is smaller than this fraction of the region are never peaks: tiny
    // overlaps give large, meaningless correlations after filtering.
    double min_overlap_fraction = 0.05;
    // Local maxima closer than this (in each axis) to a higher one are the same peak.
    int exclusion_radius = 4;
    // Rank candidates by the evidence their overlap holds rather than by their overlap-
    // normalised height. Without a hint the search spans overlaps from the whole image down to
    // slivers, and normalising by the overlap lets a few hundred noisy pixels that agree by
    // chance outrank tens of thousands that agree for real: see PeakCandidate::evidence.
    bool rank_by_evidence = false;
};

struct Peak {
    bool found = false;
    int integer_row = 0;  // shift of the chosen sample
    int integer_col = 0;
    double row = 0.0;  // sub-pixel shift
    double col = 0.0;
    bool gaussian_fit = false;  // false: the fit was impossible and a parabola was used
    float height = 0.0f;
    // The peak's height over the highest competing local maximum, both divided by their
    // overlap weight (so a large-overlap shift does not win by area alone). Large for a
    // distinct peak, near 1 when another shift fits about as well.
    double peak_ratio = 0.0;
};

// A local maximum of the surface inside the search domain.
struct PeakCandidate {
    int row = 0;
    int col = 0;
    float height = 0.0f;
    double normalised_height = 0.0;  // height / overlap weight at this shift
    // height / sqrt(overlap weight): the correlation's signal-to-noise ratio when the filtered
    // pixels are about equally noisy everywhere (signal grows with the overlap, noise with its
    // square root), so a shift supported by 100 times the pixels needs a tenth of the
    // normalised height to compete.
    double evidence = 0.0;
};

// Up to `max_candidates` positive local maxima of the overlap-normalised surface, highest
// first (highest evidence first with search.rank_by_evidence), at least `exclusion_radius` apart.
std::vector<PeakCandidate> peak_candidates(const CorrelationSurface& surface,
                                           const PeakSearch& search, int max_candidates);

// The Peak of candidate `chosen`: sub-pixel fit, and peak ratio against the other candidates
// marked in `competing` (all others when it is empty).
Peak peak_from_candidate(const CorrelationSurface& surface,
                         const std::vector<PeakCandidate>& candidates, std::size_t chosen,
                         const std::vector<bool>& competing);

// The highest candidate.
Peak find_peak(const CorrelationSurface& surface, const PeakSearch& search);

// Pearson correlation of the pixels a(x + d) and b(x) that overlap at integer shift d;
// 0 when fewer than `min_pixels` overlap. `step` > 1 samples every step-th row and column
// (a cheaper estimate, for ranking candidates).
double overlap_pearson(const ImageView<float>& a, const ImageView<float>& b, int d_row,
                       int d_col, std::int64_t min_pixels = 64, int step = 1);

}  // namespace ofs
