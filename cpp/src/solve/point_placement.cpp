#include "ofs/solve/point_placement.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "least_squares.hpp"

namespace ofs {

namespace {

using solve_detail::assemble;
using solve_detail::conjugate_gradients;
using solve_detail::Entry;
using solve_detail::robust_factor;
using solve_detail::SparseMatrix;

// A tile's points are centred and scaled before they enter the normal matrix, so that the
// unknowns of an affine map (two slopes near 1, an offset of hundreds of pixels) have similar
// sizes and conjugate gradients converge in few steps: u = (p - centre) / spread.
struct Frame {
    double cx = 0.0;
    double cy = 0.0;
    double spread = 1.0;
};

// The normal matrix H of the matches plus the gauge rows C as H + C^T C: adding |C x - c|^2
// changes nothing where the gauge holds, and makes the matrix invertible.
struct GaugedOperator {
    const SparseMatrix& matrix;
    const std::vector<std::vector<double>>& gauge_rows;

    void multiply(const std::vector<double>& x, std::vector<double>& y) const {
        matrix.multiply(x, y);
        for (const auto& row : gauge_rows) {
            const double d = std::inner_product(row.begin(), row.end(), x.begin(), 0.0);
            for (std::size_t i = 0; i < y.size(); ++i) y[i] += d * row[i];
        }
    }
};

// Solves the small (at most 3 x 3) system s x = b in place, with partial pivoting.
std::vector<double> solve_small(std::vector<std::vector<double>> s, std::vector<double> b) {
    const std::size_t n = b.size();
    for (std::size_t c = 0; c < n; ++c) {
        std::size_t pivot = c;
        for (std::size_t r = c + 1; r < n; ++r)
            if (std::abs(s[r][c]) > std::abs(s[pivot][c])) pivot = r;
        std::swap(s[c], s[pivot]);
        std::swap(b[c], b[pivot]);
        if (s[c][c] == 0.0) continue;  // cannot happen for a gauge of a connected group
        for (std::size_t r = c + 1; r < n; ++r) {
            const double f = s[r][c] / s[c][c];
            for (std::size_t k = c; k < n; ++k) s[r][k] -= f * s[c][k];
            b[r] -= f * b[c];
        }
    }
    std::vector<double> x(n, 0.0);
    for (std::size_t c = n; c-- > 0;) {
        double sum = b[c];
        for (std::size_t k = c + 1; k < n; ++k) sum -= s[c][k] * x[k];
        x[c] = s[c][c] != 0.0 ? sum / s[c][c] : 0.0;
    }
    return x;
}

void validate(std::int64_t n, const std::vector<PointMatch>& matches, std::int64_t fixed_tile) {
    if (n < 0) throw std::invalid_argument("n_tiles must be >= 0");
    if (fixed_tile >= n) throw std::invalid_argument("fixed_tile outside 0.." + std::to_string(n - 1));
    for (std::size_t k = 0; k < matches.size(); ++k) {
        const auto& m = matches[k];
        const std::string where = "match " + std::to_string(k) + ": ";
        if (m.tile_a < 0 || m.tile_a >= n || m.tile_b < 0 || m.tile_b >= n)
            throw std::invalid_argument(where + "tile index outside 0.." + std::to_string(n - 1));
        if (m.tile_a == m.tile_b)
            throw std::invalid_argument(where + "a match must join two different tiles");
        if (!std::isfinite(m.xa) || !std::isfinite(m.ya) || !std::isfinite(m.xb) ||
            !std::isfinite(m.yb))
            throw std::invalid_argument(where + "points must be finite");
        if (!(m.weight >= 0.0) || !std::isfinite(m.weight))
            throw std::invalid_argument(where + "weight must be finite and >= 0");
    }
}

// Connected groups of tiles joined by matches of positive weight, numbered in order of their
// lowest tile index.
std::vector<std::int64_t> groups_of(std::int64_t n, const std::vector<PointMatch>& matches) {
    std::vector<std::int64_t> parent(n);
    std::iota(parent.begin(), parent.end(), 0);
    auto root = [&](std::int64_t x) {
        while (parent[x] != x) x = parent[x] = parent[parent[x]];
        return x;
    };
    for (const auto& m : matches)
        if (m.weight > 0.0) {
            const std::int64_t a = root(m.tile_a), b = root(m.tile_b);
            // The lower index becomes the root, so a group's root is its first tile.
            if (a < b) parent[b] = a;
            else if (b < a) parent[a] = b;
        }
    std::vector<std::int64_t> number(n, -1), group(n);
    std::int64_t next = 0;
    for (std::int64_t t = 0; t < n; ++t) {
        const std::int64_t r = root(t);
        if (number[r] < 0) number[r] = next++;
        group[t] = number[r];
    }
    return group;
}

// One connected group: its tiles (ascending), their local numbers and its matches.
struct Group {
    std::vector<std::int64_t> tiles;
    std::vector<std::size_t> matches;
};

class GroupSolver {
public:
    GroupSolver(const Group& group, const std::vector<std::int64_t>& local,
                const std::vector<PointMatch>& matches, const PointSolveSettings& settings)
        : group_(group), local_(local), matches_(matches), settings_(settings),
          per_tile_(settings.model == PointModel::affine ? 3 : 1),
          unknowns_(per_tile_ * static_cast<std::int64_t>(group.tiles.size())) {
        frames_.resize(group.tiles.size());
        if (per_tile_ == 3) measure_frames();
    }

    // Solves with the given per-match weights; writes each tile's 2x3 map into `affines`
    // (global n x 6). Returns false when a conjugate-gradient solve did not converge.
    bool solve(const std::vector<double>& weights, std::vector<double>& affines, int& cg_iterations) {
        std::vector<Entry> entries;
        entries.reserve(group_.matches.size() * 4 * per_tile_ * per_tile_);
        std::vector<double> rhs_x(unknowns_, 0.0), rhs_y(unknowns_, 0.0);
        std::array<std::int64_t, 6> index{};
        std::array<double, 6> coefficient{};
        for (const std::size_t k : group_.matches) {
            const PointMatch& m = matches_[k];
            const double w = weights[k];
            if (!(w > 0.0)) continue;
            const std::int64_t a = local_[m.tile_a], b = local_[m.tile_b];
            int count = 0;
            if (per_tile_ == 3) {
                const Frame& fa = frames_[a];
                const Frame& fb = frames_[b];
                const double u[3] = {(m.xa - fa.cx) / fa.spread, (m.ya - fa.cy) / fa.spread, 1.0};
                const double v[3] = {(m.xb - fb.cx) / fb.spread, (m.yb - fb.cy) / fb.spread, 1.0};
                for (int j = 0; j < 3; ++j) {
                    index[count] = 3 * a + j;
                    coefficient[count++] = u[j];
                    index[count] = 3 * b + j;
                    coefficient[count++] = -v[j];
                }
            } else {
                // (x_a + o_a) - (x_b + o_b): the offsets' difference should equal x_b - x_a.
                index[count] = a;
                coefficient[count++] = 1.0;
                index[count] = b;
                coefficient[count++] = -1.0;
                rhs_x[a] += w * (m.xb - m.xa);
                rhs_x[b] -= w * (m.xb - m.xa);
                rhs_y[a] += w * (m.yb - m.ya);
                rhs_y[b] -= w * (m.yb - m.ya);
            }
            for (int i = 0; i < count; ++i)
                for (int j = 0; j < count; ++j)
                    entries.push_back({index[i], index[j], w * coefficient[i] * coefficient[j]});
        }
        for (std::int64_t i = 0; i < unknowns_; ++i) entries.push_back({i, i, 0.0});  // every diagonal
        SparseMatrix matrix = assemble(unknowns_, entries);
        std::vector<double> diagonal = matrix.diagonal();
        const double mean_diagonal =
            std::max(std::accumulate(diagonal.begin(), diagonal.end(), 0.0) / unknowns_, 1e-300);
        const double stiffness = per_tile_ == 3 ? 1e-6 * mean_diagonal : 0.0;
        if (per_tile_ == 3) add_stiffness(matrix, diagonal, stiffness);

        std::vector<std::vector<double>> rows;
        std::vector<double> value_x, value_y;
        gauge(rows, value_x, value_y);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            // Scaled so that the gauge's stiffness matches the matches' (same solution, better
            // conditioned).
            const double norm2 = std::inner_product(rows[r].begin(), rows[r].end(), rows[r].begin(), 0.0);
            const double s = std::sqrt(mean_diagonal / norm2);
            for (double& c : rows[r]) c *= s;
            value_x[r] *= s;
            value_y[r] *= s;
            for (std::int64_t i = 0; i < unknowns_; ++i) {
                diagonal[i] += rows[r][i] * rows[r][i];
                rhs_x[i] += rows[r][i] * value_x[r];
                rhs_y[i] += rows[r][i] * value_y[r];
            }
        }
        const GaugedOperator op{matrix, rows};
        const int max_cg = static_cast<int>(20 * unknowns_ + 200);
        bool converged = true, ok = true;
        if (x0_.empty()) {
            x0_.assign(unknowns_, 0.0);
            y0_.assign(unknowns_, 0.0);
            gauge_solutions_.assign(rows.size(), std::vector<double>(unknowns_, 0.0));
        }
        // Warm starts: reweighting changes the solution only a little between rounds.
        for (std::size_t r = 0; r < rows.size(); ++r) {
            cg_iterations += conjugate_gradients(op, diagonal, rows[r], gauge_solutions_[r],
                                                 settings_.tolerance, max_cg, ok);
            converged = converged && ok;
        }
        const std::size_t g = rows.size();
        std::vector<std::vector<double>> s(g, std::vector<double>(g));
        for (std::size_t r = 0; r < g; ++r)
            for (std::size_t q = 0; q < g; ++q)
                s[r][q] = std::inner_product(rows[r].begin(), rows[r].end(),
                                             gauge_solutions_[q].begin(), 0.0);

        // The stiffness pulls towards the identity first, then (proximal steps) towards the
        // previous solution, which removes its bias where the matches fix the linear parts
        // and keeps the identity where they do not.
        std::vector<double> target_x(unknowns_, 0.0), target_y(unknowns_, 0.0);
        for (std::size_t t = 0; t < frames_.size() && per_tile_ == 3; ++t) {
            // In centred, scaled units the identity's slopes are (spread, 0) and (0, spread).
            target_x[3 * t] = frames_[t].spread;
            target_y[3 * t + 1] = frames_[t].spread;
        }
        std::vector<double> x, y;
        for (int step = 0; step < 8; ++step) {
            std::vector<double> pulled_x = rhs_x, pulled_y = rhs_y;
            for (std::int64_t i = 0; i < unknowns_; ++i) {
                pulled_x[i] += stiffness * target_x[i];
                pulled_y[i] += stiffness * target_y[i];
            }
            cg_iterations += conjugate_gradients(op, diagonal, pulled_x, x0_, settings_.tolerance, max_cg, ok);
            converged = converged && ok;
            cg_iterations += conjugate_gradients(op, diagonal, pulled_y, y0_, settings_.tolerance, max_cg, ok);
            converged = converged && ok;
            // Lagrange multipliers put the solution exactly on the gauge:
            // x = x0 - Y mu with (C Y) mu = C x0 - c, where H' x0 = g', H' Y = C^T.
            x = x0_;
            y = y0_;
            for (int axis = 0; axis < 2; ++axis) {
                std::vector<double>& solution = axis == 0 ? x : y;
                const std::vector<double>& value = axis == 0 ? value_x : value_y;
                std::vector<double> off(g);
                for (std::size_t r = 0; r < g; ++r)
                    off[r] = std::inner_product(rows[r].begin(), rows[r].end(), solution.begin(), 0.0) -
                             value[r];
                const std::vector<double> mu = solve_small(s, off);
                for (std::size_t q = 0; q < g; ++q)
                    for (std::int64_t i = 0; i < unknowns_; ++i)
                        solution[i] -= mu[q] * gauge_solutions_[q][i];
            }
            if (per_tile_ == 1) break;
            double change = 0.0;
            for (std::size_t t = 0; t < frames_.size(); ++t)
                for (int j = 0; j < 2; ++j) {
                    const std::size_t i = 3 * t + j;
                    change = std::max({change, std::abs(x[i] - target_x[i]) / frames_[t].spread,
                                       std::abs(y[i] - target_y[i]) / frames_[t].spread});
                    target_x[i] = x[i];
                    target_y[i] = y[i];
                }
            if (change < 1e-12) break;
        }
        write_affines(x, y, affines);
        return converged;
    }

private:
    void measure_frames() {
        std::vector<double> count(frames_.size(), 0.0), sx(frames_.size(), 0.0),
            sy(frames_.size(), 0.0), sxx(frames_.size(), 0.0);
        const auto add = [&](std::int64_t t, double x, double y) {
            count[t] += 1.0;
            sx[t] += x;
            sy[t] += y;
            sxx[t] += x * x + y * y;
        };
        for (const std::size_t k : group_.matches) {
            const PointMatch& m = matches_[k];
            add(local_[m.tile_a], m.xa, m.ya);
            add(local_[m.tile_b], m.xb, m.yb);
        }
        for (std::size_t t = 0; t < frames_.size(); ++t) {
            if (count[t] == 0.0) continue;
            frames_[t].cx = sx[t] / count[t];
            frames_[t].cy = sy[t] / count[t];
            const double variance = sxx[t] / count[t] - frames_[t].cx * frames_[t].cx -
                                    frames_[t].cy * frames_[t].cy;
            frames_[t].spread = std::max(1.0, std::sqrt(std::max(variance, 0.0)));
        }
    }

    // A faint pull of every affine's linear part (a millionth of the matches' stiffness),
    // towards a target the caller puts in the right-hand side: where the matches cannot fix a
    // linear part (all of a tile's points on one line) the tile keeps an unrotated, unscaled
    // map instead of an arbitrary one.
    void add_stiffness(SparseMatrix& matrix, std::vector<double>& diagonal, double stiffness) const {
        for (std::int64_t t = 0; t < static_cast<std::int64_t>(frames_.size()); ++t) {
            for (int j = 0; j < 2; ++j) {
                const std::int64_t i = 3 * t + j;
                for (std::int64_t k = matrix.row_start[i]; k < matrix.row_start[i + 1]; ++k)
                    if (matrix.column[k] == i) matrix.value[k] += stiffness;
                diagonal[i] += stiffness;
            }
        }
    }

    // The gauge as rows of C and their values c (C x = c) for the x and y rows of the maps.
    void gauge(std::vector<std::vector<double>>& rows, std::vector<double>& value_x,
               std::vector<double>& value_y) const {
        const std::int64_t n = static_cast<std::int64_t>(group_.tiles.size());
        std::int64_t pinned = -1;  // local tile pinned to the identity; -1 for the mean gauge
        if (settings_.fixed_tile >= 0 && group_.tiles.end() != std::find(group_.tiles.begin(),
                                                                         group_.tiles.end(),
                                                                         settings_.fixed_tile))
            pinned = local_[settings_.fixed_tile];
        else if (settings_.gauge == Gauge::first)
            pinned = 0;
        const double count = pinned >= 0 ? 1.0 : static_cast<double>(n);
        rows.assign(per_tile_, std::vector<double>(unknowns_, 0.0));
        for (std::int64_t t = 0; t < n; ++t) {
            if (pinned >= 0 && t != pinned) continue;
            if (per_tile_ == 1) {
                rows[0][t] = 1.0;  // the offset (or the sum of offsets) is zero
                continue;
            }
            // The map's slopes and offset in terms of the centred unknowns b:
            // a1 = b1 / s, a2 = b2 / s, a3 = b3 - (b1 cx + b2 cy) / s.
            const Frame& f = frames_[t];
            rows[0][3 * t] = 1.0 / f.spread;
            rows[1][3 * t + 1] = 1.0 / f.spread;
            rows[2][3 * t] = -f.cx / f.spread;
            rows[2][3 * t + 1] = -f.cy / f.spread;
            rows[2][3 * t + 2] = 1.0;
        }
        if (per_tile_ == 1) {
            value_x.assign(1, 0.0);
            value_y.assign(1, 0.0);
        } else {
            value_x = {count, 0.0, 0.0};  // the x row of the identity is (1, 0, 0)
            value_y = {0.0, count, 0.0};  // the y row is (0, 1, 0)
        }
    }

    void write_affines(const std::vector<double>& x, const std::vector<double>& y,
                       std::vector<double>& affines) const {
        for (std::size_t t = 0; t < group_.tiles.size(); ++t) {
            double* a = &affines[6 * group_.tiles[t]];
            if (per_tile_ == 1) {
                a[0] = 1.0, a[1] = 0.0, a[2] = x[t];
                a[3] = 0.0, a[4] = 1.0, a[5] = y[t];
                continue;
            }
            const Frame& f = frames_[t];
            for (int axis = 0; axis < 2; ++axis) {
                const double* b = axis == 0 ? &x[3 * t] : &y[3 * t];
                a[3 * axis] = b[0] / f.spread;
                a[3 * axis + 1] = b[1] / f.spread;
                a[3 * axis + 2] = b[2] - (b[0] * f.cx + b[1] * f.cy) / f.spread;
            }
        }
    }

    const Group& group_;
    const std::vector<std::int64_t>& local_;
    const std::vector<PointMatch>& matches_;
    const PointSolveSettings& settings_;
    const std::int64_t per_tile_;
    const std::int64_t unknowns_;
    std::vector<Frame> frames_;
    std::vector<double> x0_, y0_;
    std::vector<std::vector<double>> gauge_solutions_;
};

std::array<double, 2> residual(const PointMatch& m, const std::vector<double>& affines) {
    const double* a = &affines[6 * m.tile_a];
    const double* b = &affines[6 * m.tile_b];
    return {(a[0] * m.xa + a[1] * m.ya + a[2]) - (b[0] * m.xb + b[1] * m.yb + b[2]),
            (a[3] * m.xa + a[4] * m.ya + a[5]) - (b[3] * m.xb + b[4] * m.yb + b[5])};
}

// The reweighting rounds of one group (one round without a robust loss). The robust scale
// starts at `start_scale`, or (0) as wide as the largest residual of the first solve, and
// halves each round down to robust_scale (graduated non-convexity): reweighting straight from
// a plain solve that a few wild matches have dragged can reject the good matches instead,
// while a wide scale first settles on what most matches agree on. The first round uses the
// robust weights already in `result`.
void reweight(GroupSolver& solver, const Group& group, const std::vector<PointMatch>& matches,
              const PointSolveSettings& settings, double start_scale, PointPlacement& result) {
    const int rounds =
        settings.loss == RobustLoss::none ? 1 : std::max(1, settings.max_reweighting_iterations);
    std::vector<double> weights(matches.size(), 0.0);
    double scale = start_scale;
    for (int round = 0; round < rounds; ++round) {
        for (const std::size_t k : group.matches)
            weights[k] = matches[k].weight * result.robust_weights[k];
        const bool converged = solver.solve(weights, result.affines, result.cg_iterations);
        result.converged = result.converged && converged;
        result.reweighting_iterations = std::max(result.reweighting_iterations, round + 1);
        if (settings.loss == RobustLoss::none) return;
        std::vector<double> lengths;
        lengths.reserve(group.matches.size());
        for (const std::size_t k : group.matches) {
            const auto r = residual(matches[k], result.affines);
            lengths.push_back(std::hypot(r[0], r[1]));
        }
        if (round == 0 && scale == 0.0)
            scale = *std::max_element(lengths.begin(), lengths.end());
        else
            scale /= 2;
        scale = std::max(settings.robust_scale, scale);
        double largest_change = 0.0;
        for (std::size_t i = 0; i < group.matches.size(); ++i) {
            const std::size_t k = group.matches[i];
            const double updated = robust_factor(settings.loss, lengths[i], scale);
            largest_change = std::max(largest_change, std::abs(updated - result.robust_weights[k]));
            result.robust_weights[k] = updated;
        }
        if (scale == settings.robust_scale && largest_change < 1e-6) return;
    }
    result.converged = false;  // weights still moving at the cap
}

}  // namespace

PointPlacement place_points(std::int64_t n, const std::vector<PointMatch>& matches,
                            const PointSolveSettings& settings) {
    validate(n, matches, settings.fixed_tile);
    if (settings.loss != RobustLoss::none && !(settings.robust_scale > 0.0))
        throw std::invalid_argument("robust_scale must be > 0");
    const std::size_t m = matches.size();
    PointPlacement result;
    result.affines.assign(6 * n, 0.0);
    for (std::int64_t t = 0; t < n; ++t) result.affines[6 * t] = result.affines[6 * t + 4] = 1.0;
    result.residuals.assign(2 * m, 0.0);
    result.robust_weights.assign(m, 1.0);
    result.group = groups_of(n, matches);

    const std::int64_t n_groups =
        n == 0 ? 0 : *std::max_element(result.group.begin(), result.group.end()) + 1;
    std::vector<Group> groups(n_groups);
    std::vector<std::int64_t> local(n);
    for (std::int64_t t = 0; t < n; ++t) {
        local[t] = static_cast<std::int64_t>(groups[result.group[t]].tiles.size());
        groups[result.group[t]].tiles.push_back(t);
    }
    for (std::size_t k = 0; k < m; ++k)
        if (matches[k].weight > 0.0) groups[result.group[matches[k].tile_a]].matches.push_back(k);

    for (const Group& group : groups) {
        if (group.matches.empty()) continue;  // a tile on its own keeps the identity
        GroupSolver solver(group, local, matches, settings);
        if (settings.loss == RobustLoss::none || settings.model == PointModel::translation) {
            reweight(solver, group, matches, settings, 0.0, result);
            continue;
        }
        // Robust affines start from robust translations: a tile with nothing to match (blank)
        // gives arbitrary matches, and six unknowns let it bend to several of them at once and
        // drag its neighbours, where a translation can satisfy only one. The translations'
        // typical residual (what the tiles' distortion leaves) sets the affine stage's first
        // scale.
        PointSolveSettings translation = settings;
        translation.model = PointModel::translation;
        GroupSolver translation_solver(group, local, matches, translation);
        reweight(translation_solver, group, matches, translation, 0.0, result);
        std::vector<double> lengths;
        for (const std::size_t k : group.matches) {
            const auto r = residual(matches[k], result.affines);
            lengths.push_back(std::hypot(r[0], r[1]));
        }
        std::vector<double> sorted = lengths;
        std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
        const double scale = std::max(settings.robust_scale, 2.0 * sorted[sorted.size() / 2]);
        for (std::size_t i = 0; i < group.matches.size(); ++i)
            result.robust_weights[group.matches[i]] = robust_factor(settings.loss, lengths[i], scale);
        reweight(solver, group, matches, settings, scale, result);
    }
    for (std::size_t k = 0; k < m; ++k) {
        const auto r = residual(matches[k], result.affines);
        result.residuals[2 * k] = r[0];
        result.residuals[2 * k + 1] = r[1];
    }
    return result;
}

}  // namespace ofs
