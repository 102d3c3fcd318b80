// Turning decoded tile pixels (8- or 16-bit, grey or colour, any strides) into the float32 grey
// image that registration works on. One pass in C++ instead of numpy's four (three casts and
// sums over interleaved channels), which cost as much as the correlation of the region itself.
#pragma once

#include <cstdint>

#include "ofs/image/image_view.hpp"

namespace ofs {

// Writes rows * cols floats to `grey` (row-major): the mean of the colour channels, which are
// the first three when there are three or more (RGB, RGBA), else the first alone (grey, grey +
// alpha). Samples keep their scale: 255 stays 255.0.
template <typename Sample>
void grey_of(const ImageView<Sample>& pixels, float* grey);

extern template void grey_of<std::uint8_t>(const ImageView<std::uint8_t>&, float*);
extern template void grey_of<std::uint16_t>(const ImageView<std::uint16_t>&, float*);

}  // namespace ofs
