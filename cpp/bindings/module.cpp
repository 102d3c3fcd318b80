// The compiled core of ofs-stitch, as the private module ofs_stitch._core. Each area of the
// core is bound in its own bind_<area>.cpp; the public, documented API is the Python package.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_correlation(py::module_& m);
void bind_grey(py::module_& m);
void bind_render(py::module_& m);
void bind_placement(py::module_& m);
void bind_resample(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "ofs-stitch compiled kernels: FFTW correlation, peak fitting, sparse placement, "
              "nearest-centre painting";
    bind_correlation(m);
    bind_grey(m);
    bind_render(m);
    bind_placement(m);
    bind_resample(m);
}
