// Per-pixel selection of the in-focus frame (see selection.hpp).
#include "ofs/focus/selection.hpp"

#include <cstddef>
#include <vector>

#include "ofs/focus/row_blocks.hpp"

namespace ofs::focus {

void local_energy(const ConstFloatImage& image, float* energy, int radius, int threads) {
    const Index rows = image.rows, cols = image.cols, channels = image.channels;
    const std::size_t plane = static_cast<std::size_t>(rows * cols);
    // Squares summed over channels, then a box mean along rows, then along columns.
    std::vector<float> squares(plane), across(plane);
    for_row_blocks(rows, threads, [&](Index begin, Index end) {
        for (Index row = begin; row < end; ++row) {
            const float* in = image.data + row * cols * channels;
            float* out = &squares[static_cast<std::size_t>(row * cols)];
            for (Index col = 0; col < cols; ++col) {
                float sum = 0.0f;
                for (Index c = 0; c < channels; ++c) sum += in[col * channels + c] * in[col * channels + c];
                out[col] = sum;
            }
        }
    });
    if (radius <= 0) {
        for_row_blocks(rows, threads, [&](Index begin, Index end) {
            for (Index i = begin * cols; i < end * cols; ++i) energy[i] = squares[i];
        });
        return;
    }
    const float scale = 1.0f / static_cast<float>((2 * radius + 1) * (2 * radius + 1));
    for_row_blocks(rows, threads, [&](Index begin, Index end) {
        for (Index row = begin; row < end; ++row) {
            const float* in = &squares[static_cast<std::size_t>(row * cols)];
            float* out = &across[static_cast<std::size_t>(row * cols)];
            for (Index col = 0; col < cols; ++col) {
                float sum = 0.0f;
                if (col >= radius && col + radius < cols) {
                    for (Index k = col - radius; k <= col + radius; ++k) sum += in[k];
                } else {
                    for (Index k = col - radius; k <= col + radius; ++k) sum += in[mirror(k, cols)];
                }
                out[col] = sum;
            }
        }
    });
    for_row_blocks(rows, threads, [&](Index begin, Index end) {
        for (Index row = begin; row < end; ++row) {
            float* out = energy + row * cols;
            for (Index col = 0; col < cols; ++col) out[col] = 0.0f;
            for (Index k = row - radius; k <= row + radius; ++k) {
                const float* in = &across[static_cast<std::size_t>(mirror(k, rows) * cols)];
                for (Index col = 0; col < cols; ++col) out[col] += in[col];
            }
            for (Index col = 0; col < cols; ++col) out[col] *= scale;
        }
    });
}

void select_max(const float* energy, const ConstFloatImage& coefficients, float* best_energy,
                std::int32_t* best_index, const FloatImage& best, std::int32_t index,
                int threads) {
    const Index cols = coefficients.cols, channels = coefficients.channels;
    for_row_blocks(coefficients.rows, threads, [&](Index begin, Index end) {
        for (Index i = begin * cols; i < end * cols; ++i) {
            if (!(energy[i] > best_energy[i])) continue;
            best_energy[i] = energy[i];
            best_index[i] = index;
            if (best.data != nullptr)
                for (Index c = 0; c < channels; ++c)
                    best.data[i * channels + c] = coefficients.data[i * channels + c];
        }
    });
}

void gather(const ConstFloatImage& coefficients, const std::int32_t* chosen, std::int32_t index,
            const FloatImage& out, int threads) {
    const Index cols = coefficients.cols, channels = coefficients.channels;
    for_row_blocks(coefficients.rows, threads, [&](Index begin, Index end) {
        for (Index i = begin * cols; i < end * cols; ++i) {
            if (chosen[i] != index) continue;
            for (Index c = 0; c < channels; ++c)
                out.data[i * channels + c] = coefficients.data[i * channels + c];
        }
    });
}

void accumulate_weighted(const ConstFloatImage& coefficients, const float* weight,
                         const FloatImage& out, int threads) {
    const Index cols = coefficients.cols, channels = coefficients.channels;
    for_row_blocks(coefficients.rows, threads, [&](Index begin, Index end) {
        for (Index i = begin * cols; i < end * cols; ++i)
            for (Index c = 0; c < channels; ++c)
                out.data[i * channels + c] += weight[i] * coefficients.data[i * channels + c];
    });
}

}  // namespace ofs::focus
