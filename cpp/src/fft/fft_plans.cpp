#include "ofs/fft/fft_plans.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

namespace ofs {

FloatBuffer allocate_floats(std::size_t count) {
    void* memory = fftwf_malloc(sizeof(float) * (count > 0 ? count : 1));
    if (memory == nullptr) throw std::bad_alloc();
    return FloatBuffer(static_cast<float*>(memory));
}

ComplexBuffer allocate_complex(std::size_t count) {
    void* memory = fftwf_malloc(sizeof(Complex) * (count > 0 ? count : 1));
    if (memory == nullptr) throw std::bad_alloc();
    return ComplexBuffer(static_cast<Complex*>(memory));
}

namespace {

enum class Direction { forward, inverse };

// Columns transformed at once through the buffer: 8 complex values are a 64-byte cache line of
// each row. Measured on 2500 x 1152: 27 ms with 8 or 16, 51 ms with 4 (the 2-D plan: 75 ms).
constexpr int column_block = 8;

// Transforms with at least this many rows, or samples, go through the column buffer. Measured
// (forward, 2-D estimated plan against rows + buffered columns): the same up to 1024 x 1024
// (8 ms), 640 x 2048 and 1024 x 2048; 15 against 11 ms at 1280 x 960, 49 against 19 ms at
// 2048 x 1024, 120 against 41 ms at 2048 x 2048; wide ones from 2 M samples 27 against 23 ms
// at 750 x 3456 (an 8 MP pair one above the other), 27 against 16 ms at 512 x 4096. Smaller
// transforms keep FFTW's 2-D plan.
constexpr int buffered_from_rows = 1024;
constexpr std::size_t buffered_from_samples = std::size_t{1} << 21;

// How one 2-D real transform runs: FFTW's 2-D plan (`whole`), or two passes, the rows' real
// transforms (all rows in one plan) and the columns' complex ones (column_block contiguous
// columns of the buffer in one plan).
struct TransformPlans {
    fftwf_plan whole = nullptr;
    fftwf_plan rows = nullptr;
    fftwf_plan columns = nullptr;
};

using PlanKey = std::pair<int, std::pair<int, int>>;

// One mutex for every call into FFTW's planner, which shares global state between plans.
std::mutex& planner_mutex() {
    static std::mutex mutex;
    return mutex;
}

// Plans live as long as the process: they are small and every later pair of the same size
// reuses them.
std::map<PlanKey, TransformPlans>& plan_cache() {
    static std::map<PlanKey, TransformPlans> cache;
    return cache;
}

const TransformPlans& cached_plans(Direction direction, int rows, int cols) {
    if (rows <= 0 || cols <= 0) throw std::invalid_argument("FFT size must be positive");
    std::lock_guard<std::mutex> lock(planner_mutex());
    const PlanKey key{static_cast<int>(direction), {rows, cols}};
    auto found = plan_cache().find(key);
    if (found != plan_cache().end()) return found->second;

    // Scratch arrays only fix the alignment the plans assume; FFTW_ESTIMATE never touches them.
    FloatBuffer real = allocate_floats(static_cast<std::size_t>(rows) * cols);
    ComplexBuffer spectrum = allocate_complex(half_spectrum_size(rows, cols));
    auto* spectrum_ptr = reinterpret_cast<fftwf_complex*>(spectrum.get());
    const bool forward = direction == Direction::forward;
    TransformPlans plans;
    if (rows < buffered_from_rows &&
        static_cast<std::size_t>(rows) * cols < buffered_from_samples) {
        plans.whole =
            forward ? fftwf_plan_dft_r2c_2d(rows, cols, real.get(), spectrum_ptr, FFTW_ESTIMATE)
                    : fftwf_plan_dft_c2r_2d(rows, cols, spectrum_ptr, real.get(), FFTW_ESTIMATE);
        if (plans.whole == nullptr) throw std::runtime_error("FFTW could not make a plan");
        return plan_cache().emplace(key, plans).first->second;
    }
    const int half_cols = cols / 2 + 1;
    const int row_length[1] = {cols};
    const int column_length[1] = {rows};
    ComplexBuffer columns = allocate_complex(static_cast<std::size_t>(rows) * column_block);
    auto* columns_ptr = reinterpret_cast<fftwf_complex*>(columns.get());
    // Rows: `rows` transforms of length cols, each row `cols` reals / `half_cols` complex on.
    plans.rows = forward ? fftwf_plan_many_dft_r2c(1, row_length, rows, real.get(), nullptr, 1,
                                                   cols, spectrum_ptr, nullptr, 1, half_cols,
                                                   FFTW_ESTIMATE)
                         : fftwf_plan_many_dft_c2r(1, row_length, rows, spectrum_ptr, nullptr, 1,
                                                   half_cols, real.get(), nullptr, 1, cols,
                                                   FFTW_ESTIMATE);
    // Columns: column_block transforms of length rows, in place, one after another.
    plans.columns = fftwf_plan_many_dft(1, column_length, column_block, columns_ptr, nullptr, 1,
                                        rows, columns_ptr, nullptr, 1, rows,
                                        forward ? FFTW_FORWARD : FFTW_BACKWARD, FFTW_ESTIMATE);
    if (plans.rows == nullptr || plans.columns == nullptr)
        throw std::runtime_error("FFTW could not make a plan");
    return plan_cache().emplace(key, plans).first->second;
}

// Transforms every column of the rows x half_cols half spectrum in place, column_block at a
// time: each block is gathered into a contiguous buffer (one cache line of each row), transformed
// there and scattered back.
void transform_columns(fftwf_plan plan, int rows, int half_cols, Complex* spectrum) {
    const std::size_t buffer_size = static_cast<std::size_t>(rows) * column_block;
    // Each thread keeps its buffer for the next transform. A last block of fewer columns also
    // transforms what an earlier block left in the rest: each column is transformed on its own,
    // so those are never read back and do not touch the others (zeroed when made all the same).
    thread_local ComplexBuffer buffer;
    thread_local std::size_t buffer_capacity = 0;
    if (buffer_capacity < buffer_size) {
        buffer = allocate_complex(buffer_size);
        std::fill(buffer.get(), buffer.get() + buffer_size, Complex(0.0f, 0.0f));
        buffer_capacity = buffer_size;
    }
    Complex* columns = buffer.get();
    for (int first = 0; first < half_cols; first += column_block) {
        const int count = std::min(column_block, half_cols - first);
        for (int r = 0; r < rows; ++r) {
            const Complex* row = spectrum + static_cast<std::size_t>(r) * half_cols + first;
            for (int j = 0; j < count; ++j) columns[static_cast<std::size_t>(j) * rows + r] = row[j];
        }
        auto* in_place = reinterpret_cast<fftwf_complex*>(columns);
        fftwf_execute_dft(plan, in_place, in_place);
        for (int r = 0; r < rows; ++r) {
            Complex* row = spectrum + static_cast<std::size_t>(r) * half_cols + first;
            for (int j = 0; j < count; ++j) row[j] = columns[static_cast<std::size_t>(j) * rows + r];
        }
    }
}

}  // namespace

void forward_transform(int rows, int cols, const float* real, Complex* half_spectrum) {
    const TransformPlans& plans = cached_plans(Direction::forward, rows, cols);
    auto* spectrum = reinterpret_cast<fftwf_complex*>(half_spectrum);
    // A real-to-complex transform leaves its input as it was (FFTW's default for r2c plans).
    float* input = const_cast<float*>(real);
    if (plans.whole != nullptr) {
        fftwf_execute_dft_r2c(plans.whole, input, spectrum);
        return;
    }
    fftwf_execute_dft_r2c(plans.rows, input, spectrum);
    transform_columns(plans.columns, rows, cols / 2 + 1, half_spectrum);
}

void inverse_transform(int rows, int cols, Complex* half_spectrum, float* real) {
    const TransformPlans& plans = cached_plans(Direction::inverse, rows, cols);
    auto* spectrum = reinterpret_cast<fftwf_complex*>(half_spectrum);
    if (plans.whole != nullptr) {
        fftwf_execute_dft_c2r(plans.whole, spectrum, real);
        return;
    }
    transform_columns(plans.columns, rows, cols / 2 + 1, half_spectrum);
    fftwf_execute_dft_c2r(plans.rows, spectrum, real);
}

int fast_fft_size(int n) {
    if (n <= 1) return 1;
    for (int candidate = n;; ++candidate) {
        int rest = candidate;
        for (int factor : {2, 3, 5}) {
            while (rest % factor == 0) rest /= factor;
        }
        if (rest == 1) return candidate;
    }
}

}  // namespace ofs
