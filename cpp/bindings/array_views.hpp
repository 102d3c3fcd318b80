// Turning numpy arrays into core views without copying, and core buffers into numpy arrays
// that keep their owner alive.
#pragma once

#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "ofs/image/image_view.hpp"

namespace ofs_bindings {

namespace py = pybind11;

// A float32 2-D array of any strides as an ImageView. Refuses other dtypes instead of silently
// converting: the Python layer decides how images become float32.
inline ofs::ImageView image_view(const py::array& array, const char* name) {
    if (array.ndim() != 2)
        throw py::value_error(std::string(name) + " must be a 2-D array");
    if (!py::dtype::of<float>().is(array.dtype()))
        throw py::value_error(std::string(name) + " must be float32");
    if (array.strides(0) % static_cast<py::ssize_t>(sizeof(float)) != 0 ||
        array.strides(1) % static_cast<py::ssize_t>(sizeof(float)) != 0)
        throw py::value_error(std::string(name) + " has strides that are not whole floats");
    ofs::ImageView view;
    view.data = static_cast<const float*>(array.data());
    view.rows = array.shape(0);
    view.cols = array.shape(1);
    view.row_stride = array.strides(0) / static_cast<py::ssize_t>(sizeof(float));
    view.col_stride = array.strides(1) / static_cast<py::ssize_t>(sizeof(float));
    return view;
}

// A (rows, cols) or (rows, cols, bands) array of any strides as a PixelsView of its own sample
// type (the caller has checked the dtype).
template <typename Sample>
ofs::PixelsView<Sample> pixels_view(const py::array& array) {
    const auto sample = static_cast<py::ssize_t>(sizeof(Sample));
    ofs::PixelsView<Sample> view;
    view.data = static_cast<const Sample*>(array.data());
    view.rows = array.shape(0);
    view.cols = array.shape(1);
    view.bands = array.ndim() == 3 ? array.shape(2) : 1;
    view.row_stride = array.strides(0) / sample;
    view.col_stride = array.strides(1) / sample;
    view.band_stride = array.ndim() == 3 ? array.strides(2) / sample : 1;
    return view;
}

}  // namespace ofs_bindings
