// Fitting a round 2-D Gaussian to each bright spot of an image (fiducial particles of a time
// series): amplitude * exp(-|p - centre|^2 / (2 sigma^2)) + offset over a square window, by
// Levenberg-Marquardt least squares.
#pragma once

#include <cstddef>

#include "ofs/image/image_view.hpp"

namespace ofs {

struct GaussianSpot {
    double amplitude = 0.0;
    double row = 0.0;  // the centre, in image pixels (pixel centres at integers)
    double col = 0.0;
    double sigma = 0.0;
    double offset = 0.0;
    double rms_residual = 0.0;  // root mean square of data - model over the window
    int iterations = 0;
    bool converged = false;  // false: diverged, left the window, or the window left the image
};

struct GaussianFitSettings {
    int half_width = 4;  // the window is (2 half_width + 1) pixels square, centred on the start
    double sigma = 1.5;  // starting width (pixels)
    int max_iterations = 50;
    double tolerance = 1e-4;  // stop when the centre moves less than this (pixels)
};

// One spot, starting at (row, col).
GaussianSpot fit_gaussian(const ImageView<float>& image, double row, double col,
                          const GaussianFitSettings& settings);

// `count` spots starting at starts[2 k], starts[2 k + 1] (row, col), results into out[k], split
// between `threads` threads (each spot is independent).
void fit_gaussians(const ImageView<float>& image, const double* starts, std::ptrdiff_t count,
                   const GaussianFitSettings& settings, GaussianSpot* out, int threads);

}  // namespace ofs
