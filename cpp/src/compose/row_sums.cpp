#include "ofs/compose/row_sums.hpp"

#include <algorithm>
#include <cstddef>

namespace ofs {

template <typename Sample, typename Sum>
void add_rows(const ImageView<Sample>& pixels, Sum* sums) {
    const std::ptrdiff_t channels = pixels.channels;
    const std::ptrdiff_t col_step = pixels.col_step(), channel_step = pixels.channel_step();
    // Interleaved samples with no gaps (the mosaic's own band of rows): one flat loop per row.
    const bool packed = channel_step == 1 && col_step == channels;
    for (std::ptrdiff_t r = 0; r < pixels.rows; ++r) {
        const Sample* row = pixels.row(r);
        if (packed) {
            const std::ptrdiff_t count = pixels.cols * channels;
            for (std::ptrdiff_t k = 0; k < count; ++k) sums[k] += row[k];
            continue;
        }
        for (std::ptrdiff_t c = 0; c < pixels.cols; ++c) {
            const Sample* pixel = row + c * col_step;
            for (std::ptrdiff_t k = 0; k < channels; ++k)
                sums[c * channels + k] += pixel[k * channel_step];
        }
    }
}

template <typename Sum>
void block_means(Sum* sums, std::ptrdiff_t cols, std::ptrdiff_t channels, std::ptrdiff_t across,
                 double count, float* out) {
    const std::ptrdiff_t blocks = cols / across;
    for (std::ptrdiff_t k = 0; k < blocks; ++k) {
        const Sum* block = sums + k * across * channels;
        for (std::ptrdiff_t channel = 0; channel < channels; ++channel) {
            std::uint64_t total = 0;
            for (std::ptrdiff_t c = 0; c < across; ++c) total += block[c * channels + channel];
            out[k * channels + channel] = static_cast<float>(static_cast<double>(total) / count);
        }
    }
    std::fill(sums, sums + cols * channels, Sum{0});
}

template void add_rows(const ImageView<std::uint8_t>&, std::uint32_t*);
template void add_rows(const ImageView<std::uint8_t>&, std::uint64_t*);
template void add_rows(const ImageView<std::uint16_t>&, std::uint32_t*);
template void add_rows(const ImageView<std::uint16_t>&, std::uint64_t*);
template void block_means(std::uint32_t*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, double,
                          float*);
template void block_means(std::uint64_t*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, double,
                          float*);

}  // namespace ofs
