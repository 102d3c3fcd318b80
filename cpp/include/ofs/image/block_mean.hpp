// Shrinking a float image by averaging whole blocks: registration's coarse-to-fine search
// correlates these smaller images first.
#pragma once

#include "ofs/image/image_view.hpp"

namespace ofs {

// Writes the (rows / factor) x (cols / factor) means of factor x factor blocks of `image`
// (row-major) to `out`; rows and columns beyond the last whole block are left out.
void block_mean(const ImageView<float>& image, int factor, float* out);

}  // namespace ofs
