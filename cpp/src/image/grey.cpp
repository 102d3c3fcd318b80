#include "ofs/image/grey.hpp"

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

template void grey_of<std::uint8_t>(const PixelsView<std::uint8_t>&, float*);
template void grey_of<std::uint16_t>(const PixelsView<std::uint16_t>&, float*);

}  // namespace ofs
