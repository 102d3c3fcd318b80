#include "ofs/fft/fft_plans.hpp"

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
using PlanKey = std::pair<int, std::pair<int, int>>;

// One mutex for every call into FFTW's planner, which shares global state between plans.
std::mutex& planner_mutex() {
    static std::mutex mutex;
    return mutex;
}

// Plans live as long as the process: they are small and every later pair of the same size
// reuses them.
std::map<PlanKey, fftwf_plan>& plan_cache() {
    static std::map<PlanKey, fftwf_plan> cache;
    return cache;
}

fftwf_plan cached_plan(Direction direction, int rows, int cols) {
    if (rows <= 0 || cols <= 0) throw std::invalid_argument("FFT size must be positive");
    std::lock_guard<std::mutex> lock(planner_mutex());
    const PlanKey key{static_cast<int>(direction), {rows, cols}};
    auto found = plan_cache().find(key);
    if (found != plan_cache().end()) return found->second;

    // Scratch arrays only fix the alignment the plan assumes; FFTW_ESTIMATE never touches them.
    FloatBuffer real = allocate_floats(static_cast<std::size_t>(rows) * cols);
    ComplexBuffer spectrum = allocate_complex(half_spectrum_size(rows, cols));
    auto* complex_ptr = reinterpret_cast<fftwf_complex*>(spectrum.get());
    fftwf_plan plan =
        direction == Direction::forward
            ? fftwf_plan_dft_r2c_2d(rows, cols, real.get(), complex_ptr, FFTW_ESTIMATE)
            : fftwf_plan_dft_c2r_2d(rows, cols, complex_ptr, real.get(), FFTW_ESTIMATE);
    if (plan == nullptr) throw std::runtime_error("FFTW could not make a plan");
    plan_cache().emplace(key, plan);
    return plan;
}

}  // namespace

fftwf_plan forward_plan(int rows, int cols) { return cached_plan(Direction::forward, rows, cols); }
fftwf_plan inverse_plan(int rows, int cols) { return cached_plan(Direction::inverse, rows, cols); }

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
