"""Rigid and similarity registration side by side with OpenCV's ECC, as one table.

    pip install opencv-python-headless   # or: pip install -e ".[compare]"
    python benchmarks/compare_transform.py

Pairs: ``testing.pairs.affine_pair``, 512x512 crops of scikit-image's retina,
immunohistochemistry and hubble images and the same scene rotated by up to +-5 degrees,
shifted by up to +-60 px (and scaled by up to +-2 % for the similarity rows), clean and with
Poisson noise at 1000 photons peak plus 1 % read noise. Error: the mean endpoint distance over
the overlap (px), averaged over the pairs, and the worst pair's.

OpenCV: ``cv2.findTransformECC`` with MOTION_EUCLIDEAN (or MOTION_AFFINE for similarity,
OpenCV having no similarity motion), started from ``cv2.phaseCorrelate`` (Hanning window), as
its documentation suggests; timed with its phase correlation. Times: median wall clock and
median CPU time (all threads of the process) per pair: on a shared machine the CPU time is the
steadier figure. Ours: ``register_pair(a, b,
model=...)``, start to finish. tests/core/test_registration_transform.py asserts our figures.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from ofs_stitch import register_pair
from ofs_stitch.core.transform import Transform
from ofs_stitch.testing.pairs import NOISY_CROP_TEXTURES, affine_pair

PAIRS = 24
NOISE = {"photons": 1000.0, "read_noise": 0.01}


def opencv_ecc(a: np.ndarray, b: np.ndarray, motion: int) -> np.ndarray:
    """b[p] ~ a[M p] by OpenCV: ECC warps the input (a) onto the template (b)."""
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    # phaseCorrelate(a, b) gives how far b's content moved from a's: -d for b[p] = a[p + d].
    # Copies: OpenCV 4.14's phaseCorrelate multiplies the window into its inputs in place,
    # which would hand ECC (and every later method) tapered images.
    (dx, dy), _ = cv2.phaseCorrelate(a.copy(), b.copy(), window)
    warp = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    try:
        _, warp = cv2.findTransformECC(b, a, warp, motion, criteria, None, 5)
    except cv2.error:  # ECC did not converge: report the start
        pass
    return Transform.from_xy(warp).matrix


def run(model: str, options: dict[str, float]) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(7)
    cases = [affine_pair(NOISY_CROP_TEXTURES[k % 3], rng, **options) for k in range(PAIRS)]
    motion = cv2.MOTION_EUCLIDEAN if model == "rigid" else cv2.MOTION_AFFINE
    register_pair(cases[0].a, cases[0].b, model=model)  # plans the FFTs
    figures = {}
    per_pair: dict[str, np.ndarray] = {}
    for name, method in (
        ("ours", lambda a, b: register_pair(a, b, model=model).matrix),
        ("opencv", lambda a, b: opencv_ecc(a, b, motion)),
    ):
        errors, seconds, cpu_seconds = [], [], []
        for case in cases:
            start, start_cpu = time.perf_counter(), time.process_time()
            matrix = method(case.a, case.b)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - start_cpu)
            errors.append(case.endpoint_error(matrix)[0])
        per_pair[name] = np.array(errors)
        figures[name] = (
            float(np.median(seconds)),
            float(np.mean(errors)),
            float(np.max(errors)),
            float(np.median(cpu_seconds)),
        )
    label = f"{model}, {'noisy' if 'photons' in options else 'clean'}"
    ours, theirs = figures["ours"], figures["opencv"]
    # ECC from a phase correlation sometimes starts too far off and ends tens of pixels away;
    # the accuracy of the two is compared on the pairs where it did not.
    converged = per_pair["opencv"] < 1.0
    return [
        (f"{label}: register_pair", f"{ours[0] * 1e3:.1f} ms/pair",
         f"CPU {ours[3] * 1e3:.1f} ms, mean error {ours[1]:.4f} px, worst pair {ours[2]:.4f} px"),
        (f"{label}: OpenCV ECC from phaseCorrelate", f"{theirs[0] * 1e3:.1f} ms/pair",
         f"CPU {theirs[3] * 1e3:.1f} ms, mean error {theirs[1]:.4f} px, worst pair {theirs[2]:.4f} px"),
        (f"{label}: OpenCV / ours", f"{theirs[0] / ours[0]:.1f}x time",
         f"{theirs[3] / ours[3]:.1f}x CPU time, {theirs[1] / ours[1]:.2f}x error, ours closer "
         f"on {(per_pair['ours'] < per_pair['opencv']).sum()} of {PAIRS} pairs"),
        (f"{label}: where ECC converged (< 1 px)", f"{converged.sum()} of {PAIRS} pairs",
         f"mean error ours {per_pair['ours'][converged].mean():.5f} px, ECC "
         f"{per_pair['opencv'][converged].mean():.5f} px: OpenCV / ours "
         f"{per_pair['opencv'][converged].mean() / per_pair['ours'][converged].mean():.2f}x error"),
    ]  # fmt: skip


def main() -> None:
    rows = []
    for model, scale in (("rigid", 0.0), ("similarity", 0.02)):
        for noise in ({}, NOISE):
            rows += run(model, {"max_scale_change": scale, **noise})
    width = max(len(name) for name, _, _ in rows)
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>14}  {note}")


if __name__ == "__main__":
    main()
