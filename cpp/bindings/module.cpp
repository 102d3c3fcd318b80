// The compiled core of ofs-stitch, as the private module ofs_stitch._core: one submodule per
// area of the C++ core (cpp/README.md), each bound in its own bind_<area>.cpp, so Python calls
// ofs_stitch._core.<area>.<function>. The public, documented API is the Python package.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_fft(py::module_ m);
void bind_image(py::module_ m);
void bind_register(py::module_ m);
void bind_solve(py::module_ m);
void bind_compose(py::module_ m);
void bind_resample(py::module_ m);
void bind_spots(py::module_ m);
void bind_focus(py::module_ m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "ofs-stitch compiled kernels, one submodule per area of the C++ core";
    // Each area is also entered in sys.modules, so that `import ofs_stitch._core.solve` works
    // as the stubs promise, not only attribute access.
    const py::object modules = py::module_::import("sys").attr("modules");
    const auto area = [&](const char* name, const char* doc) {
        py::module_ submodule = m.def_submodule(name, doc);
        modules[submodule.attr("__name__")] = submodule;
        return submodule;
    };
    bind_fft(area("fft", "FFT sizes that FFTW transforms fast."));
    bind_image(area("image", "Tile pixels to float32 grey; block means of float images."));
    bind_register(area("register", "Filtered cross-correlation, peak fit and pair ranking."));
    bind_solve(area("solve", "Tile positions from pair displacements: sparse least squares."));
    bind_compose(area("compose", "Painting (nearest centre, blends); row sums; pyramid halving."));
    bind_resample(area("resample", "Affine warps of 8-bit, 16-bit and float32 images."));
    bind_spots(area("spots", "2-D Gaussian fits of bright spots (fiducial particles)."));
    bind_focus(area("focus", "Laplacian pyramids and per-pixel frame selection for focus stacks."));
}
