#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ofs/solve/placement.hpp"
#include "ofs/solve/point_placement.hpp"

namespace py = pybind11;

namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

ofs::RobustLoss parse_loss(const std::string& name) {
    if (name == "none" || name.empty()) return ofs::RobustLoss::none;
    if (name == "huber") return ofs::RobustLoss::huber;
    if (name == "cauchy") return ofs::RobustLoss::cauchy;
    throw py::value_error("robust loss must be 'huber', 'cauchy' or None, not '" + name + "'");
}

ofs::SolveMethod parse_method(const std::string& name) {
    if (name == "auto") return ofs::SolveMethod::automatic;
    if (name == "direct") return ofs::SolveMethod::direct;
    if (name == "cg") return ofs::SolveMethod::conjugate_gradients;
    throw py::value_error("method must be 'auto', 'direct' or 'cg', not '" + name + "'");
}

ofs::PointModel parse_model(const std::string& name) {
    if (name == "translation") return ofs::PointModel::translation;
    if (name == "affine") return ofs::PointModel::affine;
    throw py::value_error("model must be 'translation' or 'affine', not '" + name + "'");
}

ofs::Gauge parse_gauge(const std::string& name) {
    if (name == "first") return ofs::Gauge::first;
    if (name == "mean") return ofs::Gauge::mean;
    throw py::value_error("gauge must be 'first' or 'mean', not '" + name + "'");
}

void require_length(const py::array& array, py::ssize_t length, const char* name) {
    if (array.shape(0) != length)
        throw py::value_error(std::string(name) + " has " + std::to_string(array.shape(0)) +
                              " rows; expected " + std::to_string(length));
}

}  // namespace

void bind_solve(py::module_ m) {
    m.def(
        "solve_positions",
        [](std::int64_t n_tiles, Int64Array i, Int64Array j, DoubleArray displacement,
           DoubleArray weight, Int64Array prior_tile, DoubleArray prior_position,
           DoubleArray prior_weight, const std::string& loss, double robust_scale,
           int max_reweighting_iterations, double tolerance,
           std::optional<DoubleArray> initial_positions, const std::string& method,
           double position_tolerance) {
            const py::ssize_t m_pairs = i.shape(0);
            require_length(j, m_pairs, "j");
            require_length(weight, m_pairs, "weight");
            if (displacement.ndim() != 2 || displacement.shape(1) != 2)
                throw py::value_error("displacement must have shape (m, 2)");
            require_length(displacement, m_pairs, "displacement");
            const py::ssize_t k_priors = prior_tile.shape(0);
            if (prior_position.ndim() != 2 || prior_position.shape(1) != 2)
                throw py::value_error("prior_position must have shape (k, 2)");
            require_length(prior_position, k_priors, "prior_position");
            require_length(prior_weight, k_priors, "prior_weight");

            std::vector<ofs::Displacement> pairs(m_pairs);
            auto iv = i.unchecked<1>();
            auto jv = j.unchecked<1>();
            auto dv = displacement.unchecked<2>();
            auto wv = weight.unchecked<1>();
            for (py::ssize_t k = 0; k < m_pairs; ++k)
                pairs[k] = {iv(k), jv(k), dv(k, 0), dv(k, 1), wv(k)};
            std::vector<ofs::Prior> priors(k_priors);
            auto tv = prior_tile.unchecked<1>();
            auto pv = prior_position.unchecked<2>();
            auto vv = prior_weight.unchecked<1>();
            for (py::ssize_t k = 0; k < k_priors; ++k) priors[k] = {tv(k), pv(k, 0), pv(k, 1), vv(k)};

            ofs::SolveSettings settings;
            settings.loss = parse_loss(loss);
            settings.robust_scale = robust_scale;
            settings.max_reweighting_iterations = max_reweighting_iterations;
            settings.tolerance = tolerance;
            settings.position_tolerance = position_tolerance;
            settings.method = parse_method(method);
            if (initial_positions) {
                if (initial_positions->ndim() != 2 || initial_positions->shape(1) != 2)
                    throw py::value_error("initial_positions must have shape (n_tiles, 2)");
                require_length(*initial_positions, n_tiles, "initial_positions");
                settings.initial_positions.assign(initial_positions->data(),
                                                  initial_positions->data() + 2 * n_tiles);
            }
            ofs::Placement placement;
            {
                py::gil_scoped_release release;  // works on its own copies of the inputs
                placement = ofs::solve_positions(n_tiles, pairs, priors, settings);
            }
            py::array_t<double> positions({static_cast<py::ssize_t>(n_tiles), py::ssize_t{2}});
            std::copy(placement.positions.begin(), placement.positions.end(),
                      positions.mutable_data());
            py::array_t<double> residuals({m_pairs, py::ssize_t{2}});
            std::copy(placement.residuals.begin(), placement.residuals.end(),
                      residuals.mutable_data());
            py::array_t<double> robust_weights(m_pairs);
            std::copy(placement.robust_weights.begin(), placement.robust_weights.end(),
                      robust_weights.mutable_data());
            py::dict info;
            info["reweighting_iterations"] = placement.reweighting_iterations;
            info["cg_iterations"] = placement.cg_iterations;
            info["factorisations"] = placement.factorisations;
            info["converged"] = placement.converged;
            return py::make_tuple(positions, residuals, robust_weights, info);
        },
        py::arg("n_tiles"), py::arg("i"), py::arg("j"), py::arg("displacement"), py::arg("weight"),
        py::arg("prior_tile"), py::arg("prior_position"), py::arg("prior_weight"),
        py::arg("loss") = "none", py::arg("robust_scale") = 1.0,
        py::arg("max_reweighting_iterations") = 50, py::arg("tolerance") = 1e-12,
        py::arg("initial_positions") = py::none(), py::arg("method") = "auto",
        py::arg("position_tolerance") = 0.0);

    m.def(
        "place_points",
        [](std::int64_t n_tiles, Int64Array tile_a, Int64Array tile_b, DoubleArray points_a,
           DoubleArray points_b, DoubleArray weight, const std::string& model,
           const std::string& gauge, std::int64_t fixed_tile, const std::string& loss,
           double robust_scale, int max_reweighting_iterations, double tolerance) {
            const py::ssize_t m_matches = tile_a.shape(0);
            require_length(tile_b, m_matches, "tile_b");
            require_length(weight, m_matches, "weight");
            for (const auto* points : {&points_a, &points_b}) {
                if (points->ndim() != 2 || points->shape(1) != 2)
                    throw py::value_error("points must have shape (m, 2)");
                require_length(*points, m_matches, "points");
            }
            std::vector<ofs::PointMatch> matches(m_matches);
            auto av = tile_a.unchecked<1>();
            auto bv = tile_b.unchecked<1>();
            auto pa = points_a.unchecked<2>();
            auto pb = points_b.unchecked<2>();
            auto wv = weight.unchecked<1>();
            for (py::ssize_t k = 0; k < m_matches; ++k)
                matches[k] = {av(k), bv(k), pa(k, 0), pa(k, 1), pb(k, 0), pb(k, 1), wv(k)};
            ofs::PointSolveSettings settings;
            settings.model = parse_model(model);
            settings.gauge = parse_gauge(gauge);
            settings.fixed_tile = fixed_tile;
            settings.loss = parse_loss(loss);
            settings.robust_scale = robust_scale;
            settings.max_reweighting_iterations = max_reweighting_iterations;
            settings.tolerance = tolerance;
            ofs::PointPlacement placement;
            {
                py::gil_scoped_release release;  // works on its own copies of the inputs
                placement = ofs::place_points(n_tiles, matches, settings);
            }
            const auto n = static_cast<py::ssize_t>(n_tiles);
            py::array_t<double> affines({n, py::ssize_t{2}, py::ssize_t{3}});
            std::copy(placement.affines.begin(), placement.affines.end(), affines.mutable_data());
            py::array_t<double> residuals({m_matches, py::ssize_t{2}});
            std::copy(placement.residuals.begin(), placement.residuals.end(),
                      residuals.mutable_data());
            py::array_t<double> robust_weights(m_matches);
            std::copy(placement.robust_weights.begin(), placement.robust_weights.end(),
                      robust_weights.mutable_data());
            py::array_t<std::int64_t> group(n);
            std::copy(placement.group.begin(), placement.group.end(), group.mutable_data());
            py::dict info;
            info["reweighting_iterations"] = placement.reweighting_iterations;
            info["cg_iterations"] = placement.cg_iterations;
            info["converged"] = placement.converged;
            return py::make_tuple(affines, residuals, robust_weights, group, info);
        },
        py::arg("n_tiles"), py::arg("tile_a"), py::arg("tile_b"), py::arg("points_a"),
        py::arg("points_b"), py::arg("weight"), py::arg("model") = "affine",
        py::arg("gauge") = "first", py::arg("fixed_tile") = -1, py::arg("loss") = "none",
        py::arg("robust_scale") = 1.0, py::arg("max_reweighting_iterations") = 50,
        py::arg("tolerance") = 1e-12);
}
