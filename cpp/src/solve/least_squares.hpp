// Pieces shared by the solvers of this area (placement.cpp, point_placement.cpp): a symmetric
// sparse matrix in compressed-row form, Jacobi-preconditioned conjugate gradients over any
// operator with `multiply`, and the robust losses' reweighting factor. Internal to src/solve.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "ofs/solve/placement.hpp"

namespace ofs::solve_detail {

// Symmetric sparse matrix in compressed-row form.
struct SparseMatrix {
    std::vector<std::int64_t> row_start;  // n + 1
    std::vector<std::int64_t> column;
    std::vector<double> value;

    std::int64_t size() const { return static_cast<std::int64_t>(row_start.size()) - 1; }

    void multiply(const std::vector<double>& x, std::vector<double>& y) const {
        const std::int64_t n = size();
        for (std::int64_t r = 0; r < n; ++r) {
            double sum = 0.0;
            for (std::int64_t k = row_start[r]; k < row_start[r + 1]; ++k) sum += value[k] * x[column[k]];
            y[r] = sum;
        }
    }

    std::vector<double> diagonal() const {
        std::vector<double> d(size(), 0.0);
        for (std::int64_t r = 0; r < size(); ++r)
            for (std::int64_t k = row_start[r]; k < row_start[r + 1]; ++k)
                if (column[k] == r) d[r] += value[k];
        return d;
    }
};

// One entry (row, column, value) of a matrix being assembled; entries at the same place add.
struct Entry {
    std::int64_t row;
    std::int64_t column;
    double value;
};

// The compressed-row matrix of n x n holding the sums of `entries` (which it sorts).
inline SparseMatrix assemble(std::int64_t n, std::vector<Entry>& entries) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.row != b.row ? a.row < b.row : a.column < b.column;
    });
    SparseMatrix m;
    m.row_start.assign(n + 1, 0);
    for (std::size_t k = 0; k < entries.size(); ++k) {
        const Entry& e = entries[k];
        if (!m.column.empty() && k > 0 && entries[k - 1].row == e.row &&
            entries[k - 1].column == e.column) {
            m.value.back() += e.value;
            continue;
        }
        m.column.push_back(e.column);
        m.value.push_back(e.value);
        ++m.row_start[e.row + 1];
    }
    for (std::int64_t r = 0; r < n; ++r) m.row_start[r + 1] += m.row_start[r];
    return m;
}

// Jacobi-preconditioned conjugate gradients from the starting point in x, for any symmetric
// positive semi-definite operator with `multiply(x, y)`. A singular system with a consistent
// right-hand side still converges (the null-space part of x stays where it started).
template <class Operator>
int conjugate_gradients(const Operator& m, const std::vector<double>& diagonal,
                        const std::vector<double>& rhs, std::vector<double>& x, double tolerance,
                        int max_iterations, bool& converged) {
    const std::size_t n = rhs.size();
    std::vector<double> inverse_diagonal(n), r(n), z(n), p(n), q(n);
    for (std::size_t t = 0; t < n; ++t)
        inverse_diagonal[t] = diagonal[t] > 0.0 ? 1.0 / diagonal[t] : 0.0;  // unconstrained: stays put
    m.multiply(x, q);
    for (std::size_t t = 0; t < n; ++t) r[t] = rhs[t] - q[t];
    const double rhs_norm = std::sqrt(std::inner_product(rhs.begin(), rhs.end(), rhs.begin(), 0.0));
    const double goal = tolerance * std::max(rhs_norm, 1e-300);
    for (std::size_t t = 0; t < n; ++t) z[t] = inverse_diagonal[t] * r[t];
    p = z;
    double rz = std::inner_product(r.begin(), r.end(), z.begin(), 0.0);
    converged = false;
    int iteration = 0;
    for (; iteration < max_iterations; ++iteration) {
        if (std::sqrt(std::inner_product(r.begin(), r.end(), r.begin(), 0.0)) <= goal) {
            converged = true;
            break;
        }
        m.multiply(p, q);
        const double pq = std::inner_product(p.begin(), p.end(), q.begin(), 0.0);
        if (!(pq > 0.0)) {  // the remaining residual lies in the null space: nothing left to fit
            converged = true;
            break;
        }
        const double alpha = rz / pq;
        for (std::size_t t = 0; t < n; ++t) {
            x[t] += alpha * p[t];
            r[t] -= alpha * q[t];
            z[t] = inverse_diagonal[t] * r[t];
        }
        const double rz_next = std::inner_product(r.begin(), r.end(), z.begin(), 0.0);
        const double beta = rz_next / rz;
        rz = rz_next;
        for (std::size_t t = 0; t < n; ++t) p[t] = z[t] + beta * p[t];
    }
    if (!converged)
        converged = std::sqrt(std::inner_product(r.begin(), r.end(), r.begin(), 0.0)) <= goal;
    return iteration;
}

// The factor iteratively reweighted least squares leaves on a measurement whose residual has
// this length: 1 inside the scale, falling off outside it (Huber: 1/u, Cauchy: 1/(1+u^2)).
inline double robust_factor(RobustLoss loss, double residual, double scale) {
    const double u = residual / scale;
    switch (loss) {
        case RobustLoss::huber:
            return u <= 1.0 ? 1.0 : 1.0 / u;
        case RobustLoss::cauchy:
            return 1.0 / (1.0 + u * u);
        case RobustLoss::none:
            break;
    }
    return 1.0;
}

}  // namespace ofs::solve_detail
