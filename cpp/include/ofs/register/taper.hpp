// The raised-cosine edge taper applied to regions before correlation, and the overlap weight it
// implies at each shift.
#pragma once

#include <vector>

namespace ofs {

// Weights 1 in the middle, rising as half a cosine over `taper` pixels at each end.
std::vector<float> taper_weights(int length, int taper);

// sum_x w(x + shift) w(x) for the taper weights of `length` samples: how much of the two
// regions overlaps at `shift`, in weighted pixels. Dividing the correlation by it removes the
// pull of larger overlaps towards zero shift, which would bias the sub-pixel peak.
double taper_overlap(int length, int taper, int shift);

// The same from weights already made by taper_weights: for the many shifts of one search.
double taper_overlap(const std::vector<float>& weights, int shift);

}  // namespace ofs
