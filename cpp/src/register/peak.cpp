#include "ofs/register/peak.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ofs/register/taper.hpp"

namespace ofs {

namespace {

struct ShiftRange {
    int max_row = 0;  // valid shifts are -max_row..max_row
    int max_col = 0;
};

// Shifts that are neither wrapped around by the padding nor outside the regions.
ShiftRange unambiguous_shifts(const CorrelationSurface& s) {
    ShiftRange range;
    range.max_row = std::min(s.rows - s.region_rows, s.region_rows - 1);
    range.max_col = std::min(s.cols - s.region_cols, s.region_cols - 1);
    // Without padding every shift is ambiguous; then use the conventional half-range.
    if (range.max_row <= 0) range.max_row = s.rows / 2;
    if (range.max_col <= 0) range.max_col = s.cols / 2;
    return range;
}

// Parabola vertex through (-1, minus), (0, centre), (1, plus), clamped to half a pixel.
double parabola_offset(double minus, double centre, double plus) {
    const double curvature = minus - 2.0 * centre + plus;
    if (curvature >= 0.0) return 0.0;
    return std::clamp(0.5 * (minus - plus) / curvature, -0.5, 0.5);
}

// The shifts a search may consider, row by row: each row's columns form one interval, the
// intersection of the unambiguous range, the minimum overlap and the search circle.
struct SearchDomain {
    int row_lo = 0, row_hi = -1;
    std::vector<int> col_lo, col_hi;  // per row, indexed by row - row_lo

    template <class Visit>
    void for_each_row(Visit visit) const {
        for (int dr = row_lo; dr <= row_hi; ++dr) {
            const int lo = col_lo[dr - row_lo], hi = col_hi[dr - row_lo];
            if (lo <= hi) visit(dr, lo, hi);
        }
    }
};

SearchDomain search_domain(const CorrelationSurface& surface, const PeakSearch& search) {
    const ShiftRange range = unambiguous_shifts(surface);
    SearchDomain domain;
    domain.row_lo = -range.max_row;
    domain.row_hi = range.max_row;
    const bool windowed = search.has_expected && search.radius > 0.0;
    if (windowed) {
        domain.row_lo = std::max(domain.row_lo,
                                 static_cast<int>(std::ceil(search.expected_row - search.radius)));
        domain.row_hi = std::min(domain.row_hi,
                                 static_cast<int>(std::floor(search.expected_row + search.radius)));
    }
    const double area = static_cast<double>(surface.region_rows) * surface.region_cols;
    for (int dr = domain.row_lo; dr <= domain.row_hi; ++dr) {
        int lo = -range.max_col, hi = range.max_col;
        // overlap = (rows - |dr|) * (cols - |dc|) >= fraction * area
        const double rows_overlapping = surface.region_rows - std::abs(dr);
        const double cols_needed = search.min_overlap_fraction * area / std::max(rows_overlapping, 1e-9);
        const int max_abs_col = static_cast<int>(std::floor(surface.region_cols - cols_needed));
        lo = std::max(lo, -max_abs_col);
        hi = std::min(hi, max_abs_col);
        if (windowed) {
            const double er = dr - search.expected_row;
            const double half_width = std::sqrt(std::max(search.radius * search.radius - er * er, 0.0));
            lo = std::max(lo, static_cast<int>(std::ceil(search.expected_col - half_width)));
            hi = std::min(hi, static_cast<int>(std::floor(search.expected_col + half_width)));
        }
        domain.col_lo.push_back(lo);
        domain.col_hi.push_back(hi);
    }
    return domain;
}

// Pointer to the surface row holding shift dr, and the column index of shift dc in it.
inline const float* surface_row(const CorrelationSurface& s, int dr) {
    const int r = ((dr % s.rows) + s.rows) % s.rows;
    return s.values.get() + static_cast<std::size_t>(r) * s.cols;
}
inline int surface_col(const CorrelationSurface& s, int dc) { return ((dc % s.cols) + s.cols) % s.cols; }

// How much of the two regions overlaps at a shift, in (taper-)weighted pixels.
double overlap_weight(const CorrelationSurface& surface, int dr, int dc) {
    return taper_overlap(surface.region_rows, surface.taper, dr) *
           taper_overlap(surface.region_cols, surface.taper, dc);
}

}  // namespace

std::vector<PeakCandidate> peak_candidates(const CorrelationSurface& surface,
                                           const PeakSearch& search, int max_candidates) {
    const SearchDomain domain = search_domain(surface, search);
    if (domain.row_hi < domain.row_lo) return {};
    // Maxima are found on the overlap-normalised surface: the raw correlation rises towards
    // larger overlaps, and on that slope a weak true peak can be a shoulder, not a maximum.
    int col_lo = 0, col_hi = 0;
    for (std::size_t k = 0; k < domain.col_lo.size(); ++k) {
        col_lo = std::min(col_lo, domain.col_lo[k]);
        col_hi = std::max(col_hi, domain.col_hi[k]);
    }
    // The normalised surface over the domain's bounding box and a one-shift border, computed
    // once: every value is read by up to nine of the maximum tests below.
    const int grid_rows = domain.row_hi - domain.row_lo + 3;
    const int grid_cols = col_hi - col_lo + 3;
    const std::vector<float> row_taper = taper_weights(surface.region_rows, surface.taper);
    const std::vector<float> col_taper = taper_weights(surface.region_cols, surface.taper);
    std::vector<double> col_weight(grid_cols);
    std::vector<int> col_index(grid_cols);
    for (int c = 0; c < grid_cols; ++c) {
        const int dc = col_lo - 1 + c;
        col_weight[c] = taper_overlap(col_taper, dc);
        col_index[c] = surface_col(surface, dc);
    }
    std::vector<double> grid(static_cast<std::size_t>(grid_rows) * grid_cols);
    for (int r = 0; r < grid_rows; ++r) {
        const int dr = domain.row_lo - 1 + r;
        const double row_weight = taper_overlap(row_taper, dr);
        const float* values = surface_row(surface, dr);
        double* out = grid.data() + static_cast<std::size_t>(r) * grid_cols;
        for (int c = 0; c < grid_cols; ++c) {
            const double weight = row_weight * col_weight[c];
            out[c] = weight > 0.0 ? values[col_index[c]] / weight : 0.0;
        }
    }
    auto normalised = [&](int dr, int dc) {
        return grid[static_cast<std::size_t>(dr - domain.row_lo + 1) * grid_cols +
                    (dc - col_lo + 1)];
    };

    std::vector<PeakCandidate> maxima;
    // A local maximum is at least as high as its 8 neighbours (neighbours outside the domain
    // count too: a peak just inside the search circle is still a peak).
    domain.for_each_row([&](int dr, int lo, int hi) {
        for (int dc = lo; dc <= hi; ++dc) {
            const double value = normalised(dr, dc);
            if (value <= 0.0) continue;
            bool highest = true;
            for (int y = -1; y <= 1 && highest; ++y)
                for (int x = -1; x <= 1 && highest; ++x)
                    if ((y != 0 || x != 0) && normalised(dr + y, dc + x) > value) highest = false;
            if (highest) {
                const float height = surface_row(surface, dr)[surface_col(surface, dc)];
                // value = height / weight, so height / sqrt(weight) = value * sqrt(weight).
                const double evidence = value * std::sqrt(height / value);
                maxima.push_back({dr, dc, height, value, evidence});
            }
        }
    });
    if (search.rank_by_evidence)
        std::sort(maxima.begin(), maxima.end(), [](const PeakCandidate& a, const PeakCandidate& b) {
            return a.evidence > b.evidence;
        });
    else
        std::sort(maxima.begin(), maxima.end(), [](const PeakCandidate& a, const PeakCandidate& b) {
            return a.normalised_height > b.normalised_height;
        });
    // Keep the highest maxima that are at least an exclusion radius apart: the shoulders of
    // one broad peak are not separate candidates.
    std::vector<PeakCandidate> kept;
    for (const PeakCandidate& m : maxima) {
        bool separate = true;
        for (const PeakCandidate& k : kept) {
            if (std::abs(m.row - k.row) <= search.exclusion_radius &&
                std::abs(m.col - k.col) <= search.exclusion_radius) {
                separate = false;
                break;
            }
        }
        if (!separate) continue;
        kept.push_back(m);
        if (static_cast<int>(kept.size()) >= max_candidates) break;
    }
    return kept;
}

double peak_ratio(const std::vector<PeakCandidate>& candidates, std::size_t chosen,
                  const std::vector<bool>& competing) {
    double runner_up = 0.0;
    for (std::size_t k = 0; k < candidates.size(); ++k)
        if (k != chosen && (competing.empty() || competing[k]))
            runner_up = std::max(runner_up, candidates[k].normalised_height);
    const double height = candidates[chosen].normalised_height;
    if (height <= 0.0) return 0.0;
    // No other positive maximum: nothing else correlates at all; report a large ratio rather
    // than dividing by (almost) zero.
    return runner_up > 0.0 ? height / runner_up : 1e6;
}

void fit_subpixel(const CorrelationSurface& surface, Peak& peak) {
    // 3x3 neighbourhood divided by the overlap weight at each shift: the raw correlation grows
    // with the overlap area, which tilts the peak towards zero shift.
    double v[3][3];
    bool all_positive = true;
    for (int y = -1; y <= 1; ++y) {
        for (int x = -1; x <= 1; ++x) {
            const int dr = peak.integer_row + y, dc = peak.integer_col + x;
            const double overlap = overlap_weight(surface, dr, dc);
            const double value = overlap > 0.0 ? surface.at_shift(dr, dc) / overlap : 0.0;
            v[y + 1][x + 1] = value;
            all_positive = all_positive && value > 0.0;
        }
    }

    // Gaussian fit: the log of a 2-D Gaussian is a quadratic a + bx + cy + dx^2 + exy + fy^2.
    // On the 3x3 grid the basis 1, x, y, x^2 - 2/3, xy, y^2 - 2/3 is orthogonal, so the least
    // squares coefficients are plain projections.
    if (all_positive) {
        double b = 0, c = 0, d = 0, e = 0, f = 0;
        for (int y = -1; y <= 1; ++y) {
            for (int x = -1; x <= 1; ++x) {
                const double l = std::log(v[y + 1][x + 1]);
                b += x * l / 6.0;
                c += y * l / 6.0;
                d += (x * x - 2.0 / 3.0) * l / 2.0;
                f += (y * y - 2.0 / 3.0) * l / 2.0;
                e += x * y * l / 4.0;
            }
        }
        const double det = 4.0 * d * f - e * e;
        if (d < 0.0 && f < 0.0 && det > 0.0) {
            const double dx = (-2.0 * f * b + e * c) / det;
            const double dy = (-2.0 * d * c + e * b) / det;
            if (std::abs(dx) <= 1.0 && std::abs(dy) <= 1.0) {
                peak.row = peak.integer_row + dy;
                peak.col = peak.integer_col + dx;
                peak.gaussian_fit = true;
                return;
            }
        }
    }
    peak.gaussian_fit = false;
    peak.row = peak.integer_row + parabola_offset(v[0][1], v[1][1], v[2][1]);
    peak.col = peak.integer_col + parabola_offset(v[1][0], v[1][1], v[1][2]);
}

Peak peak_from_candidate(const CorrelationSurface& surface,
                         const std::vector<PeakCandidate>& candidates, std::size_t chosen,
                         const std::vector<bool>& competing) {
    Peak peak;
    peak.found = true;
    peak.integer_row = candidates[chosen].row;
    peak.integer_col = candidates[chosen].col;
    peak.height = candidates[chosen].height;
    peak.peak_ratio = peak_ratio(candidates, chosen, competing);
    fit_subpixel(surface, peak);
    return peak;
}

Peak find_peak(const CorrelationSurface& surface, const PeakSearch& search) {
    const std::vector<PeakCandidate> candidates = peak_candidates(surface, search, 8);
    if (candidates.empty()) return Peak{};
    return peak_from_candidate(surface, candidates, 0, {});
}

double overlap_pearson(const ImageView<float>& a, const ImageView<float>& b, int d_row,
                       int d_col, std::int64_t min_pixels, int step) {
    // b(y, x) faces a(y + d_row, x + d_col); loop over the part of b that lands inside a.
    const std::int64_t row_begin = std::max<std::int64_t>(0, -d_row);
    const std::int64_t row_end = std::min<std::int64_t>(b.rows, a.rows - d_row);
    const std::int64_t col_begin = std::max<std::int64_t>(0, -d_col);
    const std::int64_t col_end = std::min<std::int64_t>(b.cols, a.cols - d_col);
    if (row_end <= row_begin || col_end <= col_begin) return 0.0;
    if ((row_end - row_begin) * (col_end - col_begin) < min_pixels) return 0.0;

    double sum_a = 0, sum_b = 0, sum_aa = 0, sum_bb = 0, sum_ab = 0;
    std::int64_t count = 0;
    with_step(a.col_step(), [&](auto a_step) {
        with_step(b.col_step(), [&](auto b_step) {
            for (std::int64_t y = row_begin; y < row_end; y += step) {
                const float* row_a = a.row(y + d_row);
                const float* row_b = b.row(y);
                for (std::int64_t x = col_begin; x < col_end; x += step) {
                    ++count;
                    const double va = row_a[(x + d_col) * a_step];
                    const double vb = row_b[x * b_step];
                    sum_a += va;
                    sum_b += vb;
                    sum_aa += va * va;
                    sum_bb += vb * vb;
                    sum_ab += va * vb;
                }
            }
        });
    });
    const double n = static_cast<double>(count);
    const double cov = sum_ab - sum_a * sum_b / n;
    const double var_a = sum_aa - sum_a * sum_a / n;
    const double var_b = sum_bb - sum_b * sum_b / n;
    if (var_a <= 0.0 || var_b <= 0.0) return 0.0;
    return std::clamp(cov / std::sqrt(var_a * var_b), -1.0, 1.0);
}

}  // namespace ofs
