// Painting one band of the mosaic under the nearest-centre rule (upstream's "nearest"
// stitching): every canvas pixel takes its value from the tile whose centre is nearest, among
// the tiles that cover the pixel; ties go to the lower tile index. Tiles sit on whole pixels.
//
// Along one canvas row the owner changes only at a few columns, which are computed exactly
// (integer arithmetic on doubled coordinates, so a tile's centre t + (size - 1) / 2 is a whole
// number); each run of pixels between them is one copy from its owner. The cost is the copying
// of the pixels plus a few operations per run, whatever the layout.
#pragma once

#include <cstdint>
#include <vector>

#include "ofs/image/image_view.hpp"

namespace ofs {

// One tile as the painter sees it: its footprint on the canvas and the decoded part of it.
template <typename Sample>
struct TileStrip {
    std::int64_t index = 0;  // tile index: the lower one wins ties
    std::int64_t top = 0, left = 0, height = 0, width = 0;  // footprint, canvas pixels
    // The decoded strip, whose first pixel is canvas pixel (strip_top, strip_left). It must
    // hold every pixel of the footprint inside the band being painted.
    ImageView<Sample> strip;
    std::int64_t strip_top = 0, strip_left = 0;
};

// The band: canvas rows [y0, y0 + rows) of a canvas `width` pixels wide, written row-major into
// `colour` (rows x width x channels samples) and `covered` (rows x width, 1 where a tile covers
// the pixel, else 0; uncovered colour is 0). Written, so not a view: the bindings hand over
// only C-contiguous arrays that Python owns and reads back.
template <typename Sample>
struct BandTarget {
    Sample* colour = nullptr;
    std::uint8_t* covered = nullptr;
    std::int64_t y0 = 0, rows = 0, width = 0;
    int channels = 1;
};

// Paints the band. `tiles` must include every tile whose footprint reaches into the band (a
// missing tile would silently hand its pixels to a farther one). Throws std::invalid_argument
// when a pixel's owner has no decoded pixels there.
template <typename Sample>
void paint_nearest(const BandTarget<Sample>& band, const std::vector<TileStrip<Sample>>& tiles);

extern template void paint_nearest<std::uint8_t>(const BandTarget<std::uint8_t>&,
                                                 const std::vector<TileStrip<std::uint8_t>>&);
extern template void paint_nearest<std::uint16_t>(const BandTarget<std::uint16_t>&,
                                                  const std::vector<TileStrip<std::uint16_t>>&);

}  // namespace ofs
