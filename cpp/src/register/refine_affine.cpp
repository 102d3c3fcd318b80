#include "ofs/register/refine_affine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace ofs {

namespace {

// A contiguous float copy of an image, row-major.
struct Plane {
    int rows = 0;
    int cols = 0;
    std::vector<float> values;

    float at(int r, int c) const { return values[static_cast<std::size_t>(r) * cols + c]; }
};

// `storage` lends its capacity (see Scratch): no fresh allocation when it is large enough.
Plane copy_plane(const ImageView<float>& image, std::vector<float>&& storage) {
    Plane plane{static_cast<int>(image.rows), static_cast<int>(image.cols), std::move(storage)};
    plane.values.resize(static_cast<std::size_t>(plane.rows) * plane.cols);
    const std::ptrdiff_t step = image.col_step();
    for (int r = 0; r < plane.rows; ++r) {
        const float* in = image.row(r);
        float* out = plane.values.data() + static_cast<std::size_t>(r) * plane.cols;
        for (int c = 0; c < plane.cols; ++c) out[c] = in[c * step];
    }
    return plane;
}

// Separable Gaussian blur with mirrored borders, in place; `spare` is working memory of any
// size, swapped with the plane's (so it comes back holding a plane-sized buffer).
void gaussian_blur(Plane& plane, double sigma, std::vector<float>& spare) {
    if (sigma <= 0.0) return;
    const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * sigma)));
    std::vector<float> kernel(2 * radius + 1);
    double total = 0.0;
    for (int k = -radius; k <= radius; ++k) total += kernel[k + radius] = static_cast<float>(std::exp(-0.5 * k * k / (sigma * sigma)));
    for (float& w : kernel) w = static_cast<float>(w / total);
    auto mirror = [](int i, int n) {
        while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
        return i;
    };
    const int rows = plane.rows, cols = plane.cols;
    std::vector<float> line(std::max(rows, cols) + 2 * radius);
    for (int r = 0; r < rows; ++r) {  // along rows
        float* values = plane.values.data() + static_cast<std::size_t>(r) * cols;
        for (int c = -radius; c < cols + radius; ++c) line[c + radius] = values[mirror(c, cols)];
        for (int c = 0; c < cols; ++c) {
            float sum = 0.0f;
            for (int k = 0; k <= 2 * radius; ++k) sum += kernel[k] * line[c + k];
            values[c] = sum;
        }
    }
    std::vector<float>& out = spare;  // along columns
    out.resize(static_cast<std::size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r) {
        float* target = out.data() + static_cast<std::size_t>(r) * cols;
        std::fill(target, target + cols, 0.0f);
        for (int k = -radius; k <= radius; ++k) {
            const float* source = plane.values.data() + static_cast<std::size_t>(mirror(r + k, rows)) * cols;
            const float w = kernel[k + radius];
            for (int c = 0; c < cols; ++c) target[c] += w * source[c];
        }
    }
    plane.values.swap(out);
}

// a's value and its two derivatives (central differences, one-sided at the border) side by
// side for each pixel: the refinement samples all three at the same place, so one cache line
// serves them, where three separate planes would cost three.
struct Sample3 {
    float value, d_row, d_col, unused;
};

void with_gradients(const Plane& p, std::vector<Sample3>& out) {
    out.resize(p.values.size());
    for (int r = 0; r < p.rows; ++r) {
        const int up = std::max(r - 1, 0), down = std::min(r + 1, p.rows - 1);
        const float row_scale = 1.0f / static_cast<float>(std::max(down - up, 1));
        for (int c = 0; c < p.cols; ++c) {
            const int left = std::max(c - 1, 0), right = std::min(c + 1, p.cols - 1);
            const float col_scale = 1.0f / static_cast<float>(std::max(right - left, 1));
            out[static_cast<std::size_t>(r) * p.cols + c] = {
                p.at(r, c), (p.at(down, c) - p.at(up, c)) * row_scale,
                (p.at(r, right) - p.at(r, left)) * col_scale, 0.0f};
        }
    }
}

// The refinement's working memory (two planes, a blur's spare, two sample arrays: 40 bytes a
// pixel), kept by each thread between calls. Allocated afresh, the buffers of a 512^2 pair
// (10 MB) went back to the system at every call and came back as 2,500 page faults, a third
// of a one-iteration full-resolution refinement's time (measured: 22-25 against 14-16 ms).
// Kept only up to KEPT_PIXELS, so large images do not pin memory in every worker thread.
struct Scratch {
    std::vector<float> a, b, spare;
    std::vector<Sample3> a_samples, b_samples;
};
constexpr std::size_t KEPT_PIXELS = std::size_t{1} << 20;

// Lends the thread's Scratch to one call and takes it back at the end, releasing it when the
// images were larger than KEPT_PIXELS.
class ScratchLoan {
public:
    explicit ScratchLoan(std::size_t pixels) : scratch_(owned()), pixels_(pixels) {}
    ~ScratchLoan() {
        if (pixels_ > KEPT_PIXELS) scratch_ = Scratch{};
    }
    ScratchLoan(const ScratchLoan&) = delete;
    ScratchLoan& operator=(const ScratchLoan&) = delete;
    Scratch& operator*() { return scratch_; }

private:
    static Scratch& owned() {
        thread_local Scratch scratch;
        return scratch;
    }
    Scratch& scratch_;
    std::size_t pixels_;
};

// 3x3 homogeneous products of the top-two-row form.
AffineRows multiply(const AffineRows& m, const AffineRows& n) {
    AffineRows out{};
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) out[i][j] = m[i][0] * n[0][j] + m[i][1] * n[1][j];
        out[i][2] += m[i][2];
    }
    return out;
}

// The nearest transform of `model` (rotation and scale of the nearest similarity), keeping
// where the pivot goes, so projecting does not move the middle of the image.
AffineRows project(const AffineRows& m, MotionModel model, double pivot_row, double pivot_col) {
    if (model == MotionModel::affine) return m;
    const double cos_part = 0.5 * (m[0][0] + m[1][1]);
    const double sin_part = 0.5 * (m[1][0] - m[0][1]);
    double scale = std::hypot(cos_part, sin_part);
    const double angle = std::atan2(sin_part, cos_part);
    if (model != MotionModel::similarity) scale = 1.0;
    double l00 = scale * std::cos(angle), l01 = -scale * std::sin(angle);
    double l10 = -l01, l11 = l00;
    if (model == MotionModel::translation) l00 = l11 = 1.0, l01 = l10 = 0.0;
    const double to_row = m[0][0] * pivot_row + m[0][1] * pivot_col + m[0][2];
    const double to_col = m[1][0] * pivot_row + m[1][1] * pivot_col + m[1][2];
    AffineRows out{};
    out[0] = {l00, l01, to_row - (l00 * pivot_row + l01 * pivot_col)};
    out[1] = {l10, l11, to_col - (l10 * pivot_row + l11 * pivot_col)};
    return out;
}

// Solves the symmetric positive definite system h x = g (n <= 8) by Cholesky; false when it
// is singular (a flat image: nothing constrains the transform).
bool solve_normal_equations(double h[8][8], const double g[8], int n, double x[8]) {
    double l[8][8] = {};
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j <= i; ++j) {
            double sum = h[i][j];
            for (int k = 0; k < j; ++k) sum -= l[i][k] * l[j][k];
            if (i == j) {
                if (sum <= 1e-12 * std::max(h[i][i], 1e-300)) return false;
                l[i][i] = std::sqrt(sum);
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    double y[8];
    for (int i = 0; i < n; ++i) {
        double sum = g[i];
        for (int k = 0; k < i; ++k) sum -= l[i][k] * y[k];
        y[i] = sum / l[i][i];
    }
    for (int i = n - 1; i >= 0; --i) {
        double sum = y[i];
        for (int k = i + 1; k < n; ++k) sum -= l[k][i] * x[k];
        x[i] = sum / l[i][i];
    }
    return true;
}

struct Sums {
    double h[8][8] = {};
    double g[8] = {};
    std::int64_t count = 0;
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;  // for Pearson r
};

constexpr int parameter_count(MotionModel model) {
    return model == MotionModel::translation ? 2
           : model == MotionModel::rigid     ? 3
           : model == MotionModel::similarity ? 4
                                             : 6;
}

// What one pass over b reads: the smoothed images, a's gradients and the current state.
struct PassInput {
    const Plane* a;
    const Sample3* a_samples;  // a with its gradients (with_gradients)
    const Sample3* b_samples;  // b with its gradients
    const Plane* b;
    AffineRows matrix;
    double gain, offset;
    double threshold;  // Huber threshold on the residual; 0: unweighted
    // The residual's variance as noise_floor + noise_slope * b (photon noise grows with the
    // signal); noise_floor 0: the same everywhere. Each pixel is weighted by the inverse of its
    // variance, and the Huber threshold applies to the residual in standard deviations.
    double noise_floor, noise_slope;
    bool cubic;  // Keys cubic sampling of a instead of bilinear
    int margin;
    double pivot_row, pivot_col, half_size;
};

// One pass over b: the normal equations of the Gauss-Newton step at the current transform.
// A template per model, so the per-pixel Jacobian and its outer product have a size known at
// compile time (unrolled, kept in registers): this loop is the whole cost of the refinement.
// Keys' cubic convolution weights (a = -0.5) of the samples at -1, 0, 1, 2 for a position t
// in [0, 1) past sample 0.
inline void keys_weights(float t, float w[4]) {
    const float t2 = t * t, t3 = t2 * t;
    w[0] = -0.5f * t3 + t2 - 0.5f * t;
    w[1] = 1.5f * t3 - 2.5f * t2 + 1.0f;
    w[2] = -1.5f * t3 + 2.0f * t2 + 0.5f * t;
    w[3] = 0.5f * t3 - 0.5f * t2;
}

// One sampled residual and the brightness of b where it was taken: the noise model's data.
struct ResidualSample {
    float residual, brightness;
};

template <MotionModel Model>
void accumulate(const PassInput& in, Sums& sums, std::vector<ResidualSample>* residual_sample) {
    constexpr int motion = parameter_count(Model);
    constexpr int n = motion + 2;  // + gain and offset
    const Plane& a = *in.a;
    const Plane& b = *in.b;
    const Sample3* samples = in.a_samples;
    const AffineRows& m = in.matrix;
    const double row_limit = a.rows - 1 - in.margin, col_limit = a.cols - 1 - in.margin;
    const std::size_t stride = static_cast<std::size_t>(a.cols);
    for (int r = in.margin; r < b.rows - in.margin; ++r) {
        double h[n][n] = {};
        double g[n] = {};
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        std::int64_t count = 0;
        const float* b_values = b.values.data() + static_cast<std::size_t>(r) * b.cols;
        const Sample3* b_row = in.b_samples + static_cast<std::size_t>(r) * b.cols;
        const double qr = (r - in.pivot_row) / in.half_size;
        for (int c = in.margin; c < b.cols - in.margin; ++c) {
            const double x_row = m[0][0] * r + m[0][1] * c + m[0][2];
            const double x_col = m[1][0] * r + m[1][1] * c + m[1][2];
            if (!(x_row >= in.margin && x_row < row_limit && x_col >= in.margin && x_col < col_limit))
                continue;
            const int r0 = static_cast<int>(x_row), c0 = static_cast<int>(x_col);
            const float fr = static_cast<float>(x_row - r0), fc = static_cast<float>(x_col - c0);
            const std::size_t i = static_cast<std::size_t>(r0) * stride + c0;
            double value_a, g_row, g_col;
            if (in.cubic) {
                // Keys cubic convolution over 4 x 4 samples (the margin keeps them inside).
                float wr[4], wc[4];
                keys_weights(fr, wr);
                keys_weights(fc, wc);
                float v = 0.0f, dr = 0.0f, dc = 0.0f;
                for (int y = 0; y < 4; ++y) {
                    const Sample3* row = samples + i + (y - 1) * static_cast<std::ptrdiff_t>(stride) - 1;
                    float rv = 0.0f, rdr = 0.0f, rdc = 0.0f;
                    for (int x = 0; x < 4; ++x) {
                        rv += wc[x] * row[x].value;
                        rdr += wc[x] * row[x].d_row;
                        rdc += wc[x] * row[x].d_col;
                    }
                    v += wr[y] * rv, dr += wr[y] * rdr, dc += wr[y] * rdc;
                }
                value_a = v, g_row = dr, g_col = dc;
            } else {
                const Sample3& s00 = samples[i];
                const Sample3& s01 = samples[i + 1];
                const Sample3& s10 = samples[i + stride];
                const Sample3& s11 = samples[i + stride + 1];
                const float w00 = (1.0f - fr) * (1.0f - fc), w01 = (1.0f - fr) * fc;
                const float w10 = fr * (1.0f - fc), w11 = fr * fc;
                value_a = w00 * s00.value + w01 * s01.value + w10 * s10.value + w11 * s11.value;
                g_row = w00 * s00.d_row + w01 * s01.d_row + w10 * s10.d_row + w11 * s11.d_row;
                g_col = w00 * s00.d_col + w01 * s01.d_col + w10 * s10.d_col + w11 * s11.d_col;
            }
            const double value_b = b_values[c];
            const double e = value_a - (in.gain * value_b + in.offset);
            if (residual_sample && ((r ^ c) & 3) == 0)
                residual_sample->push_back({static_cast<float>(e), static_cast<float>(value_b)});
            double w = 1.0;
            if (in.noise_floor > 0.0) {
                const double variance = in.noise_floor + in.noise_slope * std::max(value_b, 0.0);
                const double z = std::abs(e) / std::sqrt(variance);
                w = (in.threshold > 0.0 && z > in.threshold ? in.threshold / z : 1.0) / variance;
            } else if (in.threshold > 0.0 && std::abs(e) > in.threshold) {
                w = in.threshold / std::abs(e);
            }
            // d a(M (p + dp)) / d dp = grad a^T L: the gradient carried back into b's frame.
            // At the match it equals gain x grad b, so the two are averaged (the "efficient
            // second-order" step of Benhimane and Malis): half the noise of either gradient,
            // and a step that stays accurate further from the match.
            const double u_row =
                0.5 * (g_row * m[0][0] + g_col * m[1][0] + in.gain * b_row[c].d_row);
            const double u_col =
                0.5 * (g_row * m[0][1] + g_col * m[1][1] + in.gain * b_row[c].d_col);
            const double qc = (c - in.pivot_col) / in.half_size;
            double j[n];
            j[0] = u_row;
            j[1] = u_col;
            if constexpr (Model == MotionModel::affine) {
                j[2] = u_row * qr, j[3] = u_row * qc, j[4] = u_col * qr, j[5] = u_col * qc;
            } else if constexpr (Model != MotionModel::translation) {
                j[2] = u_col * qr - u_row * qc;  // rotation
                if constexpr (Model == MotionModel::similarity) j[3] = u_row * qr + u_col * qc;
            }
            j[motion] = -value_b;  // gain
            j[motion + 1] = -1.0;  // offset
            for (int s = 0; s < n; ++s) {
                const double wj = w * j[s];
                g[s] += wj * e;
                for (int t = 0; t <= s; ++t) h[s][t] += wj * j[t];
            }
            ++count;
            sa += value_a, sb += value_b;
            saa += value_a * value_a, sbb += value_b * value_b, sab += value_a * value_b;
        }
        for (int s = 0; s < n; ++s) {
            sums.g[s] += g[s];
            for (int t = 0; t <= s; ++t) sums.h[s][t] += h[s][t];
        }
        sums.count += count;
        sums.sa += sa, sums.sb += sb, sums.saa += saa, sums.sbb += sbb, sums.sab += sab;
    }
}

void accumulate(MotionModel model, const PassInput& in, Sums& sums,
                std::vector<ResidualSample>* residual_sample) {
    switch (model) {
        case MotionModel::translation: return accumulate<MotionModel::translation>(in, sums, residual_sample);
        case MotionModel::rigid: return accumulate<MotionModel::rigid>(in, sums, residual_sample);
        case MotionModel::similarity: return accumulate<MotionModel::similarity>(in, sums, residual_sample);
        case MotionModel::affine: return accumulate<MotionModel::affine>(in, sums, residual_sample);
    }
}

// Fits the residual's variance as floor + slope * brightness to the sample (least squares on
// the squared residuals within 3 robust standard deviations, so outliers do not inflate it).
// Returns false when the fit says nothing (too few samples, or no positive floor).
bool fit_noise_model(const std::vector<ResidualSample>& sample, double robust_sigma,
                     double& floor, double& slope) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    const double limit = 3.0 * robust_sigma;
    for (const ResidualSample& s : sample) {
        if (std::abs(s.residual) > limit) continue;
        const double x = std::max<double>(s.brightness, 0.0), y = double(s.residual) * s.residual;
        n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    if (n < 64) return false;
    const double mean_y = sy / n, det = n * sxx - sx * sx;
    slope = det > 0.0 ? std::max((n * sxy - sx * sy) / det, 0.0) : 0.0;
    floor = mean_y - slope * sx / n;
    // A floor near zero would give the darkest pixels nearly unlimited weight.
    floor = std::max(floor, 0.1 * mean_y);
    return floor > 0.0;
}

}  // namespace

AffineRefinement refine_affine(const ImageView<float>& a_view, const ImageView<float>& b_view,
                               const AffineRows& initial, const RefineSettings& settings) {
    if (a_view.rows < 8 || a_view.cols < 8 || b_view.rows < 8 || b_view.cols < 8)
        throw std::invalid_argument("refine_affine needs images of at least 8 x 8 pixels");
    ScratchLoan loan(static_cast<std::size_t>(std::max(a_view.rows * a_view.cols, b_view.rows * b_view.cols)));
    Scratch& scratch = *loan;
    Plane a = copy_plane(a_view, std::move(scratch.a)), b = copy_plane(b_view, std::move(scratch.b));
    gaussian_blur(a, settings.smoothing_sigma, scratch.spare);
    gaussian_blur(b, settings.smoothing_sigma, scratch.spare);
    std::vector<Sample3>& a_samples = scratch.a_samples;
    std::vector<Sample3>& b_samples = scratch.b_samples;
    with_gradients(a, a_samples);
    with_gradients(b, b_samples);
    // The planes' buffers go back to the thread's Scratch when the call ends, however it ends.
    struct GiveBack {
        Plane& a; Plane& b; Scratch& scratch;
        ~GiveBack() { scratch.a.swap(a.values), scratch.b.swap(b.values); }
    } give_back{a, b, scratch};

    const int motion = parameter_count(settings.model);
    const int n = motion + 2;  // + gain and offset of b's brightness
    // Pixels this close to either border carry the blur's mirrored edge, not the scene.
    const int margin = std::max(1, static_cast<int>(std::ceil(2.0 * settings.smoothing_sigma)));
    const double pivot_row = 0.5 * (b.rows - 1), pivot_col = 0.5 * (b.cols - 1);
    // Generator coordinates q = (p - pivot) / half_size keep the parameters comparable in size.
    const double half_size = 0.5 * std::max(b.rows, b.cols);

    AffineRefinement result;
    result.matrix = project(initial, settings.model, pivot_row, pivot_col);
    double gain = 1.0, offset = 0.0;
    double robust_sigma = 0.0;  // 0: no robust weights yet (the first pass measures them)
    double noise_floor = 0.0, noise_slope = 0.0;  // 0: no noise model yet
    std::vector<ResidualSample> residual_sample;

    auto pass = [&](Sums& sums, bool collect) {
        if (collect) residual_sample.clear();
        const PassInput input{&a, a_samples.data(), b_samples.data(), &b, result.matrix, gain, offset,
                              noise_floor > 0.0 ? settings.huber_threshold
                                                : settings.huber_threshold * robust_sigma,
                              noise_floor, noise_slope, settings.cubic, margin,
                              pivot_row, pivot_col, half_size};
        accumulate(settings.model, input, sums, collect ? &residual_sample : nullptr);
    };

    Sums sums;
    // The residuals' spread only sets the Huber threshold: without robust weights, no pass
    // collects them.
    const bool robust = settings.huber_threshold > 0.0 || settings.noise_model;
    for (int iteration = 0; iteration < settings.max_iterations; ++iteration) {
        sums = Sums{};
        pass(sums, robust);
        result.iterations = iteration + 1;
        if (sums.count < 4 * n) break;
        if (!residual_sample.empty()) {
            std::vector<float> magnitude(residual_sample.size());
            for (std::size_t k = 0; k < residual_sample.size(); ++k)
                magnitude[k] = std::abs(residual_sample[k].residual);
            auto middle = magnitude.begin() + magnitude.size() / 2;
            std::nth_element(magnitude.begin(), middle, magnitude.end());
            robust_sigma = 1.4826 * *middle;
            if (settings.noise_model && !fit_noise_model(residual_sample, robust_sigma, noise_floor, noise_slope))
                noise_floor = noise_slope = 0.0;
        }
        for (int s = 0; s < n; ++s)
            for (int t = s + 1; t < n; ++t) sums.h[s][t] = sums.h[t][s];
        double step[8];
        double minus_g[8];
        for (int s = 0; s < n; ++s) minus_g[s] = -sums.g[s];
        if (!solve_normal_equations(sums.h, minus_g, n, step)) break;

        // The update p -> p + G (p - pivot) + t, composed after the current transform.
        double g00 = 0, g01 = 0, g10 = 0, g11 = 0;
        if (settings.model == MotionModel::affine) {
            g00 = step[2], g01 = step[3], g10 = step[4], g11 = step[5];
        } else if (settings.model != MotionModel::translation) {
            g01 = -step[2], g10 = step[2];
            if (settings.model == MotionModel::similarity) g00 = g11 = step[3];
        }
        g00 /= half_size, g01 /= half_size, g10 /= half_size, g11 /= half_size;
        AffineRows update{};
        update[0] = {1.0 + g00, g01, step[0] - (g00 * pivot_row + g01 * pivot_col)};
        update[1] = {g10, 1.0 + g11, step[1] - (g10 * pivot_row + g11 * pivot_col)};
        result.matrix = project(multiply(result.matrix, update), settings.model, pivot_row, pivot_col);
        gain += step[motion];
        offset += step[motion + 1];

        // How far the update moved b's corners: the size of the step in pixels.
        double moved = 0.0;
        for (double r : {0.0, b.rows - 1.0})
            for (double c : {0.0, b.cols - 1.0}) {
                const double dr = g00 * (r - pivot_row) + g01 * (c - pivot_col) + step[0];
                const double dc = g10 * (r - pivot_row) + g11 * (c - pivot_col) + step[1];
                moved = std::max(moved, std::hypot(dr, dc));
            }
        // The overlap's statistics stay those of the last pass: an update this small changes
        // its r in the fifth decimal, and another pass would cost a whole iteration.
        if (moved < settings.tolerance) {
            result.converged = true;
            break;
        }
    }
    result.valid_pixels = sums.count;
    if (sums.count > 1) {
        const double count = static_cast<double>(sums.count);
        const double cov = sums.sab - sums.sa * sums.sb / count;
        const double var_a = sums.saa - sums.sa * sums.sa / count;
        const double var_b = sums.sbb - sums.sb * sums.sb / count;
        if (var_a > 0.0 && var_b > 0.0) result.pearson_r = std::clamp(cov / std::sqrt(var_a * var_b), -1.0, 1.0);
    }
    return result;
}

}  // namespace ofs
