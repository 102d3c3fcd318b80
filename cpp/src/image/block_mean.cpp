#include "ofs/image/block_mean.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ofs {

void block_mean(const ImageView<float>& image, int factor, float* out) {
    const std::ptrdiff_t out_rows = image.rows / factor, out_cols = image.cols / factor;
    const std::ptrdiff_t used_cols = out_cols * factor;
    const float scale = 1.0f / static_cast<float>(factor * factor);
    const std::ptrdiff_t col_step = image.col_step();
    // Each block row: first the `factor` input rows summed column by column (in memory order,
    // so the compiler vectorises it), then that one row summed in groups of `factor`.
    std::vector<float> column_sums(static_cast<std::size_t>(used_cols));
    for (std::ptrdiff_t r = 0; r < out_rows; ++r) {
        std::fill(column_sums.begin(), column_sums.end(), 0.0f);
        for (int dy = 0; dy < factor; ++dy) {
            const float* in = image.row(r * factor + dy);
            if (col_step == 1) {
                for (std::ptrdiff_t c = 0; c < used_cols; ++c) column_sums[c] += in[c];
            } else {
                for (std::ptrdiff_t c = 0; c < used_cols; ++c) column_sums[c] += in[c * col_step];
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

}  // namespace ofs
