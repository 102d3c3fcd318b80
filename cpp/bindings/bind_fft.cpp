#include <pybind11/pybind11.h>

#include "ofs/fft/fft_plans.hpp"

namespace py = pybind11;

void bind_fft(py::module_ m) {
    m.def("fast_fft_size", &ofs::fast_fft_size, py::arg("n"),
          "Smallest size >= n with prime factors 2, 3 and 5 only.");
}
