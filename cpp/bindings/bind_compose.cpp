#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_views.hpp"
#include "ofs/compose/nearest_paint.hpp"
#include "ofs/compose/row_sums.hpp"

namespace py = pybind11;
using ofs_bindings::Axes;
using ofs_bindings::has_dtype;
using ofs_bindings::image_view;

namespace {

// (tile index, top, left, height, width, strip_top, strip_left, strip pixels)
using TileEntry = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             std::int64_t, std::int64_t, std::int64_t, py::array>;

template <typename Sample>
void paint(py::array& colour, py::array& covered, std::int64_t y0,
           const std::vector<TileEntry>& entries) {
    ofs::BandTarget<Sample> band;
    band.colour = static_cast<Sample*>(colour.mutable_data());
    band.covered = static_cast<std::uint8_t*>(covered.mutable_data());
    band.y0 = y0;
    band.rows = colour.shape(0);
    band.width = colour.shape(1);
    band.channels = static_cast<int>(colour.shape(2));
    std::vector<ofs::TileStrip<Sample>> tiles;
    tiles.reserve(entries.size());
    for (const TileEntry& entry : entries) {
        const py::array& pixels = std::get<7>(entry);
        const std::string name = "tile " + std::to_string(std::get<0>(entry)) + "'s strip";
        if (!has_dtype<Sample>(pixels) || pixels.ndim() != 3 || pixels.shape(2) != band.channels)
            throw py::value_error(name + " must be (rows, cols, channels) like the band");
        ofs::TileStrip<Sample> tile;
        std::tie(tile.index, tile.top, tile.left, tile.height, tile.width, tile.strip_top,
                 tile.strip_left, std::ignore) = entry;
        tile.strip = image_view<Sample>(pixels, name, Axes::channels);
        tiles.push_back(tile);
    }
    // The arrays are referenced by the caller's frame; the band buffers are written by us only.
    py::gil_scoped_release release;
    ofs::paint_nearest(band, tiles);
}

template <typename Sample, typename Sum>
void add_rows(const py::array& pixels, py::array& sums) {
    const auto view = image_view<Sample>(pixels, "pixels", Axes::channels);
    auto* out = static_cast<Sum*>(sums.mutable_data());
    // `pixels` is referenced by the caller's frame and only read; `sums` is written by us only.
    py::gil_scoped_release release;
    ofs::add_rows(view, out);
}

template <typename Sample>
void add_rows_into(const py::array& pixels, py::array& sums) {
    if (has_dtype<std::uint32_t>(sums)) return add_rows<Sample, std::uint32_t>(pixels, sums);
    return add_rows<Sample, std::uint64_t>(pixels, sums);
}

template <typename Sum>
void block_means(py::array& sums, std::int64_t across, double count, py::array& out) {
    auto* values = static_cast<Sum*>(sums.mutable_data());
    auto* means = static_cast<float*>(out.mutable_data());
    const std::ptrdiff_t cols = sums.shape(0), channels = sums.shape(1);
    // `sums` and `out` are referenced by the caller's frame and written by us only.
    py::gil_scoped_release release;
    ofs::block_means(values, cols, channels, across, count, means);
}

bool is_sum_array(const py::array& sums) {
    return sums.ndim() == 2 && sums.writeable() && (sums.flags() & py::array::c_style) &&
           (has_dtype<std::uint32_t>(sums) || has_dtype<std::uint64_t>(sums));
}

}  // namespace

void bind_compose(py::module_ m) {
    m.def(
        "paint_nearest",
        [](py::array colour, py::array covered, std::int64_t y0,
           const std::vector<TileEntry>& tiles) {
            if (colour.ndim() != 3 || !(colour.flags() & py::array::c_style) ||
                !colour.writeable())
                throw py::value_error(
                    "colour must be a writable C-contiguous (rows, width, channels)");
            if (covered.ndim() != 2 || !has_dtype<bool>(covered) ||
                !(covered.flags() & py::array::c_style) || !covered.writeable() ||
                covered.shape(0) != colour.shape(0) || covered.shape(1) != colour.shape(1))
                throw py::value_error("covered must be a writable C-contiguous bool (rows, width)");
            try {
                if (has_dtype<std::uint8_t>(colour))
                    return paint<std::uint8_t>(colour, covered, y0, tiles);
                if (has_dtype<std::uint16_t>(colour))
                    return paint<std::uint16_t>(colour, covered, y0, tiles);
            } catch (const std::invalid_argument& error) {
                throw py::value_error(error.what());
            }
            throw py::value_error("colour must be uint8 or uint16");
        },
        py::arg("colour"), py::arg("covered"), py::arg("y0"), py::arg("tiles"),
        "Paint canvas rows y0.. into colour/covered under the nearest-centre rule. tiles: "
        "(index, top, left, height, width, strip_top, strip_left, strip) for every tile "
        "reaching into the band; strip holds the decoded pixels from canvas (strip_top, "
        "strip_left).");

    m.def(
        "add_rows",
        [](const py::array& pixels, py::array sums) {
            if (pixels.ndim() != 3)
                throw py::value_error("pixels must be (rows, cols, channels)");
            if (!is_sum_array(sums) || sums.shape(0) != pixels.shape(1) ||
                sums.shape(1) != pixels.shape(2))
                throw py::value_error(
                    "sums must be a writable C-contiguous uint32 or uint64 (cols, channels)");
            if (has_dtype<std::uint8_t>(pixels)) return add_rows_into<std::uint8_t>(pixels, sums);
            if (has_dtype<std::uint16_t>(pixels)) return add_rows_into<std::uint16_t>(pixels, sums);
            throw py::value_error("pixels must be uint8 or uint16");
        },
        py::arg("pixels"), py::arg("sums"),
        "Add every row of (rows, cols, channels) 8/16-bit pixels of any strides into sums "
        "(cols, channels), column by column. uint32 sums are faster; the caller makes sure they "
        "cannot overflow.");

    m.def(
        "block_means",
        [](py::array sums, std::int64_t across, double count, py::array out) {
            if (!is_sum_array(sums))
                throw py::value_error(
                    "sums must be a writable C-contiguous uint32 or uint64 (cols, channels)");
            if (across < 1 || across > sums.shape(0))
                throw py::value_error("across must be between 1 and the number of columns");
            if (!(count > 0.0)) throw py::value_error("count must be positive");
            if (out.ndim() != 2 || !has_dtype<float>(out) ||
                !(out.flags() & py::array::c_style) || !out.writeable() ||
                out.shape(0) != sums.shape(0) / across || out.shape(1) != sums.shape(1))
                throw py::value_error(
                    "out must be a writable C-contiguous float32 (cols // across, channels)");
            if (has_dtype<std::uint32_t>(sums))
                return block_means<std::uint32_t>(sums, across, count, out);
            return block_means<std::uint64_t>(sums, across, count, out);
        },
        py::arg("sums"), py::arg("across"), py::arg("count"), py::arg("out"),
        "Write into out (cols // across, channels) the means of blocks of `across` columns of "
        "sums, each sum standing for `count` samples; then set sums to zero.");
}
