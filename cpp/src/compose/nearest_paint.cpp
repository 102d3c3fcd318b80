#include "ofs/compose/nearest_paint.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ofs {
namespace {

// Floor division for possibly negative numerators (C++ division truncates towards zero).
std::int64_t floor_div(std::int64_t numerator, std::int64_t denominator) {
    std::int64_t quotient = numerator / denominator;
    if ((numerator % denominator != 0) && ((numerator < 0) != (denominator < 0))) --quotient;
    return quotient;
}

// A tile covering the current row, with what the rule needs about it on that row.
struct RowCandidate {
    std::size_t tile;  // position in the `tiles` vector
    std::int64_t index, left, right;  // tile index; covered columns [left, right)
    std::int64_t centre2;  // doubled column of the tile's centre
    // Squared doubled distance from the row to the centre row, plus centre2^2: with it the
    // doubled squared distance at column x is 4x^2 - 4x * centre2 + constant.
    std::int64_t constant;
};

// Does candidate `t` beat `o` at column x? (smaller distance, or equal and lower index)
bool beats(const RowCandidate& t, const RowCandidate& o, std::int64_t x) {
    const std::int64_t dt = t.constant - 4 * x * t.centre2;
    const std::int64_t dov = o.constant - 4 * x * o.centre2;
    return dt < dov || (dt == dov && t.index < o.index);
}

// The first column after x at which `t` beats `o`, given that it does not at x. Only a tile
// whose centre lies further right can overtake as x grows; the difference of the two distances
// is linear in x.
std::int64_t overtakes_at(const RowCandidate& t, const RowCandidate& o, std::int64_t x,
                          std::int64_t limit) {
    if (t.centre2 <= o.centre2) return limit;
    const std::int64_t slope = 4 * (t.centre2 - o.centre2);  // t wins once slope * x > gap
    const std::int64_t gap = t.constant - o.constant;
    // Strictly past gap / slope; at exactly gap / slope only if t has the lower index.
    std::int64_t first = t.index < o.index ? -floor_div(-gap, slope) : floor_div(gap, slope) + 1;
    return std::min(std::max(first, x + 1), limit);
}

template <typename Sample>
void copy_run(const BandTarget<Sample>& band, const TileStrip<Sample>& tile, std::int64_t y,
              std::int64_t x0, std::int64_t x1) {
    const ImageView<Sample>& strip = tile.strip;
    const std::int64_t strip_row = y - tile.strip_top;
    const std::int64_t strip_col = x0 - tile.strip_left;
    if (strip_row < 0 || strip_row >= strip.rows || strip_col < 0 ||
        x1 - tile.strip_left > strip.cols)
        throw std::invalid_argument("tile " + std::to_string(tile.index) +
                                    " owns canvas pixels outside its decoded strip (row " +
                                    std::to_string(y) + ")");
    const std::ptrdiff_t col_step = strip.col_step(), channel_step = strip.channel_step();
    const Sample* in = strip.row(strip_row) + strip_col * col_step;
    Sample* out = band.colour + ((y - band.y0) * band.width + x0) * band.channels;
    const std::int64_t count = x1 - x0;
    if (col_step == band.channels && channel_step == 1) {
        std::memcpy(out, in, sizeof(Sample) * static_cast<std::size_t>(count * band.channels));
    } else {
        with_step(channel_step, [&](auto step) {
            for (std::int64_t k = 0; k < count; ++k, in += col_step)
                for (int channel = 0; channel < band.channels; ++channel)
                    *out++ = in[channel * step];
        });
    }
    std::memset(band.covered + (y - band.y0) * band.width + x0, 1,
                static_cast<std::size_t>(count));
}

template <typename Sample>
void leave_uncovered(const BandTarget<Sample>& band, std::int64_t y, std::int64_t x0,
                     std::int64_t x1) {
    std::fill(band.colour + ((y - band.y0) * band.width + x0) * band.channels,
              band.colour + ((y - band.y0) * band.width + x1) * band.channels, Sample(0));
    std::memset(band.covered + (y - band.y0) * band.width + x0, 0,
                static_cast<std::size_t>(x1 - x0));
}

}  // namespace

template <typename Sample>
void paint_nearest(const BandTarget<Sample>& band, const std::vector<TileStrip<Sample>>& tiles) {
    std::vector<RowCandidate> row;  // tiles covering the current row
    std::vector<std::int64_t> cuts;  // columns where the set of covering tiles changes
    std::vector<const RowCandidate*> covering;
    for (std::int64_t y = band.y0; y < band.y0 + band.rows; ++y) {
        row.clear();
        cuts.assign({0, band.width});
        for (std::size_t k = 0; k < tiles.size(); ++k) {
            const TileStrip<Sample>& t = tiles[k];
            if (y < t.top || y >= t.top + t.height) continue;
            const std::int64_t left = std::max<std::int64_t>(t.left, 0);
            const std::int64_t right = std::min(t.left + t.width, band.width);
            if (left >= right) continue;
            const std::int64_t centre2 = 2 * t.left + t.width - 1;
            const std::int64_t row_offset = 2 * y - (2 * t.top + t.height - 1);
            row.push_back({k, t.index, left, right, centre2,
                           row_offset * row_offset + centre2 * centre2});
            cuts.push_back(left);
            cuts.push_back(right);
        }
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
            const std::int64_t start = cuts[c], stop = cuts[c + 1];
            covering.clear();
            for (const RowCandidate& candidate : row)
                if (candidate.left <= start && candidate.right >= stop)
                    covering.push_back(&candidate);
            if (covering.empty()) {
                leave_uncovered(band, y, start, stop);
                continue;
            }
            // Between cuts the covering set is fixed: walk its runs of constant owner.
            for (std::int64_t x = start; x < stop;) {
                const RowCandidate* owner = covering.front();
                for (const RowCandidate* candidate : covering)
                    if (candidate != owner && beats(*candidate, *owner, x)) owner = candidate;
                std::int64_t next = stop;
                for (const RowCandidate* candidate : covering)
                    if (candidate != owner)
                        next = std::min(next, overtakes_at(*candidate, *owner, x, stop));
                copy_run(band, tiles[owner->tile], y, x, next);
                x = next;
            }
        }
    }
}

template void paint_nearest<std::uint8_t>(const BandTarget<std::uint8_t>&,
                                          const std::vector<TileStrip<std::uint8_t>>&);
template void paint_nearest<std::uint16_t>(const BandTarget<std::uint16_t>&,
                                           const std::vector<TileStrip<std::uint16_t>>&);

}  // namespace ofs
