#include "ofs/row_sums.hpp"

#include <cstddef>

namespace ofs {

template <typename Sample>
void add_rows(const PixelsView<Sample>& pixels, std::uint64_t* sums) {
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

template void add_rows<std::uint8_t>(const PixelsView<std::uint8_t>&, std::uint64_t*);
template void add_rows<std::uint16_t>(const PixelsView<std::uint16_t>&, std::uint64_t*);

}  // namespace ofs
