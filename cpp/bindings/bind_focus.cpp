// ofs_stitch._core.focus: Laplacian pyramid steps and per-pixel frame selection for focus
// stacking (cpp/include/ofs/focus). Every array is float32 (int32 for frame indexes),
// C-contiguous, (rows, cols) or (rows, cols, channels); outputs must be writable. Nothing is
// converted: a wrong array is refused with its name.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "array_views.hpp"
#include "ofs/focus/pyramid.hpp"
#include "ofs/focus/selection.hpp"

namespace py = pybind11;
using ofs_bindings::has_dtype;

namespace {

using ofs::focus::ConstFloatImage;
using ofs::focus::FloatImage;

void check_layout(const py::array& array, const std::string& name, bool writable) {
    if (array.ndim() != 2 && array.ndim() != 3)
        throw py::value_error(name + " must be (rows, cols) or (rows, cols, channels)");
    if (!(array.flags() & py::array::c_style))
        throw py::value_error(name + " must be C-contiguous");
    if (writable && !array.writeable()) throw py::value_error(name + " must be writable");
}

ConstFloatImage const_image(const py::array& array, const std::string& name) {
    check_layout(array, name, false);
    if (!has_dtype<float>(array)) throw py::value_error(name + " must be float32");
    return {static_cast<const float*>(array.data()), array.shape(0), array.shape(1),
            array.ndim() == 3 ? array.shape(2) : 1};
}

FloatImage image(py::array& array, const std::string& name) {
    check_layout(array, name, true);
    if (!has_dtype<float>(array)) throw py::value_error(name + " must be float32");
    return {static_cast<float*>(array.mutable_data()), array.shape(0), array.shape(1),
            array.ndim() == 3 ? array.shape(2) : 1};
}

template <typename Sample>
Sample* plane(py::array& array, const std::string& name, const ConstFloatImage& like) {
    check_layout(array, name, true);
    if (!has_dtype<Sample>(array) || array.ndim() != 2 || array.shape(0) != like.rows ||
        array.shape(1) != like.cols)
        throw py::value_error(name + " must be a " + std::string(py::str(py::dtype::of<Sample>())) +
                              " (rows, cols) plane the size of the coefficients");
    return static_cast<Sample*>(array.mutable_data());
}

template <typename Sample>
const Sample* const_plane(const py::array& array, const std::string& name,
                          const ConstFloatImage& like) {
    if (!(array.flags() & py::array::c_style) || !has_dtype<Sample>(array) ||
        array.ndim() != 2 || array.shape(0) != like.rows || array.shape(1) != like.cols)
        throw py::value_error(name + " must be a C-contiguous " +
                              std::string(py::str(py::dtype::of<Sample>())) +
                              " (rows, cols) plane the size of the coefficients");
    return static_cast<const Sample*>(array.data());
}

void same_shape(const ConstFloatImage& a, const FloatImage& b, const std::string& what) {
    if (a.rows != b.rows || a.cols != b.cols || a.channels != b.channels)
        throw py::value_error(what + " must have the shape of the coefficients");
}

template <typename Kernel>
void run(const Kernel& kernel) {
    try {
        kernel();
    } catch (const std::invalid_argument& error) {
        throw py::value_error(error.what());
    }
}

}  // namespace

void bind_focus(py::module_ m) {
    m.def(
        "reduce",
        [](const py::array& src, py::array dst, int threads) {
            const ConstFloatImage in = const_image(src, "src");
            const FloatImage out = image(dst, "dst");
            // src is referenced by the caller and only read; dst is written by us only.
            py::gil_scoped_release release;
            run([&] { ofs::focus::reduce(in, out, threads); });
        },
        py::arg("src"), py::arg("dst"), py::arg("threads") = 1,
        "dst = src blurred by the 5x5 binomial kernel, every second row and column; dst is "
        "((rows + 1) // 2, (cols + 1) // 2[, channels]).");
    m.def(
        "expand_add",
        [](const py::array& src, py::array dst, float sign, int threads) {
            const ConstFloatImage in = const_image(src, "src");
            const FloatImage out = image(dst, "dst");
            // src is referenced by the caller and only read; dst is written by us only.
            py::gil_scoped_release release;
            run([&] { ofs::focus::expand_add(in, out, sign, threads); });
        },
        py::arg("src"), py::arg("dst"), py::arg("sign"), py::arg("threads") = 1,
        "dst += sign * src interpolated to dst's size (2 n - 1 or 2 n along each axis).");
    m.def(
        "local_energy",
        [](const py::array& src, py::array energy, int radius, int threads) {
            const ConstFloatImage in = const_image(src, "src");
            float* out = plane<float>(energy, "energy", in);
            if (radius < 0) throw py::value_error("radius must be >= 0");
            // src is referenced by the caller and only read; energy is written by us only.
            py::gil_scoped_release release;
            ofs::focus::local_energy(in, out, radius, threads);
        },
        py::arg("src"), py::arg("energy"), py::arg("radius"), py::arg("threads") = 1,
        "energy = the (2 radius + 1)^2 window mean of the squares of src summed over channels.");
    m.def(
        "select_max",
        [](const py::array& energy, const py::array& coefficients, py::array best_energy,
           py::array best_index, py::object best, std::int32_t index, int threads) {
            const ConstFloatImage in = const_image(coefficients, "coefficients");
            const float* e = const_plane<float>(energy, "energy", in);
            float* be = plane<float>(best_energy, "best_energy", in);
            std::int32_t* bi = plane<std::int32_t>(best_index, "best_index", in);
            FloatImage chosen;
            if (!best.is_none()) {
                py::array best_array = best.cast<py::array>();
                chosen = image(best_array, "best");
                same_shape(in, chosen, "best");
            }
            // Every array is referenced by the caller; the outputs are written by us only.
            py::gil_scoped_release release;
            ofs::focus::select_max(e, in, be, bi, chosen, index, threads);
        },
        py::arg("energy"), py::arg("coefficients"), py::arg("best_energy"),
        py::arg("best_index"), py::arg("best"), py::arg("index"), py::arg("threads") = 1,
        "Where energy > best_energy, take this frame: best_energy, best_index = index and "
        "(unless best is None) best = coefficients.");
    m.def(
        "gather",
        [](const py::array& coefficients, const py::array& chosen, std::int32_t index,
           py::array out, int threads) {
            const ConstFloatImage in = const_image(coefficients, "coefficients");
            const std::int32_t* map = const_plane<std::int32_t>(chosen, "chosen", in);
            const FloatImage target = image(out, "out");
            same_shape(in, target, "out");
            // Every array is referenced by the caller; out is written by us only.
            py::gil_scoped_release release;
            ofs::focus::gather(in, map, index, target, threads);
        },
        py::arg("coefficients"), py::arg("chosen"), py::arg("index"), py::arg("out"),
        py::arg("threads") = 1, "Where chosen == index, out = coefficients.");
    m.def(
        "accumulate_weighted",
        [](const py::array& coefficients, const py::array& weight, py::array out, int threads) {
            const ConstFloatImage in = const_image(coefficients, "coefficients");
            const float* w = const_plane<float>(weight, "weight", in);
            const FloatImage target = image(out, "out");
            same_shape(in, target, "out");
            // Every array is referenced by the caller; out is written by us only.
            py::gil_scoped_release release;
            ofs::focus::accumulate_weighted(in, w, target, threads);
        },
        py::arg("coefficients"), py::arg("weight"), py::arg("out"), py::arg("threads") = 1,
        "out += weight * coefficients, weight a (rows, cols) plane.");
}
