"""Optional corrections before alignment: hot pixels and vignetting.

Hot pixels are a property of the sensor, so they sit at the same pixel in every frame while
the scene moves under them: a pixel much brighter than the median of its 3x3 neighbours (more
than ``HOT_SIGMAS`` robust standard deviations of that difference, and at least
``HOT_MIN_STEP``) in at least ``HOT_FRACTION`` of the frames is hot, and is replaced by the mean
of its neighbours that are not.

Vignetting is fitted as a radial falloff ``v(r) = 1 + a r^2 + b r^4`` (r = distance from the
centre over half the diagonal) to the median brightness of 16x16 blocks in rings around the
centre, averaged over the frames; each frame is divided by it. A focus stack does not move, so
scene and falloff cannot be told apart: the estimate assumes a scene whose brightness does not
itself change from the centre to the corners (true of a texture, a slide's background, a
smear). On a stained section whose stain is uneven (immunohistochemistry) it follows the
content, so the option is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .. import _core
from .frames import Frames

HOT_SIGMAS = 8.0
HOT_MIN_STEP = 0.08
HOT_FRACTION = 0.75
RINGS = 24


@dataclass(frozen=True)
class Corrections:
    """What to correct in every frame: ``hot`` (rows, cols) bool or None, ``vignetting`` the
    coefficients (a, b) or None."""

    hot: np.ndarray | None = None
    vignetting: tuple[float, float] | None = None

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` (rows, cols, channels) float32 corrected (in place) and returned."""
        if self.hot is not None and self.hot.any():
            _replace_hot(pixels, self.hot)
        if self.vignetting is not None:
            pixels /= vignetting_profile(pixels.shape[:2], self.vignetting)[:, :, np.newaxis]
        return pixels


def find_hot_pixels(frames: Frames) -> np.ndarray:
    """Pixels that stand out from their neighbours in most frames (see the module docstring)."""
    rows, cols, _ = frames.shape
    votes = np.zeros((rows, cols), np.int32)
    for index in range(len(frames)):
        pixels = frames.frame(index).pixels
        grey = pixels.max(axis=2)
        step = grey - ndimage.median_filter(grey, size=3, mode="mirror")
        spread = 1.4826 * float(np.median(np.abs(step))) + 1e-6
        votes += step > max(HOT_SIGMAS * spread, HOT_MIN_STEP)
    return np.asarray(votes >= max(1, int(np.ceil(HOT_FRACTION * len(frames)))))


def _replace_hot(pixels: np.ndarray, hot: np.ndarray) -> None:
    good = (~hot).astype(np.float32)
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0.0
    weight = ndimage.convolve(good, kernel, mode="mirror")
    rows, cols = np.nonzero(hot)
    for channel in range(pixels.shape[2]):
        plane = pixels[:, :, channel]
        total = ndimage.convolve(plane * good, kernel, mode="mirror")
        plane[rows, cols] = total[rows, cols] / np.maximum(weight[rows, cols], 1.0)


def _radius(shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    r = np.arange(rows) - (rows - 1) / 2.0
    c = np.arange(cols) - (cols - 1) / 2.0
    return np.asarray(np.hypot(*np.meshgrid(r, c, indexing="ij")) / np.hypot(rows / 2, cols / 2))


def vignetting_profile(shape: tuple[int, int], coefficients: tuple[float, float]) -> np.ndarray:
    a, b = coefficients
    r2 = _radius(shape) ** 2
    return np.asarray(np.maximum(1.0 + a * r2 + b * r2 * r2, 0.05), dtype=np.float32)


def estimate_vignetting(frames: Frames, block: int = 16) -> tuple[float, float]:
    """(a, b) of the radial falloff (see the module docstring)."""
    total: np.ndarray | None = None
    for index in range(len(frames)):
        grey = frames.frame(index).pixels.mean(axis=2, dtype=np.float32)
        means = _core.image.block_mean(np.ascontiguousarray(grey), block)
        total = means if total is None else total + means
    assert total is not None
    radius = _radius(total.shape)
    rings = np.minimum((radius / radius.max() * RINGS).astype(int), RINGS - 1)
    levels = np.array([np.median(total[rings == k]) for k in range(RINGS) if (rings == k).any()])
    centres = np.array([np.median(radius[rings == k]) for k in range(RINGS) if (rings == k).any()])
    if levels[0] <= 0:
        return (0.0, 0.0)
    relative = levels / levels[0]
    r2 = centres**2
    design = np.stack([r2, r2 * r2], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, relative - 1.0, rcond=None)
    return float(a), float(b)
