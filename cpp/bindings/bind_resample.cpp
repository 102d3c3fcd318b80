// ofs_stitch._core.resample: warping images through an affine map. numpy arrays cross as
// pointer + shape + byte strides; nothing is copied or converted, and the output is the
// caller's array, written in place.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_views.hpp"
#include "ofs/resample/warp.hpp"

namespace py = pybind11;
namespace resample = ofs::resample;

namespace {

// Samples must sit at whole-sample addresses: the kernels read them as Sample, not bytes.
void require_aligned(const py::array& array, const char* name) {
    const auto size = static_cast<py::ssize_t>(array.itemsize());
    bool aligned = reinterpret_cast<std::uintptr_t>(array.data()) % array.itemsize() == 0;
    for (py::ssize_t d = 0; d < array.ndim(); ++d)
        aligned = aligned && array.strides(d) % size == 0;
    if (!aligned)
        throw py::value_error(std::string(name) +
                              " is not aligned to whole samples: pass np.ascontiguousarray of it");
}

// The array's own memory as the core's view, shape and byte strides copied from numpy (the
// callers have checked dtype, shape and alignment). View is ofs::ImageView<Sample> for an input
// read in place, ofs::WritableImageView<Sample> for an output written in place.
template <typename View, typename Sample>
View view_of(const py::array& array, Sample* data) {
    View image;
    image.data = data;
    image.rows = array.shape(0);
    image.cols = array.shape(1);
    image.channels = array.ndim() == 3 ? array.shape(2) : 1;
    image.row_stride = array.strides(0);
    image.col_stride = array.strides(1);
    image.channel_stride = ofs_bindings::channel_stride_of(array);
    return image;
}

// The lowest and one-past-highest byte an array's elements occupy.
std::array<std::uintptr_t, 2> byte_extent(const py::array& array) {
    auto lo = reinterpret_cast<std::uintptr_t>(array.data());
    auto hi = lo + static_cast<std::uintptr_t>(array.itemsize());
    for (py::ssize_t d = 0; d < array.ndim(); ++d) {
        const py::ssize_t reach = (array.shape(d) - 1) * array.strides(d);
        if (reach < 0) lo -= static_cast<std::uintptr_t>(-reach);
        else hi += static_cast<std::uintptr_t>(reach);
    }
    return {lo, hi};
}

bool may_overlap(const py::array& a, const py::array& b) {
    if (a.size() == 0 || b.size() == 0) return false;
    const auto ea = byte_extent(a), eb = byte_extent(b);
    return ea[0] < eb[1] && eb[0] < ea[1];
}

resample::Interpolation interpolation_of(const std::string& name) {
    if (name == "nearest") return resample::Interpolation::nearest;
    if (name == "linear") return resample::Interpolation::linear;
    if (name == "cubic") return resample::Interpolation::cubic;
    throw py::value_error("interpolation must be 'nearest', 'linear' or 'cubic', not '" + name +
                          "'");
}

template <typename Sample>
void warp_typed(const py::array& image, const resample::AffineMatrix& matrix,
                const resample::WarpSettings& settings, py::array& out,
                std::optional<py::array>& valid) {
    const auto input =
        view_of<ofs::ImageView<Sample>>(image, static_cast<const Sample*>(image.data()));
    const auto output =
        view_of<ofs::WritableImageView<Sample>>(out, static_cast<Sample*>(out.mutable_data()));
    ofs::WritableImageView<std::uint8_t> mask;  // data null: no mask wanted
    if (valid)
        mask = view_of<ofs::WritableImageView<std::uint8_t>>(
            *valid, static_cast<std::uint8_t*>(valid->mutable_data()));
    // Safe without the GIL: this call's arguments hold every array alive until it returns, no
    // Python object is touched inside, and the arrays written do not overlap the one read.
    py::gil_scoped_release release;
    resample::warp_affine<Sample>(input, matrix, settings, output, mask);
}

}  // namespace

void bind_resample(py::module_ m) {

    m.def(
        "warp_affine",
        [](const py::array& image, const resample::AffineMatrix& matrix, py::array out,
           std::optional<py::array> valid, const std::string& interpolation, double fill,
           double cubic_a, std::int64_t top, std::int64_t left, int threads) {
            if (image.ndim() != 2 && image.ndim() != 3)
                throw py::value_error("image must be (rows, cols) or (rows, cols, channels)");
            if (image.shape(0) < 1 || image.shape(1) < 1 ||
                (image.ndim() == 3 && image.shape(2) < 1))
                throw py::value_error("image must not be empty");
            if (!out.dtype().is(image.dtype()))
                throw py::value_error("out must have the image's dtype");
            if (out.ndim() != image.ndim() || (image.ndim() == 3 && out.shape(2) != image.shape(2)))
                throw py::value_error("out must have the image's number of channels");
            if (!out.writeable()) throw py::value_error("out must be writeable");
            if (valid) {
                if (valid->ndim() != 2 || valid->itemsize() != 1 ||
                    valid->shape(0) != out.shape(0) || valid->shape(1) != out.shape(1))
                    throw py::value_error("valid must be a (rows, cols) array of 1-byte samples");
                if (!valid->writeable()) throw py::value_error("valid must be writeable");
                if (may_overlap(*valid, image) || may_overlap(*valid, out))
                    throw py::value_error("valid must not share memory with image or out");
            }
            if (may_overlap(out, image))
                throw py::value_error("out must not share memory with image");
            if (threads < 1) throw py::value_error("threads must be at least 1");
            require_aligned(image, "image");
            require_aligned(out, "out");

            resample::WarpSettings settings;
            settings.interpolation = interpolation_of(interpolation);
            settings.fill = fill;
            settings.cubic_a = cubic_a;
            settings.top = top;
            settings.left = left;
            settings.threads = threads;
            if (py::dtype::of<std::uint8_t>().is(image.dtype()))
                warp_typed<std::uint8_t>(image, matrix, settings, out, valid);
            else if (py::dtype::of<std::uint16_t>().is(image.dtype()))
                warp_typed<std::uint16_t>(image, matrix, settings, out, valid);
            else if (py::dtype::of<float>().is(image.dtype()))
                warp_typed<float>(image, matrix, settings, out, valid);
            else
                throw py::value_error("image must be uint8, uint16 or float32, not " +
                                      std::string(py::str(image.dtype())));
        },
        py::arg("image"), py::arg("matrix"), py::arg("out"), py::arg("valid"),
        py::arg("interpolation"), py::arg("fill"), py::arg("cubic_a"), py::arg("top"),
        py::arg("left"), py::arg("threads"),
        "Fill out (the output window whose first pixel is (top, left)) with image warped "
        "through matrix, the first two rows of a (row, col) homogeneous map from output to "
        "input coordinates; valid (optional, (rows, cols) 1-byte) gets 1 where every tap lay "
        "inside the image.");

    m.def("kernel_variant", &resample::kernel_variant,
          "The instruction set of the interior kernels: 'avx2' or 'baseline' (same results).");

    m.def(
        "is_integer_translation",
        [](const resample::AffineMatrix& matrix) {
            return resample::is_integer_translation(matrix);
        },
        py::arg("matrix"),
        "True when warp_affine copies samples: the identity plus a whole-pixel shift.");
}
