// Affine warping of 8-bit, 16-bit and float32 images, grey or multi-channel.
//
// Convention (the same as scipy.ndimage.affine_transform(matrix=M)): output pixel (r, c) takes
// the input's value at M @ (r, c, 1), both in (row, col) with pixel centres at integers. M maps
// output coordinates to input coordinates, so a pure shift by (d_row, d_col) is
// out[p] = in[p + shift].
//
// Edges (scipy's mode="constant"): a pixel whose input position lies outside
// [0, rows - 1] x [0, cols - 1] takes the fill value; inside it, taps that fall off the input
// repeat its edge samples. The validity mask says where no tap with a non-zero weight fell off.
#pragma once

#include <array>
#include <cstdint>

#include "ofs/image/image_view.hpp"

namespace ofs::resample {

enum class Interpolation {
    nearest,  // the sample at floor(position + 0.5) (ties round up, as scipy's order=0)
    linear,   // bilinear
    cubic,    // separable cubic convolution (Keys); parameter a in WarpSettings
};

// The first two rows of the homogeneous 3x3 matrix, row-major: input_row = m[0] * r + m[1] * c
// + m[2], input_col = m[3] * r + m[4] * c + m[5].
using AffineMatrix = std::array<double, 6>;

struct WarpSettings {
    Interpolation interpolation = Interpolation::linear;
    // Written to every channel of a pixel whose input position lies outside the input. Integer
    // outputs get it rounded and clamped like interpolated values.
    double fill = 0.0;
    // Keys' cubic parameter: -0.5 is Keys' own choice (exact for quadratics), -0.75 is OpenCV's
    // INTER_CUBIC.
    double cubic_a = -0.5;
    // Output coordinates of the output block's first pixel: the block is the window
    // (top, left, output.rows, output.cols) of the whole, unbounded output plane.
    std::int64_t top = 0, left = 0;
    int threads = 1;
};

// True when the matrix is the identity plus a whole-pixel shift, which warp_affine serves by
// copying samples (exact for every value, NaN and -0.0 included).
bool is_integer_translation(const AffineMatrix& matrix);

// The instruction set the interior kernels run with: "avx2" (x86-64 CPUs that have it, unless
// OFS_NO_AVX2=1 is set) or "baseline". Both give the same results.
const char* kernel_variant();

// Fills `output` (and `valid`, when its data is not null: rows x cols, 1 where every tap with
// a non-zero weight lies inside the input, else 0) from `input`. Output and input must have
// the same channel count and must not overlap. Integer outputs are rounded half away from zero
// and clamped to the sample type's range; float32 outputs are neither.
// Input, output and mask are the core's shared views (ofs/image/image_view.hpp): any numpy
// layout (a slice, a flipped view, a window of a bigger canvas) is read or written in place.
template <typename Sample>
void warp_affine(const ImageView<Sample>& input, const AffineMatrix& matrix,
                 const WarpSettings& settings, const WritableImageView<Sample>& output,
                 const WritableImageView<std::uint8_t>& valid);

extern template void warp_affine<std::uint8_t>(const ImageView<std::uint8_t>&,
                                               const AffineMatrix&, const WarpSettings&,
                                               const WritableImageView<std::uint8_t>&,
                                               const WritableImageView<std::uint8_t>&);
extern template void warp_affine<std::uint16_t>(const ImageView<std::uint16_t>&,
                                                const AffineMatrix&, const WarpSettings&,
                                                const WritableImageView<std::uint16_t>&,
                                                const WritableImageView<std::uint8_t>&);
extern template void warp_affine<float>(const ImageView<float>&, const AffineMatrix&,
                                        const WarpSettings&, const WritableImageView<float>&,
                                        const WritableImageView<std::uint8_t>&);

}  // namespace ofs::resample
