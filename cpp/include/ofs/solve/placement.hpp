// Placing tiles from pairwise displacement measurements: sparse weighted least squares.
//
//   minimise  sum_k w_k |p_j - p_i - d_k|^2  +  sum_t v_t |p_t - q_t|^2
//
// over tile positions p (n x 2), with measured displacements d_k between tiles i and j, and
// optional absolute priors q_t (stage positions) with weights v_t. The two coordinates share
// one normal matrix (a weighted graph Laplacian plus the prior diagonal), factored directly
// (Cholesky in a reverse Cuthill-McKee band: a scan's grid makes that band narrow), or solved
// with Jacobi-preconditioned conjugate gradients when the band is too wide for that to pay.
// Components with no prior have a free translation; they are returned with mean position zero. A robust loss re-weights pairs by their residual
// (iteratively reweighted least squares) so a few wrong measurements cannot drag the layout.
#pragma once

#include <cstdint>
#include <vector>

namespace ofs {

struct Displacement {
    std::int64_t i = 0;
    std::int64_t j = 0;
    double d_row = 0.0;  // measured p_j - p_i
    double d_col = 0.0;
    double weight = 1.0;
};

struct Prior {
    std::int64_t tile = 0;
    double row = 0.0;
    double col = 0.0;
    double weight = 0.0;
};

enum class RobustLoss { none, huber, cauchy };

// How each round's linear system is solved. automatic: directly when the factorisation is
// cheap enough (placement.cpp: kMaxDirectCost), else conjugate gradients. A direct solve
// that meets a singular matrix falls back to conjugate gradients for that round.
enum class SolveMethod { automatic, direct, conjugate_gradients };

struct SolveSettings {
    RobustLoss loss = RobustLoss::none;
    double robust_scale = 1.0;  // residual (pixels) where the robust loss starts to bend
    int max_reweighting_iterations = 50;
    // Reweighting also ends once a round moves no position by more than this (pixels); it
    // always ends once no robust weight changes by 1e-6 (0: only then).
    double position_tolerance = 0.0;
    double tolerance = 1e-12;  // CG stops when |residual| <= tolerance * |rhs| (CG only)
    SolveMethod method = SolveMethod::automatic;
    int max_cg_iterations = 0;  // 0: 10 * n + 100
    // Where conjugate gradients start: n x 2 row-major (row, col), or empty for all zeros. A
    // good start (the previous layout when one tile was added) needs fewer iterations; the
    // solution is the same.
    std::vector<double> initial_positions;
};

struct Placement {
    std::vector<double> positions;  // n x 2, row-major (row, col)
    std::vector<double> residuals;  // m x 2: (p_j - p_i) - d_k
    std::vector<double> robust_weights;  // m: the final IRLS factor (1 without a robust loss)
    int reweighting_iterations = 0;
    int cg_iterations = 0;  // total over coordinates and reweighting rounds (0: all direct)
    int factorisations = 0;  // direct factorisations of the normal matrix
    bool converged = true;  // CG reached its tolerance and the reweighting settled
};

// Throws std::invalid_argument for indices outside [0, n), i == j, negative or non-finite
// weights, or non-finite displacements.
Placement solve_positions(std::int64_t n_tiles, const std::vector<Displacement>& displacements,
                          const std::vector<Prior>& priors, const SolveSettings& settings);

}  // namespace ofs
