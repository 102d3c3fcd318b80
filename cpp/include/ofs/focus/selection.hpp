// Choosing, pixel by pixel, the frame of a focus stack that is in focus.
//
// The stack is never held whole: frames arrive one at a time and each call updates running
// results (the best energy so far and which frame gave it), so memory does not grow with the
// number of frames. Energies are float32 planes (rows, cols); coefficient images are
// C-contiguous (rows, cols, channels) float32 as in pyramid.hpp; frame indexes are int32.
#pragma once

#include <cstdint>

#include "ofs/focus/pyramid.hpp"

namespace ofs::focus {

// energy = the mean over a (2 radius + 1)^2 window (mirrored edges) of the sum over channels of
// the squared values of `image`: the local contrast of a Laplacian level. radius 0: no window.
void local_energy(const ConstFloatImage& image, float* energy, int radius, int threads);

// Where energy > best_energy: best_energy = energy, best_index = index and, when `best` has
// data, best = coefficients (same shape). Ties keep the earlier frame.
void select_max(const float* energy, const ConstFloatImage& coefficients, float* best_energy,
                std::int32_t* best_index, const FloatImage& best, std::int32_t index,
                int threads);

// Where chosen == index: out = coefficients (same shape as out).
void gather(const ConstFloatImage& coefficients, const std::int32_t* chosen, std::int32_t index,
            const FloatImage& out, int threads);

// out += weight * coefficients, weight a per-pixel plane: the weighted sums of soft selection.
void accumulate_weighted(const ConstFloatImage& coefficients, const float* weight,
                         const FloatImage& out, int threads);

}  // namespace ofs::focus
