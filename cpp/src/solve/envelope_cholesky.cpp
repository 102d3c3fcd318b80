#include "envelope_cholesky.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

namespace ofs::solve_detail {

namespace {

// Tiles joined to `tile` by an off-diagonal entry (a pair), calling visit(neighbour) on each.
template <class Visit>
void for_each_neighbour(const SparseMatrix& pattern, std::int64_t tile, Visit visit) {
    for (std::int64_t k = pattern.row_start[tile]; k < pattern.row_start[tile + 1]; ++k)
        if (pattern.column[k] != tile) visit(pattern.column[k]);
}

// sum_k a[k] * b[k] over k < length, in four running sums: independent additions the
// processor overlaps (and may pair into vector instructions), where one sum would wait on
// each addition in turn. Most of a factorisation's time is spent here.
inline double dot_product(const double* a, const double* b, std::int64_t length) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    std::int64_t k = 0;
    for (; k + 4 <= length; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < length; ++k) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

// {sum_k x[k] * a[k], sum_k x[k] * b[k]} over k < length, reading x once for both, with two
// running sums each.
inline std::pair<double, double> two_dot_products(const double* x, const double* a,
                                                  const double* b, std::int64_t length) {
    double a0 = 0.0, a1 = 0.0, b0 = 0.0, b1 = 0.0;
    std::int64_t k = 0;
    for (; k + 2 <= length; k += 2) {
        a0 += x[k] * a[k];
        a1 += x[k + 1] * a[k + 1];
        b0 += x[k] * b[k];
        b1 += x[k + 1] * b[k + 1];
    }
    for (; k < length; ++k) {
        a0 += x[k] * a[k];
        b0 += x[k] * b[k];
    }
    return {a0 + a1, b0 + b1};
}

// Breadth-first levels from `root` over its connected group: fills `level` (which must be -1
// on the group) and returns the group's tiles in the order reached. The caller resets `level`.
std::vector<std::int64_t> levels_from(const SparseMatrix& pattern, std::int64_t root,
                                      std::vector<std::int64_t>& level) {
    std::vector<std::int64_t> reached{root};
    level[root] = 0;
    for (std::size_t head = 0; head < reached.size(); ++head) {
        const std::int64_t tile = reached[head];
        for_each_neighbour(pattern, tile, [&](std::int64_t next) {
            if (level[next] >= 0) return;
            level[next] = level[tile] + 1;
            reached.push_back(next);
        });
    }
    return reached;
}

}  // namespace

std::vector<std::int64_t> reverse_cuthill_mckee(const SparseMatrix& pattern) {
    const std::int64_t n = pattern.size();
    std::vector<std::int64_t> degree(n, 0);
    for (std::int64_t t = 0; t < n; ++t) for_each_neighbour(pattern, t, [&](std::int64_t) { ++degree[t]; });
    auto fewer_neighbours = [&](std::int64_t a, std::int64_t b) {
        return degree[a] != degree[b] ? degree[a] < degree[b] : a < b;
    };

    std::vector<std::int64_t> order;
    order.reserve(n);
    std::vector<char> numbered(n, 0);
    std::vector<std::int64_t> level(n, -1);
    for (std::int64_t start = 0; start < n; ++start) {
        if (numbered[start]) continue;
        // Start from a far end of the group (a "pseudo-peripheral" tile: George and Liu): the
        // breadth-first levels from there are many and narrow, which is what keeps the band
        // narrow. Repeat from the least-connected tile of the last level while that reaches
        // further.
        std::int64_t root = start;
        std::vector<std::int64_t> group = levels_from(pattern, root, level);
        for (int attempt = 0; attempt < 8; ++attempt) {
            const std::int64_t depth = level[group.back()];
            std::int64_t candidate = group.back();
            for (auto it = group.rbegin(); it != group.rend() && level[*it] == depth; ++it)
                if (fewer_neighbours(*it, candidate)) candidate = *it;
            for (std::int64_t t : group) level[t] = -1;
            std::vector<std::int64_t> from_candidate = levels_from(pattern, candidate, level);
            const bool deeper = level[from_candidate.back()] > depth;
            if (!deeper) {
                for (std::int64_t t : from_candidate) level[t] = -1;
                group = levels_from(pattern, root, level);  // keep the levels of `root`
                break;
            }
            root = candidate;
            group = std::move(from_candidate);
        }
        for (std::int64_t t : group) level[t] = -1;

        // Cuthill-McKee: breadth-first from the root, each tile's new neighbours numbered in
        // order of how few neighbours they have.
        const std::size_t group_start = order.size();
        order.push_back(root);
        numbered[root] = 1;
        std::vector<std::int64_t> fresh;
        for (std::size_t head = group_start; head < order.size(); ++head) {
            fresh.clear();
            for_each_neighbour(pattern, order[head], [&](std::int64_t next) {
                if (numbered[next]) return;
                numbered[next] = 1;
                fresh.push_back(next);
            });
            std::sort(fresh.begin(), fresh.end(), fewer_neighbours);
            order.insert(order.end(), fresh.begin(), fresh.end());
        }
    }
    // Reversed, the same band holds fewer entries in the factor (less fill inside it).
    std::reverse(order.begin(), order.end());
    return order;
}

EnvelopeCholesky::EnvelopeCholesky(const SparseMatrix& pattern, std::vector<std::int64_t> order)
    : n_(pattern.size()), order_(std::move(order)) {
    position_.assign(n_, 0);
    for (std::int64_t r = 0; r < n_; ++r) position_[order_[r]] = r;
    first_.resize(n_);
    row_start_.assign(n_ + 1, 0);
    for (std::int64_t r = 0; r < n_; ++r) {
        first_[r] = r;
        for_each_neighbour(pattern, order_[r], [&](std::int64_t tile) {
            first_[r] = std::min(first_[r], position_[tile]);
        });
        const double width = static_cast<double>(r - first_[r]);
        row_start_[r + 1] = row_start_[r] + (r - first_[r]);
        factor_cost_ += width * (width + 1.0) / 2.0;
    }
    diagonal_.assign(n_, 0.0);
    inverse_diagonal_.assign(n_, 0.0);
    pinned_.assign(n_, 0);
}

bool EnvelopeCholesky::factor(const SparseMatrix& matrix, const std::vector<char>& pinned) {
    lower_.assign(row_start_[n_], 0.0);
    std::fill(diagonal_.begin(), diagonal_.end(), 0.0);
    for (std::int64_t r = 0; r < n_; ++r) pinned_[r] = pinned[order_[r]];
    smallest_pivot_ratio_ = 1.0;
    // Copy the lower triangle (in the new numbering) into the envelope; a pinned tile keeps
    // only a 1 on its diagonal, so it decouples from the rest and solves to 0.
    for (std::int64_t tile = 0; tile < n_; ++tile) {
        const std::int64_t r = position_[tile];
        if (pinned_[r]) {
            diagonal_[r] = 1.0;
            continue;
        }
        for (std::int64_t k = matrix.row_start[tile]; k < matrix.row_start[tile + 1]; ++k) {
            const std::int64_t c = position_[matrix.column[k]];
            if (c == r)
                diagonal_[r] += matrix.value[k];
            else if (c < r && !pinned_[c])
                lower_[row_start_[r] + (c - first_[r])] += matrix.value[k];
        }
    }
    // Row by row: L[r][c] = (A[r][c] - sum_k L[r][k] L[c][k]) / L[c][c] over the columns k both
    // rows' envelopes hold, then L[r][r] = sqrt(A[r][r] - sum_c L[r][c]^2).
    for (std::int64_t r = 0; r < n_; ++r) {
        double* row = &lower_[row_start_[r]];
        const std::int64_t fr = first_[r];
        std::int64_t c = fr;
        // Two columns at a time: their two sums read row r once and run as independent
        // chains of additions (the factorisation took a fifth less time at 1,600 tiles).
        for (; c + 1 < r; c += 2) {
            const std::int64_t first_a = first_[c], first_b = first_[c + 1];
            const double* a = &lower_[row_start_[c]];      // row c of L
            const double* b = &lower_[row_start_[c + 1]];  // row c + 1 of L
            // Row c's sum runs over k in [ka, c), row c + 1's over [kb, c + 1); both from
            // `shared` up to c, the rest of either range alone, then row c + 1's k = c term.
            const std::int64_t ka = std::max(fr, first_a), kb = std::max(fr, first_b);
            const std::int64_t shared = std::min(std::max(ka, kb), c);
            double sum_a = 0.0, sum_b = 0.0;
            if (shared < c)  // (else row c + 1 may hold nothing before c: no pointer into it)
                std::tie(sum_a, sum_b) = two_dot_products(
                    row + (shared - fr), a + (shared - first_a), b + (shared - first_b), c - shared);
            if (ka < shared) sum_a += dot_product(row + (ka - fr), a + (ka - first_a), shared - ka);
            if (kb < shared) sum_b += dot_product(row + (kb - fr), b + (kb - first_b), shared - kb);
            row[c - fr] = (row[c - fr] - sum_a) * inverse_diagonal_[c];
            if (kb <= c) sum_b += row[c - fr] * b[c - first_b];
            row[c + 1 - fr] = (row[c + 1 - fr] - sum_b) * inverse_diagonal_[c + 1];
        }
        for (; c < r; ++c) {
            const double* other = &lower_[row_start_[c]];
            const std::int64_t k0 = std::max(fr, first_[c]);
            const double dot = dot_product(row + (k0 - fr), other + (k0 - first_[c]), c - k0);
            row[c - fr] = (row[c - fr] - dot) * inverse_diagonal_[c];
        }
        const double pivot = diagonal_[r] - dot_product(row, row, r - fr);
        // A pivot below 1e-12 of its diagonal entry may be mostly rounding (about 1e-16 of the
        // entries, grown through the elimination; 1e-15 still let noise through on groups
        // anchored by priors of 1e-30): the matrix is singular to working precision, not
        // solvable this way. The batch run's weakest priors (1e-9) leave ratios near 1e-7.
        if (!(pivot > 1e-12 * diagonal_[r]) || !std::isfinite(pivot)) return false;
        smallest_pivot_ratio_ = std::min(smallest_pivot_ratio_, pivot / diagonal_[r]);
        diagonal_[r] = std::sqrt(pivot);
        // Kept as its inverse too: a division takes many times a multiplication's time, and
        // every entry below this row's diagonal would otherwise need one.
        inverse_diagonal_[r] = 1.0 / diagonal_[r];
    }
    return true;
}

void EnvelopeCholesky::solve(const std::vector<double>& rhs, std::vector<double>& x) const {
    std::vector<double> y(n_);
    for (std::int64_t r = 0; r < n_; ++r) y[r] = pinned_[r] ? 0.0 : rhs[order_[r]];
    // L y' = y, forward.
    for (std::int64_t r = 0; r < n_; ++r) {
        const double* row = &lower_[row_start_[r]];
        y[r] = (y[r] - dot_product(row, &y[first_[r]], r - first_[r])) * inverse_diagonal_[r];
    }
    // L^T x = y', backward: row r of L is column r of L^T, so once x_r is known its
    // contribution leaves the equations of the columns in that row.
    for (std::int64_t r = n_ - 1; r >= 0; --r) {
        y[r] *= inverse_diagonal_[r];
        const double* row = &lower_[row_start_[r]];
        for (std::int64_t c = first_[r]; c < r; ++c) y[c] -= row[c - first_[r]] * y[r];
    }
    x.assign(n_, 0.0);
    for (std::int64_t r = 0; r < n_; ++r) x[order_[r]] = y[r];
}

}  // namespace ofs::solve_detail
