// Locating the correlation peak to sub-pixel precision, and judging how trustworthy it is.
#pragma once

#include "ofs/correlation.hpp"
#include "ofs/image_view.hpp"

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
    // Half-width of the neighbourhood around the peak ignored when looking for the runner-up.
    int exclusion_radius = 4;
};

struct Peak {
    bool found = false;
    int integer_row = 0;  // shift of the highest sample
    int integer_col = 0;
    double row = 0.0;  // sub-pixel shift
    double col = 0.0;
    bool gaussian_fit = false;  // false: the fit was impossible and a parabola was used
    float height = 0.0f;
    float runner_up = 0.0f;  // highest value outside the peak's neighbourhood
    double peak_ratio = 0.0;  // height / runner_up (>= 1; large for distinct peaks)
};

Peak find_peak(const CorrelationSurface& surface, const PeakSearch& search);

// Pearson correlation of the pixels a(x + d) and b(x) that overlap at integer shift d;
// 0 when fewer than `min_pixels` overlap.
double overlap_pearson(const ImageView& a, const ImageView& b, int d_row, int d_col,
                       std::int64_t min_pixels = 64);

}  // namespace ofs
