#include "ofs/solve/placement.hpp"

#include "envelope_cholesky.hpp"
#include "least_squares.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>

namespace ofs {

namespace {

// The most multiply-adds one direct factorisation may cost before conjugate gradients are
// used instead (~0.2 s here). A scan's grid stays below it: 40 x 40 tiles cost ~0.7 M, 100 x
// 100 ~26 M and 150 x 150 ~130 M, and there a round still takes half CG's time. Graphs with no
// narrow band (pairs joining tiles all over the scan) pass it: CG then needs far less work
// than the factor's fill (3,000 tiles joined at random: 5 ms against 0.2 s).
constexpr double kMaxDirectCost = 2e8;
// A factorisation whose smallest pivot is below this fraction of its diagonal entry is refined
// once (see solve_positions). Rounding moves a solution by about 1e-16 / ratio of its size:
// below 1e-6 that can reach 1e-6 px on positions of thousands of pixels.
constexpr double kRefineBelowPivotRatio = 1e-6;

// The longest stretch of a reweighting round's step that is tried (see solve_positions).
constexpr double kLongestStretch = 16.0;

using solve_detail::conjugate_gradients;
using solve_detail::EnvelopeCholesky;
using solve_detail::robust_factor;
using solve_detail::SparseMatrix;


SparseMatrix normal_matrix(std::int64_t n, const std::vector<Displacement>& pairs,
                           const std::vector<double>& pair_weights,
                           const std::vector<double>& prior_diagonal) {
    // Each row holds its diagonal plus one entry per pair touching it; duplicates (several
    // measurements of one pair) simply add up in the product.
    std::vector<std::int64_t> degree(n, 1);
    for (const auto& p : pairs) {
        ++degree[p.i];
        ++degree[p.j];
    }
    SparseMatrix m;
    m.row_start.assign(n + 1, 0);
    for (std::int64_t r = 0; r < n; ++r) m.row_start[r + 1] = m.row_start[r] + degree[r];
    m.column.resize(m.row_start[n]);
    m.value.assign(m.row_start[n], 0.0);
    std::vector<std::int64_t> fill(m.row_start.begin(), m.row_start.end() - 1);
    for (std::int64_t r = 0; r < n; ++r) {
        m.column[fill[r]] = r;  // the diagonal comes first in each row
        m.value[fill[r]] = prior_diagonal[r];
        ++fill[r];
    }
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        const auto& p = pairs[k];
        const double w = pair_weights[k];
        m.value[m.row_start[p.i]] += w;
        m.value[m.row_start[p.j]] += w;
        m.column[fill[p.i]] = p.j;
        m.value[fill[p.i]++] = -w;
        m.column[fill[p.j]] = p.i;
        m.value[fill[p.j]++] = -w;
    }
    return m;
}

// The normal equations' residual b - A x for one axis (`measured`: d_row or d_col), summed pair
// by pair from w (d - (x_j - x_i)): a difference of nearby positions, then a small number. The
// matrix product would instead add and cancel terms the size of the positions themselves,
// leaving rounding far larger than the residual wherever the matrix is nearly singular.
void normal_residual(const std::vector<Displacement>& pairs, const std::vector<double>& pair_weights,
                     const std::vector<double>& prior_diagonal,
                     const std::vector<double>& prior_sum, const std::vector<double>& x,
                     std::vector<double>& residual, double Displacement::*measured) {
    residual.resize(x.size());
    for (std::size_t t = 0; t < x.size(); ++t) residual[t] = prior_sum[t] - prior_diagonal[t] * x[t];
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        const auto& p = pairs[k];
        const double pull = pair_weights[k] * (p.*measured - (x[p.j] - x[p.i]));
        residual[p.j] += pull;
        residual[p.i] -= pull;
    }
}

// Connected components of the tiles linked by pairs of positive weight (union-find).
std::vector<std::int64_t> components(std::int64_t n, const std::vector<Displacement>& pairs,
                                     const std::vector<double>& pair_weights) {
    std::vector<std::int64_t> parent(n);
    std::iota(parent.begin(), parent.end(), 0);
    auto root = [&](std::int64_t x) {
        while (parent[x] != x) x = parent[x] = parent[parent[x]];
        return x;
    };
    for (std::size_t k = 0; k < pairs.size(); ++k)
        if (pair_weights[k] > 0.0) parent[root(pairs[k].i)] = root(pairs[k].j);
    for (std::int64_t t = 0; t < n; ++t) parent[t] = root(t);
    return parent;
}

// What a robust loss charges a pair whose residual has squared length `squared`: the function
// whose reweighting is robust_factor (weight = rho'(r) / r). Huber: r^2 / 2 inside the scale,
// then linear; Cauchy: s^2 / 2 log(1 + r^2 / s^2); none: r^2 / 2.
double robust_cost(RobustLoss loss, double squared, double scale) {
    switch (loss) {
        case RobustLoss::huber: {
            if (squared <= scale * scale) return 0.5 * squared;
            return scale * std::sqrt(squared) - 0.5 * scale * scale;
        }
        case RobustLoss::cauchy:
            return 0.5 * scale * scale * std::log1p(squared / (scale * scale));
        case RobustLoss::none:
            break;
    }
    return 0.5 * squared;
}

// The objective the reweighting lowers round by round: every pair's robust cost (times its
// weight) plus the priors' squared distances (times theirs, halved like the pairs').
double objective(const std::vector<Displacement>& pairs, const std::vector<Prior>& priors,
                 const SolveSettings& settings, const std::vector<double>& rows,
                 const std::vector<double>& cols) {
    double total = 0.0;
    for (const auto& p : pairs) {
        const double res_row = rows[p.j] - rows[p.i] - p.d_row;
        const double res_col = cols[p.j] - cols[p.i] - p.d_col;
        total += p.weight * robust_cost(settings.loss, res_row * res_row + res_col * res_col,
                                        settings.robust_scale);
    }
    for (const auto& prior : priors) {
        const double off_row = rows[prior.tile] - prior.row;
        const double off_col = cols[prior.tile] - prior.col;
        total += 0.5 * prior.weight * (off_row * off_row + off_col * off_col);
    }
    return total;
}

void validate(std::int64_t n, const std::vector<Displacement>& pairs,
              const std::vector<Prior>& priors) {
    if (n < 0) throw std::invalid_argument("n_tiles must be >= 0");
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        const auto& p = pairs[k];
        const std::string where = "pair " + std::to_string(k) + ": ";
        if (p.i < 0 || p.i >= n || p.j < 0 || p.j >= n)
            throw std::invalid_argument(where + "tile index outside 0.." + std::to_string(n - 1) +
                                        "; n_tiles must exceed every index in pairs");
        if (p.i == p.j) throw std::invalid_argument(where + "a pair must join two different tiles");
        if (!std::isfinite(p.d_row) || !std::isfinite(p.d_col))
            throw std::invalid_argument(where + "displacement is not finite");
        if (!(p.weight >= 0.0) || !std::isfinite(p.weight))
            throw std::invalid_argument(where + "weight must be finite and >= 0");
    }
    for (const auto& prior : priors) {
        if (prior.tile < 0 || prior.tile >= n)
            throw std::invalid_argument("prior for tile " + std::to_string(prior.tile) +
                                        " outside 0.." + std::to_string(n - 1));
        if (!std::isfinite(prior.row) || !std::isfinite(prior.col) || !(prior.weight >= 0.0) ||
            !std::isfinite(prior.weight))
            throw std::invalid_argument("prior for tile " + std::to_string(prior.tile) +
                                        ": position must be finite and weight >= 0");
    }
}

}  // namespace

Placement solve_positions(std::int64_t n, const std::vector<Displacement>& pairs,
                          const std::vector<Prior>& priors, const SolveSettings& settings) {
    validate(n, pairs, priors);
    if (settings.loss != RobustLoss::none && !(settings.robust_scale > 0.0))
        throw std::invalid_argument("robust_scale must be > 0");
    const std::size_t m = pairs.size();

    std::vector<double> prior_diagonal(n, 0.0), prior_row(n, 0.0), prior_col(n, 0.0);
    for (const auto& prior : priors) {
        prior_diagonal[prior.tile] += prior.weight;
        prior_row[prior.tile] += prior.weight * prior.row;
        prior_col[prior.tile] += prior.weight * prior.col;
    }

    Placement result;
    result.positions.assign(2 * n, 0.0);
    result.residuals.assign(2 * m, 0.0);
    result.robust_weights.assign(m, 1.0);
    const int max_cg = settings.max_cg_iterations > 0 ? settings.max_cg_iterations
                                                      : static_cast<int>(10 * n + 100);
    const int rounds = settings.loss == RobustLoss::none ? 1
                                                         : std::max(1, settings.max_reweighting_iterations);
    std::vector<double> rows(n, 0.0), cols(n, 0.0), rhs_row(n), rhs_col(n), pair_weights(m);
    // Where the round started, and whether its weights were worked out there (not so for the
    // first round from scratch, which starts from plain least squares).
    std::vector<double> start_rows(n), start_cols(n), trial_rows(n), trial_cols(n);
    bool weights_from_start = false;
    if (!settings.initial_positions.empty()) {
        if (settings.initial_positions.size() != static_cast<std::size_t>(2 * n))
            throw std::invalid_argument("initial_positions must hold n_tiles x 2 values");
        for (std::int64_t t = 0; t < n; ++t) {
            rows[t] = settings.initial_positions[2 * t];
            cols[t] = settings.initial_positions[2 * t + 1];
            if (!std::isfinite(rows[t]) || !std::isfinite(cols[t]))
                throw std::invalid_argument("initial_positions must be finite");
        }
        // The robust weights of the starting point too: from a layout that was already
        // solved, the reweighting then starts where it ended instead of at plain least squares.
        if (settings.loss != RobustLoss::none) {
            for (std::size_t k = 0; k < m; ++k) {
                const auto& p = pairs[k];
                const double res_row = rows[p.j] - rows[p.i] - p.d_row;
                const double res_col = cols[p.j] - cols[p.i] - p.d_col;
                result.robust_weights[k] = robust_factor(settings.loss, std::hypot(res_row, res_col),
                                                         settings.robust_scale);
            }
            weights_from_start = true;
        }
    }

    // The direct solver's ordering and band depend only on which tiles the pairs join, so they
    // are worked out once for all rounds.
    std::optional<EnvelopeCholesky> factorisation;
    if (settings.method != SolveMethod::conjugate_gradients && n > 0) {
        const SparseMatrix pattern = normal_matrix(n, pairs, std::vector<double>(m, 1.0), prior_diagonal);
        EnvelopeCholesky candidate(pattern, solve_detail::reverse_cuthill_mckee(pattern));
        if (settings.method == SolveMethod::direct || candidate.factor_cost() <= kMaxDirectCost)
            factorisation = std::move(candidate);
    }

    for (int round = 0; round < rounds; ++round) {
        start_rows = rows;
        start_cols = cols;
        const bool from_iterate = weights_from_start;
        for (std::size_t k = 0; k < m; ++k) pair_weights[k] = pairs[k].weight * result.robust_weights[k];
        const SparseMatrix matrix = normal_matrix(n, pairs, pair_weights, prior_diagonal);
        rhs_row = prior_row;
        rhs_col = prior_col;
        for (std::size_t k = 0; k < m; ++k) {
            const auto& p = pairs[k];
            const double w = pair_weights[k];
            rhs_row[p.j] += w * p.d_row;
            rhs_row[p.i] -= w * p.d_row;
            rhs_col[p.j] += w * p.d_col;
            rhs_col[p.i] -= w * p.d_col;
        }
        // Which tiles float together, and which of those groups no prior anchors.
        const std::vector<std::int64_t> component = components(n, pairs, pair_weights);
        std::vector<char> anchored(n, 0);
        for (std::int64_t t = 0; t < n; ++t)
            if (prior_diagonal[t] > 0.0) anchored[component[t]] = 1;

        bool solved_directly = false;
        if (factorisation) {
            // Pin one tile (the group's root) of every unanchored group at 0: that removes
            // the free translation which makes the matrix singular, and the mean is taken
            // out below as for conjugate gradients.
            std::vector<char> pinned(n, 0);
            for (std::int64_t t = 0; t < n; ++t)
                if (!anchored[component[t]] && component[t] == t) pinned[t] = 1;
            if (factorisation->factor(matrix, pinned)) {
                ++result.factorisations;
                factorisation->solve(rhs_row, rows);
                factorisation->solve(rhs_col, cols);
                // One step of iterative refinement where the matrix is nearly singular. With
                // priors as weak as the batch run's first solve's (1e-9), it nearly is along a
                // translation of the whole layout, and rounding in the factor moved the
                // solution along it (3.5e-4 px on a 30 x 30 grid); solving again for the
                // residual, taken pair by pair so that it holds no such rounding, removes that.
                if (factorisation->smallest_pivot_ratio() < kRefineBelowPivotRatio) {
                    std::vector<double> residual_row, residual_col, step(n);
                    normal_residual(pairs, pair_weights, prior_diagonal, prior_row, rows,
                                    residual_row, &Displacement::d_row);
                    normal_residual(pairs, pair_weights, prior_diagonal, prior_col, cols,
                                    residual_col, &Displacement::d_col);
                    factorisation->solve(residual_row, step);
                    for (std::int64_t t = 0; t < n; ++t) rows[t] += step[t];
                    factorisation->solve(residual_col, step);
                    for (std::int64_t t = 0; t < n; ++t) cols[t] += step[t];
                }
                solved_directly = true;
                result.converged = true;
            }
        }
        if (!solved_directly) {
            bool converged_rows = true, converged_cols = true;
            // Warm start from the previous round: reweighting moves positions only a little.
            const std::vector<double> diagonal = matrix.diagonal();
            result.cg_iterations += conjugate_gradients(matrix, diagonal, rhs_row, rows,
                                                        settings.tolerance, max_cg, converged_rows);
            result.cg_iterations += conjugate_gradients(matrix, diagonal, rhs_col, cols,
                                                        settings.tolerance, max_cg, converged_cols);
            result.converged = converged_rows && converged_cols;
        }

        // Fix the free translation of every component that has no prior: mean position zero.
        std::vector<double> sum_row(n, 0.0), sum_col(n, 0.0), count(n, 0.0);
        for (std::int64_t t = 0; t < n; ++t) {
            sum_row[component[t]] += rows[t];
            sum_col[component[t]] += cols[t];
            count[component[t]] += 1.0;
        }
        for (std::int64_t t = 0; t < n; ++t) {
            const std::int64_t c = component[t];
            if (anchored[c]) continue;
            rows[t] -= sum_row[c] / count[c];
            cols[t] -= sum_col[c] / count[c];
        }

        if (settings.loss != RobustLoss::none && from_iterate) {
            // A reweighting round is a step that lowers the robust objective (each round
            // minimises a quadratic that lies above it and touches it at the round's start),
            // but it converges only linearly, slowly where pairs sit near the robust scale:
            // the step is then too short, along much the same direction round after round.
            // Longer steps along it (2x, 4x, ...) are tried and the lowest objective is kept.
            // Every point kept lowers the objective, so the minimum is the one plain
            // reweighting approaches. Measured on the three Cauchy solves of a 40 x 40 scan:
            // the weights settle (to 1e-6) in 35-42 rounds, where plain reweighting stopped at
            // its 50-round cap up to 1.5e-3 px short of the minimum.
            double lowest = objective(pairs, priors, settings, rows, cols);
            double kept = 1.0;
            for (double stretch = 2.0; stretch <= kLongestStretch; stretch *= 2.0) {
                for (std::int64_t t = 0; t < n; ++t) {
                    trial_rows[t] = start_rows[t] + stretch * (rows[t] - start_rows[t]);
                    trial_cols[t] = start_cols[t] + stretch * (cols[t] - start_cols[t]);
                }
                const double cost = objective(pairs, priors, settings, trial_rows, trial_cols);
                if (!(cost < lowest)) break;
                lowest = cost;
                kept = stretch;
            }
            if (kept > 1.0) {
                for (std::int64_t t = 0; t < n; ++t) {
                    rows[t] = start_rows[t] + kept * (rows[t] - start_rows[t]);
                    cols[t] = start_cols[t] + kept * (cols[t] - start_cols[t]);
                }
            }
        }
        weights_from_start = true;  // the next round's weights come from where this one ended
        double largest_step = 0.0;
        for (std::int64_t t = 0; t < n; ++t)
            largest_step = std::max({largest_step, std::abs(rows[t] - start_rows[t]),
                                     std::abs(cols[t] - start_cols[t])});

        double largest_weight_change = 0.0;
        for (std::size_t k = 0; k < m; ++k) {
            const auto& p = pairs[k];
            const double res_row = rows[p.j] - rows[p.i] - p.d_row;
            const double res_col = cols[p.j] - cols[p.i] - p.d_col;
            result.residuals[2 * k] = res_row;
            result.residuals[2 * k + 1] = res_col;
            if (settings.loss == RobustLoss::none) continue;
            const double updated = robust_factor(settings.loss, std::hypot(res_row, res_col),
                                                 settings.robust_scale);
            largest_weight_change =
                std::max(largest_weight_change, std::abs(updated - result.robust_weights[k]));
            result.robust_weights[k] = updated;
        }
        result.reweighting_iterations = round + 1;
        if (settings.loss == RobustLoss::none || largest_weight_change < 1e-6) break;
        if (from_iterate && largest_step < settings.position_tolerance) break;
        if (round + 1 == rounds) result.converged = false;  // weights still moving at the cap
    }
    for (std::int64_t t = 0; t < n; ++t) {
        result.positions[2 * t] = rows[t];
        result.positions[2 * t + 1] = cols[t];
    }
    return result;
}

}  // namespace ofs
