// Splitting a kernel's output rows between threads: work(begin, end) runs over blocks of rows,
// each row computed by one thread from the same formulas, so results never depend on the number
// of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace ofs::focus {

template <typename Work>
void for_row_blocks(std::ptrdiff_t rows, int threads, const Work& work) {
    const std::ptrdiff_t block = 16;
    const std::ptrdiff_t blocks = (rows + block - 1) / block;
    const std::ptrdiff_t workers = std::min<std::ptrdiff_t>(std::max(threads, 1), blocks);
    if (workers <= 1) {
        work(std::ptrdiff_t{0}, rows);
        return;
    }
    std::atomic<std::ptrdiff_t> next{0};
    const auto worker = [&] {
        for (std::ptrdiff_t b = next++; b < blocks; b = next++)
            work(b * block, std::min(rows, (b + 1) * block));
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(workers - 1));
    try {
        for (std::ptrdiff_t t = 1; t < workers; ++t) pool.emplace_back(worker);
    } catch (const std::system_error&) {
        // No more threads to be had: the ones started and this one share the blocks.
    }
    worker();
    for (std::thread& thread : pool) thread.join();
}

}  // namespace ofs::focus
