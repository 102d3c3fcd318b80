#include "ofs/image/grey.hpp"

#include <cstddef>

namespace ofs {

template <typename Sample>
void grey_of(const ImageView<Sample>& pixels, float* grey) {
    const bool colour = pixels.channels >= 3;
    const std::ptrdiff_t green = pixels.channel_step(), blue = 2 * pixels.channel_step();
    with_step(pixels.col_step(), [&](auto col_step) {
        for (std::ptrdiff_t r = 0; r < pixels.rows; ++r) {
            const Sample* in = pixels.row(r);
            float* out = grey + r * pixels.cols;
            if (colour) {
                for (std::ptrdiff_t c = 0; c < pixels.cols; ++c, in += col_step) {
                    // Integer sum first: exact, and one float multiply per pixel.
                    const int sum = int(in[0]) + int(in[green]) + int(in[blue]);
                    out[c] = float(sum) * (1.0f / 3.0f);
                }
            } else {
                for (std::ptrdiff_t c = 0; c < pixels.cols; ++c, in += col_step)
                    out[c] = float(in[0]);
            }
        }
    });
}

template void grey_of<std::uint8_t>(const ImageView<std::uint8_t>&, float*);
template void grey_of<std::uint16_t>(const ImageView<std::uint16_t>&, float*);

}  // namespace ofs
