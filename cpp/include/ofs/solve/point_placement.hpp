// Placing tiles from matching points: every tile gets a translation or a full affine map into
// one model space, so that matching points land on each other.
//
//   minimise  sum_k w_k |T_a(p_k) - T_b(q_k)|^2
//
// over the tile maps T, where point p_k of tile a and point q_k of tile b show the same thing.
// Points are (x, y). A translation is T(p) = p + o (2 unknowns per tile); an affine map is
// T(p) = A (x, y, 1) with A 2x3 (6 unknowns per tile). The x and y rows of every map enter
// separately and share one sparse normal matrix, solved with Jacobi-preconditioned conjugate
// gradients. Nothing in the matches fixes where the whole model sits (nor, for affines, its
// rotation, scale and shear), so each connected group of tiles takes a gauge: its first tile
// is the identity, or the mean of its maps is. A robust loss re-weights matches by the length
// of their residual (iteratively reweighted least squares), as solve_positions does.
#pragma once

#include <cstdint>
#include <vector>

#include "ofs/solve/placement.hpp"

namespace ofs {

struct PointMatch {
    std::int64_t tile_a = 0;
    std::int64_t tile_b = 0;
    double xa = 0.0, ya = 0.0;  // the point in tile a
    double xb = 0.0, yb = 0.0;  // the same feature in tile b
    double weight = 1.0;
};

enum class PointModel { translation, affine };

// Which map of a connected group is pinned: its first tile (lowest index) is the identity, or
// the mean of its maps is the identity.
enum class Gauge { first, mean };

struct PointSolveSettings {
    PointModel model = PointModel::affine;
    Gauge gauge = Gauge::first;
    std::int64_t fixed_tile = -1;  // >= 0: this tile is the identity in its group, whatever gauge
    RobustLoss loss = RobustLoss::none;
    double robust_scale = 1.0;  // residual (pixels) where the robust loss starts to bend
    int max_reweighting_iterations = 50;
    double tolerance = 1e-12;  // CG stops when |residual| <= tolerance * |rhs|
};

struct PointPlacement {
    std::vector<double> affines;  // n x 6: row-major 2x3 A, model (x, y) = A (x, y, 1)
    std::vector<double> residuals;  // m x 2: T_a(p_k) - T_b(q_k), model pixels
    std::vector<double> robust_weights;  // m: the final IRLS factor (1 without a robust loss)
    std::vector<std::int64_t> group;  // n: connected group of each tile, numbered from 0
    int reweighting_iterations = 0;  // the most any group needed
    int cg_iterations = 0;  // total
    bool converged = true;
};

// Throws std::invalid_argument for tile indices outside [0, n), a match joining a tile to
// itself, non-finite points, or negative or non-finite weights.
PointPlacement place_points(std::int64_t n_tiles, const std::vector<PointMatch>& matches,
                            const PointSolveSettings& settings);

}  // namespace ofs
