#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_views.hpp"
#include "ofs/compose/blend_paint.hpp"
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

bool is_float_buffer(const py::array& array, py::ssize_t ndim) {
    return array.ndim() == ndim && has_dtype<float>(array) &&
           (array.flags() & py::array::c_style) && array.writeable();
}

ofs::BlendBuffers blend_buffers(py::array& total, py::array& weight) {
    if (!is_float_buffer(total, 3))
        throw py::value_error("total must be a writable C-contiguous float32 (rows, cols, channels)");
    if (!is_float_buffer(weight, 2) || weight.shape(0) != total.shape(0) ||
        weight.shape(1) != total.shape(1))
        throw py::value_error("weight must be a writable C-contiguous float32 (rows, cols)");
    ofs::BlendBuffers buffers;
    buffers.total = static_cast<float*>(total.mutable_data());
    buffers.weight = static_cast<float*>(weight.mutable_data());
    buffers.rows = total.shape(0);
    buffers.cols = total.shape(1);
    buffers.channels = static_cast<int>(total.shape(2));
    return buffers;
}

ofs::BlendRule blend_rule(const std::string& name) {
    if (name == "feather") return ofs::BlendRule::feather;
    if (name == "cosine") return ofs::BlendRule::cosine;
    if (name == "mean") return ofs::BlendRule::mean;
    if (name == "max") return ofs::BlendRule::max;
    throw py::value_error("rule must be feather, cosine, mean or max, not " + name);
}

using TileMap = std::tuple<double, double, double, double, double, double>;

template <typename Sample>
void add_patch_of(const ofs::BlendBuffers& buffers, const py::array& pixels, std::int64_t top,
                  std::int64_t left, const TileMap& map, std::int64_t tile_rows,
                  std::int64_t tile_cols, float gain, ofs::BlendRule rule) {
    ofs::PlacedPatch<Sample> patch;
    patch.pixels = image_view<Sample>(pixels, "patch", Axes::channels);
    patch.top = top;
    patch.left = left;
    std::tie(patch.u0, patch.du_di, patch.du_dj, patch.v0, patch.dv_di, patch.dv_dj) = map;
    patch.tile_rows = tile_rows;
    patch.tile_cols = tile_cols;
    patch.gain = gain;
    // `pixels` is referenced by the caller's frame and only read; the buffers are written by
    // us only.
    py::gil_scoped_release release;
    ofs::add_patch(buffers, patch, rule);
}

template <typename Out>
void finish_into(const ofs::BlendBuffers& buffers, py::array& out, py::array& covered,
                 double max_value) {
    auto* target = static_cast<Out*>(out.mutable_data());
    auto* mask = static_cast<std::uint8_t*>(covered.mutable_data());
    // The buffers and outputs are referenced by the caller's frame; only we write the outputs.
    py::gil_scoped_release release;
    ofs::finish_blend(buffers, target, mask, max_value);
}

template <typename Sample>
void halve_into(const py::array& pixels, py::array& out) {
    const auto view = image_view<Sample>(pixels, "pixels", Axes::channels);
    if (!has_dtype<Sample>(out) || out.ndim() != 3 || !(out.flags() & py::array::c_style) ||
        !out.writeable() || out.shape(0) != (view.rows + 1) / 2 ||
        out.shape(1) != (view.cols + 1) / 2 || out.shape(2) != view.channels)
        throw py::value_error(
            "out must be a writable C-contiguous array of the pixels' dtype, "
            "(ceil(rows / 2), ceil(cols / 2), channels)");
    auto* target = static_cast<Sample*>(out.mutable_data());
    // `pixels` is referenced by the caller's frame and only read; `out` is written by us only.
    py::gil_scoped_release release;
    ofs::halve_by_means(view, target);
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

    m.def(
        "add_patch",
        [](py::array total, py::array weight, const py::array& patch, std::int64_t top,
           std::int64_t left, const TileMap& map, std::int64_t tile_rows,
           std::int64_t tile_cols, float gain, const std::string& rule) {
            const ofs::BlendBuffers buffers = blend_buffers(total, weight);
            if (tile_rows < 1 || tile_cols < 1)
                throw py::value_error("tile_rows and tile_cols must be at least 1");
            const ofs::BlendRule blend = blend_rule(rule);
            try {
                if (has_dtype<std::uint8_t>(patch))
                    return add_patch_of<std::uint8_t>(buffers, patch, top, left, map, tile_rows,
                                                      tile_cols, gain, blend);
                if (has_dtype<std::uint16_t>(patch))
                    return add_patch_of<std::uint16_t>(buffers, patch, top, left, map,
                                                       tile_rows, tile_cols, gain, blend);
                if (has_dtype<float>(patch))
                    return add_patch_of<float>(buffers, patch, top, left, map, tile_rows,
                                               tile_cols, gain, blend);
            } catch (const std::invalid_argument& error) {
                throw py::value_error(error.what());
            }
            throw py::value_error("patch must be uint8, uint16 or float32");
        },
        py::arg("total"), py::arg("weight"), py::arg("patch"), py::arg("top"), py::arg("left"),
        py::arg("tile_map"), py::arg("tile_rows"), py::arg("tile_cols"), py::arg("gain"),
        py::arg("rule"),
        "Add one tile's patch (on the chunk's grid, first pixel at chunk (top, left)) into the "
        "float32 sums total (rows, cols, channels) and weight (rows, cols) under rule feather, "
        "cosine, mean or max. tile_map = (u0, du_di, du_dj, v0, dv_di, dv_dj): tile "
        "coordinates of patch pixel (i, j).");

    m.def(
        "finish_blend",
        [](py::array total, py::array weight, py::array out, py::array covered,
           double max_value) {
            const ofs::BlendBuffers buffers = blend_buffers(total, weight);
            if (out.ndim() != 3 || !(out.flags() & py::array::c_style) || !out.writeable() ||
                out.shape(0) != buffers.rows || out.shape(1) != buffers.cols ||
                out.shape(2) != buffers.channels)
                throw py::value_error(
                    "out must be a writable C-contiguous (rows, cols, channels) like total");
            if (covered.ndim() != 2 || !has_dtype<bool>(covered) ||
                !(covered.flags() & py::array::c_style) || !covered.writeable() ||
                covered.shape(0) != buffers.rows || covered.shape(1) != buffers.cols)
                throw py::value_error("covered must be a writable C-contiguous bool (rows, cols)");
            if (has_dtype<std::uint8_t>(out))
                return finish_into<std::uint8_t>(buffers, out, covered, max_value);
            if (has_dtype<std::uint16_t>(out))
                return finish_into<std::uint16_t>(buffers, out, covered, max_value);
            throw py::value_error("out must be uint8 or uint16");
        },
        py::arg("total"), py::arg("weight"), py::arg("out"), py::arg("covered"),
        py::arg("max_value"),
        "Write total / weight, rounded and clamped to [0, max_value], into out, 0 where the "
        "weight is 0, and covered = weight > 0.");

    m.def(
        "halve",
        [](const py::array& pixels, py::array out) {
            if (has_dtype<std::uint8_t>(pixels)) return halve_into<std::uint8_t>(pixels, out);
            if (has_dtype<std::uint16_t>(pixels)) return halve_into<std::uint16_t>(pixels, out);
            throw py::value_error("pixels must be uint8 or uint16");
        },
        py::arg("pixels"), py::arg("out"),
        "Write the 2 x 2 means of (rows, cols, channels) pixels into out (ceil(rows / 2), "
        "ceil(cols / 2), channels), rounded; an odd last row or column averages what exists.");
}
