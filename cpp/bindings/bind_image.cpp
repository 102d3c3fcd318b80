#include <cstdint>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "array_views.hpp"
#include "ofs/image/block_mean.hpp"
#include "ofs/image/grey.hpp"

namespace py = pybind11;
using ofs_bindings::Axes;
using ofs_bindings::has_dtype;
using ofs_bindings::image_view;

namespace {

template <typename Sample>
py::array_t<float> grey_float32(const py::array& pixels) {
    const auto view = image_view<Sample>(pixels, "pixels", Axes::plane_or_channels);
    py::array_t<float> grey({view.rows, view.cols});
    float* out = grey.mutable_data();
    {
        // `pixels` is referenced by the caller's frame and only read; `grey` is ours.
        py::gil_scoped_release release;
        ofs::grey_of(view, out);
    }
    return grey;
}

}  // namespace

void bind_image(py::module_ m) {
    m.def(
        "grey_float32",
        [](const py::array& pixels) -> py::array_t<float> {
            if (has_dtype<std::uint8_t>(pixels)) return grey_float32<std::uint8_t>(pixels);
            if (has_dtype<std::uint16_t>(pixels)) return grey_float32<std::uint16_t>(pixels);
            throw py::value_error("pixels must be uint8 or uint16, not " +
                                  std::string(py::str(pixels.dtype())));
        },
        py::arg("pixels"),
        "Float32 grey copy of 8- or 16-bit (rows, cols[, channels]) pixels of any strides: the "
        "mean of the first three channels when there are three or more, else the first.");

    m.def(
        "block_mean",
        [](const py::array& image, int factor) -> py::array_t<float> {
            const auto view = image_view<float>(image, "image", Axes::plane);
            if (factor < 1) throw py::value_error("factor must be at least 1");
            py::array_t<float> out({view.rows / factor, view.cols / factor});
            float* target = out.mutable_data();
            {
                // `image` is referenced by the caller's frame and only read; `out` is ours.
                py::gil_scoped_release release;
                ofs::block_mean(view, factor, target);
            }
            return out;
        },
        py::arg("image"), py::arg("factor"),
        "Means of factor x factor blocks of a 2-D float32 image of any strides (partial blocks "
        "at the right and bottom edges left out).");
}
