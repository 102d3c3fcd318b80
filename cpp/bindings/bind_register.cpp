#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_views.hpp"
#include "ofs/register/correlation.hpp"
#include "ofs/register/pair_registration.hpp"
#include "ofs/register/peak.hpp"
#include "ofs/register/refine_affine.hpp"

namespace py = pybind11;
using ofs_bindings::Axes;
using ofs_bindings::image_view;

namespace {

// The surface's buffer stays owned by the C++ object; numpy gets a view whose base is the
// Python wrapper, so the view keeps the buffer alive.
py::array_t<float> surface_values(py::object owner) {
    auto& surface = owner.cast<ofs::CorrelationSurface&>();
    return py::array_t<float>({surface.rows, surface.cols},
                              {static_cast<py::ssize_t>(sizeof(float)) * surface.cols,
                               static_cast<py::ssize_t>(sizeof(float))},
                              surface.values.get(), owner);
}

ofs::PeakSearch make_search(std::optional<std::pair<double, double>> expected, double radius,
                            double min_overlap_fraction, int exclusion_radius,
                            bool rank_by_evidence = false) {
    ofs::PeakSearch search;
    if (expected) {
        search.has_expected = true;
        search.expected_row = expected->first;
        search.expected_col = expected->second;
        search.radius = radius;
    }
    search.min_overlap_fraction = min_overlap_fraction;
    search.exclusion_radius = exclusion_radius;
    search.rank_by_evidence = rank_by_evidence;
    return search;
}

ofs::MotionModel motion_model(const std::string& name) {
    if (name == "translation") return ofs::MotionModel::translation;
    if (name == "rigid") return ofs::MotionModel::rigid;
    if (name == "similarity") return ofs::MotionModel::similarity;
    if (name == "affine") return ofs::MotionModel::affine;
    throw std::invalid_argument("model '" + name +
                                "' is unknown; use translation, rigid, similarity or affine");
}

}  // namespace

void bind_register(py::module_ m) {
    py::class_<ofs::Spectrum, std::shared_ptr<ofs::Spectrum>>(
        m, "Spectrum", "Filtered half spectrum of one region (opaque; reuse it for many pairs).")
        .def_property_readonly("region_shape",
                               [](const ofs::Spectrum& s) {
                                   return py::make_tuple(s.region_rows(), s.region_cols());
                               })
        .def_property_readonly("padded_shape", [](const ofs::Spectrum& s) {
            return py::make_tuple(s.settings().padded_rows, s.settings().padded_cols);
        });

    py::class_<ofs::CorrelationSurface>(m, "CorrelationSurface")
        .def_property_readonly("values", &surface_values,
                               "The surface in FFT order: [r, c] is the shift (r, c) modulo shape.")
        .def_property_readonly("region_shape", [](const ofs::CorrelationSurface& s) {
            return py::make_tuple(s.region_rows, s.region_cols);
        });

    py::class_<ofs::Peak>(m, "Peak")
        .def_readonly("found", &ofs::Peak::found)
        .def_readonly("integer_row", &ofs::Peak::integer_row)
        .def_readonly("integer_col", &ofs::Peak::integer_col)
        .def_readonly("row", &ofs::Peak::row)
        .def_readonly("col", &ofs::Peak::col)
        .def_readonly("gaussian_fit", &ofs::Peak::gaussian_fit)
        .def_readonly("height", &ofs::Peak::height)
        .def_readonly("peak_ratio", &ofs::Peak::peak_ratio);

    py::class_<ofs::PairRegistration>(m, "PairRegistration")
        .def_readonly("peak", &ofs::PairRegistration::peak)
        .def_readonly("pearson_r", &ofs::PairRegistration::pearson_r);

    m.def(
        "compute_spectrum",
        [](const py::array& region, std::pair<int, int> padded_shape, double high_pass_sigma,
           double smoothing_sigma, double whiten, int taper) {
            const auto view = image_view<float>(region, "region", Axes::plane);
            ofs::SpectrumSettings settings;
            settings.padded_rows = padded_shape.first;
            settings.padded_cols = padded_shape.second;
            settings.high_pass_sigma = high_pass_sigma;
            settings.smoothing_sigma = smoothing_sigma;
            settings.whiten = whiten;
            settings.taper = taper;
            // Safe without the GIL: `region` is referenced by this frame, so its buffer lives,
            // and the core only reads it.
            py::gil_scoped_release release;
            return ofs::compute_spectrum(view, settings);
        },
        py::arg("region"), py::arg("padded_shape"), py::arg("high_pass_sigma"),
        py::arg("smoothing_sigma"), py::arg("whiten"), py::arg("taper"));

    m.def(
        "cross_correlate",
        [](const ofs::Spectrum& a, const ofs::Spectrum& b) {
            py::gil_scoped_release release;  // touches only the two spectra and FFTW's plans
            return ofs::cross_correlate(a, b);  // a fresh surface, owned by the returned object
        },
        py::arg("a"), py::arg("b"));

    m.def(
        "find_peak",
        [](const ofs::CorrelationSurface& surface,
           std::optional<std::pair<double, double>> expected, double radius,
           double min_overlap_fraction, int exclusion_radius) {
            const ofs::PeakSearch search =
                make_search(expected, radius, min_overlap_fraction, exclusion_radius);
            py::gil_scoped_release release;  // `surface` is referenced by this frame, only read
            return ofs::find_peak(surface, search);
        },
        py::arg("surface"), py::arg("expected") = py::none(), py::arg("radius") = 0.0,
        py::arg("min_overlap_fraction") = 0.05, py::arg("exclusion_radius") = 4);

    m.def(
        "overlap_pearson",
        [](const py::array& a, const py::array& b, int d_row, int d_col) {
            const auto va = image_view<float>(a, "a", Axes::plane);
            const auto vb = image_view<float>(b, "b", Axes::plane);
            py::gil_scoped_release release;  // `a` and `b` live in this frame and are only read
            return ofs::overlap_pearson(va, vb, d_row, d_col);
        },
        py::arg("a"), py::arg("b"), py::arg("d_row"), py::arg("d_col"));

    m.def(
        "register_spectra",
        [](const ofs::Spectrum& spectrum_a, const ofs::Spectrum& spectrum_b, const py::array& a,
           const py::array& b, std::optional<std::pair<double, double>> expected, double radius,
           double min_overlap_fraction, int exclusion_radius, int max_candidates,
           bool rank_by_evidence) {
            const auto va = image_view<float>(a, "a", Axes::plane);
            const auto vb = image_view<float>(b, "b", Axes::plane);
            const ofs::PeakSearch search = make_search(expected, radius, min_overlap_fraction,
                                                       exclusion_radius, rank_by_evidence);
            // The whole pair runs without the GIL so Python threads measure pairs in parallel;
            // the arrays and spectra are kept alive by this frame and only read.
            py::gil_scoped_release release;
            // Each worker thread keeps its surface buffer for the next pair.
            thread_local ofs::CorrelationSurface surface;
            return ofs::register_regions(spectrum_a, spectrum_b, va, vb, search, max_candidates,
                                         surface);
        },
        py::arg("spectrum_a"), py::arg("spectrum_b"), py::arg("a"), py::arg("b"),
        py::arg("expected") = py::none(), py::arg("radius") = 0.0,
        py::arg("min_overlap_fraction") = 0.05, py::arg("exclusion_radius") = 4,
        py::arg("max_candidates") = 16, py::arg("rank_by_evidence") = false,
        "Correlate two spectra, pick among the highest peaks the one whose overlap agrees best "
        "(Pearson r; with rank_by_evidence, the most significant agreement, Fisher z times "
        "sqrt(overlap pixels - 3)), fit it to sub-pixel precision.");

    py::class_<ofs::AffineRefinement>(m, "AffineRefinement")
        .def_property_readonly("matrix",
                               [](const ofs::AffineRefinement& r) {
                                   py::array_t<double> out({3, 3});
                                   auto values = out.mutable_unchecked<2>();
                                   for (int i = 0; i < 2; ++i)
                                       for (int j = 0; j < 3; ++j) values(i, j) = r.matrix[i][j];
                                   values(2, 0) = values(2, 1) = 0.0;
                                   values(2, 2) = 1.0;
                                   return out;
                               })
        .def_readonly("iterations", &ofs::AffineRefinement::iterations)
        .def_readonly("converged", &ofs::AffineRefinement::converged)
        .def_readonly("valid_pixels", &ofs::AffineRefinement::valid_pixels)
        .def_readonly("pearson_r", &ofs::AffineRefinement::pearson_r);

    m.def(
        "refine_affine",
        [](const py::array& a, const py::array& b, const py::array_t<double>& initial,
           const std::string& model, int max_iterations, double tolerance,
           double smoothing_sigma, double huber_threshold, bool noise_model, bool cubic) {
            const auto va = image_view<float>(a, "a", Axes::plane);
            const auto vb = image_view<float>(b, "b", Axes::plane);
            if (initial.ndim() != 2 || initial.shape(0) < 2 || initial.shape(1) != 3)
                throw std::invalid_argument("initial must be a (2, 3) or (3, 3) matrix");
            ofs::AffineRows start{};
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 3; ++j) start[i][j] = initial.at(i, j);
            ofs::RefineSettings settings;
            settings.model = motion_model(model);
            settings.max_iterations = max_iterations;
            settings.tolerance = tolerance;
            settings.smoothing_sigma = smoothing_sigma;
            settings.huber_threshold = huber_threshold;
            settings.noise_model = noise_model;
            settings.cubic = cubic;
            // Safe without the GIL: `a` and `b` live in this frame and are only read; the
            // refinement works on its own copies.
            py::gil_scoped_release release;
            return ofs::refine_affine(va, vb, start, settings);
        },
        py::arg("a"), py::arg("b"), py::arg("initial"), py::arg("model"),
        py::arg("max_iterations") = 40, py::arg("tolerance") = 1e-3,
        py::arg("smoothing_sigma") = 1.0, py::arg("huber_threshold") = 2.0,
        py::arg("noise_model") = false, py::arg("cubic") = false,
        "Gauss-Newton refinement of b[p] ~ a[M p] from `initial` over the valid overlap, "
        "robustly weighted, with a gain and offset for b's brightness.");
}
