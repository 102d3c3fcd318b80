#include "ofs/spots/gaussian_fit.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <thread>
#include <vector>

namespace ofs {
namespace {

constexpr int kParameters = 5;  // amplitude, row, col, sigma, offset
using Vector = std::array<double, kParameters>;
using Matrix = std::array<std::array<double, kParameters>, kParameters>;

// Solves (A + lambda diag(A)) x = b by Gaussian elimination with partial pivoting; false when
// singular.
bool solve_damped(Matrix a, Vector b, double lambda, Vector& x) {
    for (int i = 0; i < kParameters; ++i) a[i][i] *= 1.0 + lambda;
    for (int column = 0; column < kParameters; ++column) {
        int pivot = column;
        for (int r = column + 1; r < kParameters; ++r)
            if (std::abs(a[r][column]) > std::abs(a[pivot][column])) pivot = r;
        if (std::abs(a[pivot][column]) < 1e-300) return false;
        std::swap(a[pivot], a[column]);
        std::swap(b[pivot], b[column]);
        for (int r = column + 1; r < kParameters; ++r) {
            const double factor = a[r][column] / a[column][column];
            for (int c = column; c < kParameters; ++c) a[r][c] -= factor * a[column][c];
            b[r] -= factor * b[column];
        }
    }
    for (int r = kParameters - 1; r >= 0; --r) {
        double sum = b[r];
        for (int c = r + 1; c < kParameters; ++c) sum -= a[r][c] * x[c];
        x[r] = sum / a[r][r];
    }
    return true;
}

struct Window {
    std::vector<double> values;  // row-major, side x side
    int side = 0;
    double top = 0.0;  // image coordinates of the window's pixel (0, 0)
    double left = 0.0;
};

// Sum of squared residuals; with `normal`, also J^T J and J^T r for the Gauss-Newton step.
double evaluate(const Window& window, const Vector& p, Matrix* normal, Vector* gradient) {
    const double amplitude = p[0], row = p[1], col = p[2], sigma = p[3], offset = p[4];
    const double inverse_variance = 1.0 / (sigma * sigma);
    double sum = 0.0;
    if (normal) {
        for (auto& line : *normal) line.fill(0.0);
        gradient->fill(0.0);
    }
    for (int i = 0; i < window.side; ++i) {
        const double dy = window.top + i - row;
        for (int j = 0; j < window.side; ++j) {
            const double dx = window.left + j - col;
            const double r2 = dy * dy + dx * dx;
            const double g = std::exp(-0.5 * r2 * inverse_variance);
            const double residual = window.values[i * window.side + j] - (amplitude * g + offset);
            sum += residual * residual;
            if (!normal) continue;
            // Derivatives of the model by each parameter.
            const Vector d = {g, amplitude * g * dy * inverse_variance,
                              amplitude * g * dx * inverse_variance,
                              amplitude * g * r2 * inverse_variance / sigma, 1.0};
            for (int a = 0; a < kParameters; ++a) {
                (*gradient)[a] += d[a] * residual;
                for (int b = a; b < kParameters; ++b) (*normal)[a][b] += d[a] * d[b];
            }
        }
    }
    if (normal)
        for (int a = 0; a < kParameters; ++a)
            for (int b = 0; b < a; ++b) (*normal)[a][b] = (*normal)[b][a];
    return sum;
}

}  // namespace

GaussianSpot fit_gaussian(const ImageView<float>& image, double row, double col,
                          const GaussianFitSettings& settings) {
    GaussianSpot spot;
    const int h = settings.half_width;
    const long centre_row = std::lround(row), centre_col = std::lround(col);
    if (h < 1 || centre_row - h < 0 || centre_col - h < 0 || centre_row + h >= image.rows ||
        centre_col + h >= image.cols || !(settings.sigma > 0))
        return spot;
    Window window;
    window.side = 2 * h + 1;
    window.top = static_cast<double>(centre_row - h);
    window.left = static_cast<double>(centre_col - h);
    window.values.resize(static_cast<std::size_t>(window.side) * window.side);
    double low = 1e300, high = -1e300;
    const std::ptrdiff_t step = image.col_step();
    for (int i = 0; i < window.side; ++i) {
        const float* line = image.row(centre_row - h + i) + (centre_col - h) * step;
        for (int j = 0; j < window.side; ++j) {
            const double value = line[j * step];
            window.values[i * window.side + j] = value;
            low = std::min(low, value);
            high = std::max(high, value);
        }
    }
    Vector p = {high - low, row, col, settings.sigma, low};
    Matrix normal;
    Vector gradient;
    double lambda = 1e-3;
    double cost = evaluate(window, p, &normal, &gradient);
    for (spot.iterations = 1; spot.iterations <= settings.max_iterations; ++spot.iterations) {
        Vector step_vector{};
        if (!solve_damped(normal, gradient, lambda, step_vector)) break;
        Vector trial = p;
        for (int a = 0; a < kParameters; ++a) trial[a] += step_vector[a];
        trial[3] = std::abs(trial[3]);
        const double trial_cost = trial[3] > 1e-3 ? evaluate(window, trial, nullptr, nullptr) : 1e300;
        if (trial_cost < cost) {
            p = trial;
            cost = evaluate(window, p, &normal, &gradient);
            lambda = std::max(lambda * 0.3, 1e-9);
            if (std::hypot(step_vector[1], step_vector[2]) < settings.tolerance) {
                spot.converged = true;
                break;
            }
        } else {
            lambda *= 10.0;
            if (lambda > 1e9) break;
        }
    }
    spot.amplitude = p[0];
    spot.row = p[1];
    spot.col = p[2];
    spot.sigma = p[3];
    spot.offset = p[4];
    spot.rms_residual = std::sqrt(cost / static_cast<double>(window.values.size()));
    // A centre that left its window, or a dip instead of a spot, is no fit.
    spot.converged = spot.converged && p[0] > 0 && std::abs(p[1] - row) <= h &&
                     std::abs(p[2] - col) <= h && p[3] < h;
    return spot;
}

void fit_gaussians(const ImageView<float>& image, const double* starts, std::ptrdiff_t count,
                   const GaussianFitSettings& settings, GaussianSpot* out, int threads) {
    const int workers = static_cast<int>(
        std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(threads, count / 16 + 1)));
    auto work = [&](int worker) {
        for (std::ptrdiff_t k = worker; k < count; k += workers)
            out[k] = fit_gaussian(image, starts[2 * k], starts[2 * k + 1], settings);
    };
    if (workers == 1) {
        work(0);
        return;
    }
    std::vector<std::thread> pool;
    for (int worker = 0; worker < workers; ++worker) pool.emplace_back(work, worker);
    for (auto& thread : pool) thread.join();
}

}  // namespace ofs
