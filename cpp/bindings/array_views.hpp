// Turning numpy arrays into the core's ImageView without copying.
//
// The one helper, image_view, hands the kernel the array's own pointer, shape and byte strides;
// it never converts. An array of the wrong dtype, shape or alignment is refused with an error
// that names the argument: the Python layer decides how pixels become float32 or grey. Arrays
// that a kernel writes into are never converted either: a `py::array` parameter accepts only a
// numpy array as it is (no list, no cast copy), and each binding checks that array's dtype,
// layout and writeable flag before passing its pointer on.
#pragma once

#include <cstdint>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "ofs/image/image_view.hpp"

namespace ofs_bindings {

namespace py = pybind11;

// Whether the array's samples are exactly Sample (same kind, size and byte order).
template <typename Sample>
bool has_dtype(const py::array& array) {
    return array.dtype().equal(py::dtype::of<Sample>());
}

// The shapes a kernel accepts: a plane (rows, cols), an image with a channel axis
// (rows, cols, channels), or either.
enum class Axes { plane, channels, plane_or_channels };

// The byte stride from one channel to the next of a (rows, cols[, channels]) array. numpy
// gives a length-1 axis any stride (0 for one added by `[..., None]`); with one channel it is
// never stepped along, and the packed stride lets the kernels' fast paths for packed samples
// (channel_step() == 1) see a grey row as the run it is.
inline py::ssize_t channel_stride_of(const py::array& array) {
    return array.ndim() == 3 && array.shape(2) > 1 ? array.strides(2) : array.itemsize();
}

// `array` as a view of its own memory. `name` is the argument's name, for the error messages.
template <typename Sample>
ofs::ImageView<Sample> image_view(const py::array& array, const std::string& name, Axes axes) {
    const bool plane = array.ndim() == 2, with_channels = array.ndim() == 3;
    if (axes == Axes::plane && !plane)
        throw py::value_error(name + " must be a 2-D (rows, cols) array");
    if (axes == Axes::channels && !with_channels)
        throw py::value_error(name + " must be a 3-D (rows, cols, channels) array");
    if (axes == Axes::plane_or_channels && !plane && !with_channels)
        throw py::value_error(name + " must be (rows, cols) or (rows, cols, channels)");
    if (with_channels && array.shape(2) < 1)
        throw py::value_error(name + " must have at least one channel");
    if (!has_dtype<Sample>(array))
        throw py::value_error(name + " must be " + std::string(py::str(py::dtype::of<Sample>())) +
                              ", not " + std::string(py::str(array.dtype())));
    // Kernels step in whole samples and read them through a typed pointer.
    const auto sample = static_cast<py::ssize_t>(sizeof(Sample));
    for (py::ssize_t axis = 0; axis < array.ndim(); ++axis)
        if (array.strides(axis) % sample != 0)
            throw py::value_error(name + " has strides that are not whole samples");
    if (reinterpret_cast<std::uintptr_t>(array.data()) % alignof(Sample) != 0)
        throw py::value_error(name + " is not aligned to its samples; pass a copy");

    ofs::ImageView<Sample> view;
    view.data = static_cast<const Sample*>(array.data());
    view.rows = array.shape(0);
    view.cols = array.shape(1);
    view.row_stride = array.strides(0);
    view.col_stride = array.strides(1);
    if (with_channels) view.channels = array.shape(2);
    view.channel_stride = channel_stride_of(array);
    return view;
}

}  // namespace ofs_bindings
