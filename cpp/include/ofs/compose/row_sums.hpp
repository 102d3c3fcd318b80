// Area-averaged shrinking of a streamed image (the preview is a block average of the full-size
// mosaic, taken band by band as the mosaic streams out): rows are summed column by column as
// they pass, then each block row's column sums are reduced to block means. In numpy the same
// sums cast every sample through a buffer, and the reduction costs a Python call per block row;
// here both are one pass that the compiler vectorises, without the GIL.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ofs/image/image_view.hpp"

namespace ofs {

// Adds every row of `pixels` into `sums` (cols x channels values, row-major): afterwards
// sums[c * channels + k] has grown by the sum over rows of pixel (row, c, channel k).
// Sum is uint32_t or uint64_t. 32-bit sums fit twice as many per vector instruction; the
// caller uses them only where the rows summed times the largest sample cannot overflow them.
template <typename Sample, typename Sum>
void add_rows(const ImageView<Sample>& pixels, Sum* sums);

// The means of blocks of `across` columns of `sums` (cols x channels, as add_rows leaves
// them), each sum standing for `count` samples: out[k * channels + channel] for the blocks
// k * across .. (k + 1) * across - 1 (columns beyond the last whole block are left out).
// Clears `sums` for the next block row.
template <typename Sum>
void block_means(Sum* sums, std::ptrdiff_t cols, std::ptrdiff_t channels, std::ptrdiff_t across,
                 double count, float* out);

extern template void add_rows(const ImageView<std::uint8_t>&, std::uint32_t*);
extern template void add_rows(const ImageView<std::uint8_t>&, std::uint64_t*);
extern template void add_rows(const ImageView<std::uint16_t>&, std::uint32_t*);
extern template void add_rows(const ImageView<std::uint16_t>&, std::uint64_t*);
extern template void block_means(std::uint32_t*, std::ptrdiff_t, std::ptrdiff_t,
                                 std::ptrdiff_t, double, float*);
extern template void block_means(std::uint64_t*, std::ptrdiff_t, std::ptrdiff_t,
                                 std::ptrdiff_t, double, float*);

}  // namespace ofs
