// Painting one chunk of a fused mosaic from any number of tiles, with a blend rule.
//
// A chunk is painted tile by tile: each tile's part of the chunk (already resampled onto the
// chunk's pixel grid, or copied when the tile sits on whole pixels) is added into two float
// buffers, a weighted sum of colour and the sum of weights, and `finish_blend` divides them at
// the end. The weight of a pixel depends on where it falls inside its tile (tile coordinates
// (u, v) from an affine map of the chunk pixel), so translations, sub-pixel placements and
// affine placements are all painted by the same loop:
//
//   feather  w = min(u + 1, rows - u) * min(v + 1, cols - v)   (linear ramps, as render/feather)
//   cosine   w = sin^2(pi (u + 1) / (rows + 1)) * sin^2(pi (v + 1) / (cols + 1))
//   mean     w = 1
//   max      the largest value wins (no weights)
//
// A pixel counts as covered by a tile when (u, v) lies inside [0, rows - 1] x [0, cols - 1]
// (with a tolerance for rounding); nothing else is read there.
#pragma once

#include <cstdint>

#include "ofs/image/image_view.hpp"

namespace ofs {

enum class BlendRule { feather, cosine, mean, max };

// The chunk's two float buffers: colour sums (rows x cols x channels) and weight sums
// (rows x cols; under `max`, 1 where any tile covered the pixel).
struct BlendBuffers {
    float* total = nullptr;
    float* weight = nullptr;
    std::int64_t rows = 0, cols = 0;
    int channels = 1;
};

// One tile's pixels on the chunk's grid, and where they fall in the tile.
template <typename Sample>
struct PlacedPatch {
    ImageView<Sample> pixels;  // rows x cols x channels, on the chunk's pixel grid
    std::int64_t top = 0, left = 0;  // chunk pixel of the patch's pixel (0, 0)
    // Tile coordinates of patch pixel (i, j): u = u0 + i du_di + j du_dj, v likewise.
    double u0 = 0, du_di = 1, du_dj = 0, v0 = 0, dv_di = 0, dv_dj = 1;
    std::int64_t tile_rows = 1, tile_cols = 1;  // the whole tile's size
    float gain = 1.0f;  // multiplies every sample (per-tile brightness correction)
};

// Adds the patch into the buffers under `rule`. Throws std::invalid_argument when the patch
// reaches outside the chunk.
template <typename Sample>
void add_patch(const BlendBuffers& buffers, const PlacedPatch<Sample>& patch, BlendRule rule);

// Writes the blended chunk: out (rows x cols x channels) = total / weight rounded half up and
// clamped to [0, max_value], 0 where the weight is 0; covered (rows x cols) = weight > 0.
template <typename Out>
void finish_blend(const BlendBuffers& buffers, Out* out, std::uint8_t* covered, double max_value);

// Halves an image by 2 x 2 means (a pyramid level): out has ceil(rows / 2) x ceil(cols / 2)
// pixels; at an odd last row or column the mean is over the pixels that exist. Rounded half up.
template <typename Sample>
void halve_by_means(const ImageView<Sample>& in, Sample* out);

extern template void add_patch<std::uint8_t>(const BlendBuffers&,
                                             const PlacedPatch<std::uint8_t>&, BlendRule);
extern template void add_patch<std::uint16_t>(const BlendBuffers&,
                                              const PlacedPatch<std::uint16_t>&, BlendRule);
extern template void add_patch<float>(const BlendBuffers&, const PlacedPatch<float>&, BlendRule);
extern template void finish_blend<std::uint8_t>(const BlendBuffers&, std::uint8_t*,
                                                std::uint8_t*, double);
extern template void finish_blend<std::uint16_t>(const BlendBuffers&, std::uint16_t*,
                                                 std::uint8_t*, double);
extern template void halve_by_means<std::uint8_t>(const ImageView<std::uint8_t>&, std::uint8_t*);
extern template void halve_by_means<std::uint16_t>(const ImageView<std::uint16_t>&,
                                                   std::uint16_t*);

}  // namespace ofs
