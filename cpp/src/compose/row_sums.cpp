#include "ofs/compose/row_sums.hpp"

#include <algorithm>
#include <cstddef>

namespace ofs {

template <typename Sample, typename Sum>
void add_rows(const PixelsView<Sample>& pixels, Sum* sums) {
    const std::ptrdiff_t bands = pixels.bands;
    // Interleaved samples with no gaps (a whole decoded band): one flat loop per row.
    const bool packed = pixels.band_stride == 1 && pixels.col_stride == bands;
    for (std::ptrdiff_t r = 0; r < pixels.rows; ++r) {
        const Sample* row = pixels.data + r * pixels.row_stride;
        if (packed) {
            const std::ptrdiff_t count = pixels.cols * bands;
            for (std::ptrdiff_t k = 0; k < count; ++k) sums[k] += row[k];
            continue;
        }
        for (std::ptrdiff_t c = 0; c < pixels.cols; ++c) {
            const Sample* pixel = row + c * pixels.col_stride;
            for (std::ptrdiff_t b = 0; b < bands; ++b)
                sums[c * bands + b] += pixel[b * pixels.band_stride];
        }
    }
}

template <typename Sum>
void block_means(Sum* sums, std::ptrdiff_t cols, std::ptrdiff_t bands, std::ptrdiff_t across,
                 double count, float* out) {
    const std::ptrdiff_t blocks = cols / across;
    for (std::ptrdiff_t k = 0; k < blocks; ++k) {
        const Sum* block = sums + k * across * bands;
        for (std::ptrdiff_t b = 0; b < bands; ++b) {
            std::uint64_t total = 0;
            for (std::ptrdiff_t c = 0; c < across; ++c) total += block[c * bands + b];
            out[k * bands + b] = static_cast<float>(static_cast<double>(total) / count);
        }
    }
    std::fill(sums, sums + cols * bands, Sum{0});
}

template void add_rows(const PixelsView<std::uint8_t>&, std::uint32_t*);
template void add_rows(const PixelsView<std::uint8_t>&, std::uint64_t*);
template void add_rows(const PixelsView<std::uint16_t>&, std::uint32_t*);
template void add_rows(const PixelsView<std::uint16_t>&, std::uint64_t*);
template void block_means(std::uint32_t*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, double,
                          float*);
template void block_means(std::uint64_t*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, double,
                          float*);

}  // namespace ofs
