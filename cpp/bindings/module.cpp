// The compiled core of ofs-stitch, as the private module ofs_stitch._core. Each area of the
// core is bound in its own bind_<area>.cpp; the public, documented API is the Python package.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_register(py::module_& m);
void bind_image(py::module_& m);
void bind_compose(py::module_& m);
void bind_solve(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "ofs-stitch compiled kernels: FFTW correlation, peak fitting, sparse placement, "
              "nearest-centre painting";
    bind_register(m);
    bind_image(m);
    bind_compose(m);
    bind_solve(m);
}
