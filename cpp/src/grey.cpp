#include "ofs/grey.hpp"

#include <algorithm>
#include <vector>

namespace ofs {

template <typename Sample>
void grey_of(const PixelsView<Sample>& pixels, float* grey) {
    const bool colour = pixels.bands >= 3;
    const std::ptrdiff_t green = pixels.band_stride, blue = 2 * pixels.band_stride;
    for (std::ptrdiff_t r = 0; r < pixels.rows; ++r) {
        const Sample* in = pixels.data + r * pixels.row_stride;
        float* out = grey + r * pixels.cols;
        if (colour) {
            for (std::ptrdiff_t c = 0; c < pixels.cols; ++c, in += pixels.col_stride) {
                // Integer sum first: exact, and one float multiply per pixel.
                const int sum = int(in[0]) + int(in[green]) + int(in[blue]);
                out[c] = float(sum) * (1.0f / 3.0f);
            }
        } else {
            for (std::ptrdiff_t c = 0; c < pixels.cols; ++c, in += pixels.col_stride)
                out[c] = float(in[0]);
        }
    }
}

void block_mean(const PixelsView<float>& image, int factor, float* out) {
    const std::ptrdiff_t out_rows = image.rows / factor, out_cols = image.cols / factor;
    const std::ptrdiff_t used_cols = out_cols * factor;
    const float scale = 1.0f / static_cast<float>(factor * factor);
    // Each block row: first the `factor` input rows summed column by column (in memory order,
    // so the compiler vectorises it), then that one row summed in groups of `factor`.
    std::vector<float> column_sums(static_cast<std::size_t>(used_cols));
    for (std::ptrdiff_t r = 0; r < out_rows; ++r) {
        std::fill(column_sums.begin(), column_sums.end(), 0.0f);
        for (int dy = 0; dy < factor; ++dy) {
            const float* in = image.data + (r * factor + dy) * image.row_stride;
            if (image.col_stride == 1) {
                for (std::ptrdiff_t c = 0; c < used_cols; ++c) column_sums[c] += in[c];
            } else {
                for (std::ptrdiff_t c = 0; c < used_cols; ++c)
                    column_sums[c] += in[c * image.col_stride];
            }
        }
        float* row = out + r * out_cols;
        for (std::ptrdiff_t c = 0; c < out_cols; ++c) {
            float sum = 0.0f;
            for (int dx = 0; dx < factor; ++dx) sum += column_sums[c * factor + dx];
            row[c] = sum * scale;
        }
    }
}

template void grey_of<std::uint8_t>(const PixelsView<std::uint8_t>&, float*);
template void grey_of<std::uint16_t>(const PixelsView<std::uint16_t>&, float*);

}  // namespace ofs
