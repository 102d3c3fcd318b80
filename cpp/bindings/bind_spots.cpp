#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <thread>
#include <vector>

#include "array_views.hpp"
#include "ofs/spots/gaussian_fit.hpp"

namespace py = pybind11;
using ofs_bindings::Axes;
using ofs_bindings::image_view;

void bind_spots(py::module_ m) {
    m.def(
        "fit_gaussians",
        [](const py::array& image, const py::array_t<double, py::array::c_style | py::array::forcecast>& starts,
           int half_width, double sigma, int threads) -> py::array_t<double> {
            const auto view = image_view<float>(image, "image", Axes::plane);
            if (starts.ndim() != 2 || starts.shape(1) != 2)
                throw py::value_error("starts must be (n, 2) (row, col) positions");
            if (half_width < 1) throw py::value_error("half_width must be at least 1");
            if (!(sigma > 0)) throw py::value_error("sigma must be > 0");
            const std::ptrdiff_t count = starts.shape(0);
            ofs::GaussianFitSettings settings;
            settings.half_width = half_width;
            settings.sigma = sigma;
            std::vector<ofs::GaussianSpot> spots(static_cast<std::size_t>(count));
            const int workers =
                threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
            {
                // `image` and `starts` are held by the caller's frame and only read; `spots` is
                // ours.
                py::gil_scoped_release release;
                ofs::fit_gaussians(view, starts.data(), count, settings, spots.data(), workers);
            }
            py::array_t<double> out({count, static_cast<std::ptrdiff_t>(8)});
            auto rows = out.mutable_unchecked<2>();
            for (std::ptrdiff_t k = 0; k < count; ++k) {
                const auto& s = spots[static_cast<std::size_t>(k)];
                const double values[8] = {s.amplitude, s.row,          s.col,
                                          s.sigma,     s.offset,       s.rms_residual,
                                          static_cast<double>(s.iterations),
                                          s.converged ? 1.0 : 0.0};
                for (int c = 0; c < 8; ++c) rows(k, c) = values[c];
            }
            return out;
        },
        py::arg("image"), py::arg("starts"), py::arg("half_width") = 4, py::arg("sigma") = 1.5,
        py::arg("threads") = 0,
        "Fit amplitude * exp(-|p - centre|^2 / (2 sigma^2)) + offset to the (2 half_width + 1)^2 "
        "window around each start (n, 2) (row, col) of a 2-D float32 image of any strides. "
        "Returns (n, 8): amplitude, row, col, sigma, offset, rms residual, iterations, "
        "converged (1 or 0).");
}
