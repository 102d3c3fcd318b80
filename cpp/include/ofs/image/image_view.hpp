// The one way every kernel reads an image: a pointer, a shape and numpy's byte strides.
//
// The core never copies or owns caller pixels. A numpy array of any layout (a slice, a flipped
// or transposed view, an interleaved RGB tile, a single channel of one) crosses the Python
// boundary as one of these, pointing into the array's own memory; the strides are copied from
// numpy unchanged. They are in bytes, like numpy's, and always whole samples (the bindings
// refuse other arrays), so a kernel can also step through a row in samples with col_step().
#pragma once

#include <cstddef>
#include <type_traits>

namespace ofs {

template <typename Sample>
struct ImageView {
    const Sample* data = nullptr;  // sample (0, 0) of channel 0
    std::ptrdiff_t rows = 0;
    std::ptrdiff_t cols = 0;
    std::ptrdiff_t channels = 1;  // 1 for grey images; 3 or 4 for RGB(A) tiles
    std::ptrdiff_t row_stride = 0;  // bytes from (r, c) to (r + 1, c)
    std::ptrdiff_t col_stride = sizeof(Sample);  // bytes from (r, c) to (r, c + 1)
    std::ptrdiff_t channel_stride = sizeof(Sample);  // bytes from one channel to the next

    // The first sample (channel 0) of row r.
    const Sample* row(std::ptrdiff_t r) const { return offset(r * row_stride); }

    // The strides in samples, for stepping a Sample pointer along a row in the inner loops.
    std::ptrdiff_t col_step() const { return col_stride / sample_bytes; }
    std::ptrdiff_t channel_step() const { return channel_stride / sample_bytes; }

  private:
    static constexpr std::ptrdiff_t sample_bytes = sizeof(Sample);
    // The sample `bytes` bytes after data (numpy's own address arithmetic).
    const Sample* offset(std::ptrdiff_t bytes) const {
        return reinterpret_cast<const Sample*>(reinterpret_cast<const char*>(data) + bytes);
    }
};

// The same for an image a kernel writes into (the caller's array, filled in place): writable
// samples, the same shape and byte strides.
template <typename Sample>
struct WritableImageView {
    Sample* data = nullptr;  // sample (0, 0) of channel 0
    std::ptrdiff_t rows = 0;
    std::ptrdiff_t cols = 0;
    std::ptrdiff_t channels = 1;
    std::ptrdiff_t row_stride = 0;  // bytes from (r, c) to (r + 1, c)
    std::ptrdiff_t col_stride = sizeof(Sample);  // bytes from (r, c) to (r, c + 1)
    std::ptrdiff_t channel_stride = sizeof(Sample);  // bytes from one channel to the next

    // The first sample (channel 0) of row r.
    Sample* row(std::ptrdiff_t r) const {
        return reinterpret_cast<Sample*>(reinterpret_cast<char*>(data) + r * row_stride);
    }
};

// Calls loop(step) with `step`, a stride in samples, turned into the compile-time constant 1
// when it is 1. The loop is then compiled twice, and the copy for contiguous samples becomes
// vector instructions; compilers do not make that copy by themselves for a step computed
// from a byte stride.
template <typename Loop>
void with_step(std::ptrdiff_t step, Loop&& loop) {
    if (step == 1)
        loop(std::integral_constant<std::ptrdiff_t, 1>());
    else
        loop(step);
}

}  // namespace ofs
