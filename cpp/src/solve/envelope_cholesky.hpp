// A direct solver for the placement's normal matrix: Cholesky factorisation in envelope
// (skyline) storage after a reverse Cuthill-McKee reordering. Internal to src/solve.
//
// Why: the normal matrix of a tile scan is a weighted graph Laplacian plus a prior diagonal,
// and a scan's graph is a grid. Numbered by reverse Cuthill-McKee (breadth-first from a far
// corner), every tile's neighbours sit within about one grid row of it, so the nonzeros of
// each row of the factor L lie between the row's first neighbour and the diagonal: the
// "envelope". Storing exactly that band per row and factoring costs about n * band^2 / 2
// multiply-adds (1,600 tiles: ~2 ms) and is exact, where conjugate gradients needs hundreds of
// iterations on this badly conditioned matrix. One factor serves both axes (same matrix).
#pragma once

#include <cstdint>
#include <vector>

#include "least_squares.hpp"

namespace ofs::solve_detail {

// Reverse Cuthill-McKee order of the graph whose edges are the off-diagonal entries of
// `pattern`: order[k] is the tile numbered k. Deterministic (ties go to the lower index).
std::vector<std::int64_t> reverse_cuthill_mckee(const SparseMatrix& pattern);

class EnvelopeCholesky {
public:
    // The envelope of `pattern` (any symmetric matrix with the sparsity of the matrices to be
    // factored later) in the given order.
    EnvelopeCholesky(const SparseMatrix& pattern, std::vector<std::int64_t> order);

    // Multiply-adds one factorisation costs: decides whether the direct solve pays.
    double factor_cost() const { return factor_cost_; }

    // Factor `matrix` (same sparsity as the pattern) with the tiles in `pinned` held at zero:
    // their rows and columns are replaced by the identity, which fixes the free translation
    // of a group of tiles that nothing anchors. False when a pivot is not positive (the matrix
    // is singular or indefinite to rounding): the caller then solves another way.
    bool factor(const SparseMatrix& matrix, const std::vector<char>& pinned);

    // The smallest pivot of the last factorisation relative to its diagonal entry: near 0
    // when the matrix is nearly singular (then rounding moves the solution along the nearly
    // free direction, and a step of iterative refinement pays).
    double smallest_pivot_ratio() const { return smallest_pivot_ratio_; }

    // Solve matrix * x = rhs with the last factorisation; pinned tiles come out 0.
    void solve(const std::vector<double>& rhs, std::vector<double>& x) const;

private:
    std::int64_t n_ = 0;
    std::vector<std::int64_t> order_;     // new number -> tile
    std::vector<std::int64_t> position_;  // tile -> new number
    // Row r (new numbering) of L holds columns first_[r] .. r-1 at
    // lower_[row_start_[r] .. row_start_[r + 1]); its diagonal is diagonal_[r].
    std::vector<std::int64_t> first_;
    std::vector<std::int64_t> row_start_;
    std::vector<double> lower_;
    std::vector<double> diagonal_;
    std::vector<double> inverse_diagonal_;
    std::vector<char> pinned_;  // new numbering, from the last factor()
    double factor_cost_ = 0.0;
    double smallest_pivot_ratio_ = 1.0;
};

}  // namespace ofs::solve_detail
