// Summing image rows column by column: the first half of area-averaged shrinking (the preview
// is a block average of the full-size mosaic, taken band by band as the mosaic streams out).
// In numpy the same sum casts every sample through a buffer and holds the GIL; here it is one
// widening add per sample, which the compiler vectorises.
#pragma once

#include <cstdint>

#include "ofs/image_view.hpp"

namespace ofs {

// Adds every row of `pixels` into `sums` (cols x bands values, row-major): afterwards
// sums[c * bands + b] has grown by the sum over rows of pixel (row, c, band b). 64-bit sums
// cannot overflow for any image that fits in memory.
template <typename Sample>
void add_rows(const PixelsView<Sample>& pixels, std::uint64_t* sums);

extern template void add_rows<std::uint8_t>(const PixelsView<std::uint8_t>&, std::uint64_t*);
extern template void add_rows<std::uint16_t>(const PixelsView<std::uint16_t>&, std::uint64_t*);

}  // namespace ofs
