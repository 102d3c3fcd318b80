#include "ofs/register/taper.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ofs {

std::vector<float> taper_weights(int length, int taper) {
    std::vector<float> weights(std::max(length, 0), 1.0f);
    const int width = std::min(taper, length / 2);
    const double pi = 3.14159265358979323846;
    for (int k = 0; k < width; ++k) {
        const float w = static_cast<float>(0.5 - 0.5 * std::cos(pi * (k + 0.5) / width));
        weights[k] = w;
        weights[length - 1 - k] = w;
    }
    return weights;
}

double taper_overlap(int length, int taper, int shift) {
    const int magnitude = std::abs(shift);
    if (magnitude >= length) return 0.0;
    if (taper <= 0) return static_cast<double>(length - magnitude);
    return taper_overlap(taper_weights(length, taper), shift);
}

double taper_overlap(const std::vector<float>& weights, int shift) {
    const int length = static_cast<int>(weights.size());
    const int magnitude = std::abs(shift);
    double sum = 0.0;
    for (int x = 0; x + magnitude < length; ++x)
        sum += static_cast<double>(weights[x]) * weights[x + magnitude];
    return sum;
}

}  // namespace ofs
