// Intensity-based refinement of a geometric transform between two images: Gauss-Newton on the
// pixels of their valid overlap, with robust weights, a gain and an offset for the brightness.
//
// The correlation search finds translations to a fraction of a pixel; under rotation, scale
// or shear its peak smears out, and sub-pixel accuracy then comes from here: every
// overlapping pixel says how the transform should move to make a(M p) match b(p).
#pragma once

#include <array>
#include <cstdint>

#include "ofs/image/image_view.hpp"

namespace ofs {

// Which transforms the refinement may reach: each adds parameters to the one before it.
enum class MotionModel { translation, rigid, similarity, affine };

// The top two rows of a 3x3 homogeneous matrix in (row, col): b[p] ~ a[M p].
using AffineRows = std::array<std::array<double, 3>, 2>;

struct RefineSettings {
    MotionModel model = MotionModel::rigid;
    int max_iterations = 40;
    // Stop once an update moves no corner of b by more than this many pixels.
    double tolerance = 1e-3;
    // Standard deviation (pixels) of the Gaussian both images are smoothed with first: it
    // keeps the image content within what bilinear sampling reproduces to a small fraction of
    // a grey level, and widens the range over which the linearisation holds. 0: no smoothing.
    double smoothing_sigma = 1.0;
    // Residuals beyond this many robust standard deviations (1.4826 x the median absolute
    // residual) are down-weighted (Huber): occlusions, dust and saturated pixels pull less.
    double huber_threshold = 2.0;
    // Weight each pixel by the inverse of its noise variance, modelled from the residuals as
    // floor + slope x brightness (photon noise grows with the signal): bright pixels, noisier
    // in absolute terms, count less. The Huber threshold then applies per pixel, in its own
    // standard deviations.
    bool noise_model = false;
    // Sample a with Keys' cubic convolution rather than bilinearly: less smoothing of the
    // noise, and less of the bias bilinear sampling has between whole and half pixels.
    bool cubic = false;
};

struct AffineRefinement {
    AffineRows matrix{};
    int iterations = 0;
    bool converged = false;
    std::int64_t valid_pixels = 0;  // pixels of b whose M p lands inside a, at the end
    double pearson_r = 0.0;  // Pearson r of a(M p) and b(p) over those pixels, at the end
};

// Refines `initial` (b[p] ~ a[M p]) to the transform of `settings.model` that best matches the
// images. Throws std::invalid_argument for images smaller than 8 x 8 pixels.
AffineRefinement refine_affine(const ImageView<float>& a, const ImageView<float>& b,
                               const AffineRows& initial, const RefineSettings& settings);

}  // namespace ofs
