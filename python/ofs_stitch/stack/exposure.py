"""Brightness balance: a gain and an offset per frame (and per channel, if asked) that bring each
aligned frame to the reference frame's brightness.

Fitted by least squares on 16x16 block means, only inside a central disc (``mask`` times half
the frame's shorter side: vignetting and the edges that alignment leaves empty stay out) and an
intensity window (blocks where either image is near black or near saturation are left out:
clipping is not linear). ``luminance`` fits one gain and offset on the mean of the channels
and applies it to all; ``channels`` fits each channel on its own (colour balance).

The fit is ``reference ~ gain * frame`` by default (``fit="gain"``), or ``reference ~ gain *
frame + offset`` (``fit="gain-offset"``), for cameras whose black level moves. The offset is
not the default because defocus lowers the contrast between blocks (a blurred frame's block
means gather towards their mean), which a free offset takes for a gain change: measured on
``testing.focus_stacks`` (immunohistochemistry, 10 slices, +-5 % gain) the gain-and-offset fit
was off by up to 1.9 % at the most defocused frames (0.9 % on 64 px blocks), the gain-only fit
by 0.1 %. Blur keeps the mean, and a fit through the origin is ruled by the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import _core
from ..errors import InputError
from .frames import Frame, Frames

Mode = Literal["none", "luminance", "channels"]
MODES: tuple[str, ...] = ("none", "luminance", "channels")
Fit = Literal["gain", "gain-offset"]
FITS: tuple[str, ...] = ("gain", "gain-offset")
BLOCK = 16
DEFAULT_MASK = 0.9
# Blocks darker or brighter than this (on the [0, 1] scale) in either image are left out.
WINDOW = (0.02, 0.98)
# Fewer usable blocks than this and the frame keeps gain 1, offset 0.
MIN_BLOCKS = 8


@dataclass(frozen=True)
class Balance:
    """``gains`` and ``offsets``: (frames, channels); frame k's corrected value is
    ``gains[k] * value + offsets[k]``."""

    gains: np.ndarray
    offsets: np.ndarray
    mode: str

    @classmethod
    def neutral(cls, count: int, channels: int) -> Balance:
        return cls(np.ones((count, channels)), np.zeros((count, channels)), "none")

    def apply(self, index: int, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` (rows, cols, channels) float32, corrected in place and returned."""
        gain = self.gains[index].astype(np.float32)
        offset = self.offsets[index].astype(np.float32)
        if np.all(gain == 1.0) and np.all(offset == 0.0):
            return pixels
        pixels *= gain
        pixels += offset
        return pixels


def _block_means(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(blocks_r, blocks_c, channels) means, and where every pixel of the block was valid."""
    pixels = frame.pixels
    means = np.stack(
        [
            _core.image.block_mean(np.ascontiguousarray(pixels[:, :, c]), BLOCK)
            for c in range(pixels.shape[2])
        ],
        axis=2,
    )
    if frame.valid is None:
        valid = np.ones(means.shape[:2], bool)
    else:
        valid = _core.image.block_mean(frame.valid.astype(np.float32), BLOCK) > 0.999
    return means, valid


def _disc(shape: tuple[int, int], radius_fraction: float) -> np.ndarray:
    """Blocks whose centre lies within radius_fraction x half the shorter side of the centre."""
    rows, cols = shape
    centre_r = (np.arange(rows) + 0.5) * BLOCK
    centre_c = (np.arange(cols) + 0.5) * BLOCK
    mid_r, mid_c = rows * BLOCK / 2, cols * BLOCK / 2
    radius = radius_fraction * min(rows, cols) * BLOCK / 2
    distance = np.hypot(*np.meshgrid(centre_r - mid_r, centre_c - mid_c, indexing="ij"))
    return np.asarray(distance <= radius)


def estimate_balance(
    frames: Frames,
    reference: int,
    mode: Mode = "luminance",
    mask: float = DEFAULT_MASK,
    fit: Fit = "gain",
) -> Balance:
    """Fit every frame's gain and offset to ``reference`` (see the module docstring)."""
    if mode not in MODES:
        raise InputError(f"balance {mode!r} is unknown; use one of {', '.join(MODES)}")
    if fit not in FITS:
        raise InputError(f"balance fit {fit!r} is unknown; use one of {', '.join(FITS)}")
    if not 0.0 < mask <= 1.5:
        raise InputError(f"balance mask {mask}; give the disc's radius as 0 < mask <= 1.5")
    count, channels = len(frames), frames.shape[2]
    if mode == "none":
        return Balance.neutral(count, channels)
    target, target_valid = _block_means(frames.frame(reference))
    if min(target.shape[:2]) < 2:
        return Balance.neutral(count, channels)
    disc = _disc(target.shape[:2], mask)
    gains = np.ones((count, channels))
    offsets = np.zeros((count, channels))
    for index in range(count):
        if index == reference:
            continue
        means, valid = _block_means(frames.frame(index))
        usable = disc & valid & target_valid
        if mode == "luminance":
            gain, offset = _fit(means.mean(axis=2), target.mean(axis=2), usable, fit)
            gains[index], offsets[index] = gain, offset
        else:
            for c in range(channels):
                gains[index, c], offsets[index, c] = _fit(
                    means[:, :, c], target[:, :, c], usable, fit
                )
    return Balance(gains, offsets, mode)


def _fit(
    values: np.ndarray, target: np.ndarray, usable: np.ndarray, fit: str
) -> tuple[float, float]:
    low, high = WINDOW
    keep = usable & (values > low) & (values < high) & (target > low) & (target < high)
    x, y = values[keep].astype(np.float64), target[keep].astype(np.float64)
    if x.size < MIN_BLOCKS or np.ptp(x) < 1e-6:
        return 1.0, 0.0
    if fit == "gain":
        return float(np.dot(x, y) / np.dot(x, x)), 0.0
    design = np.stack([x, np.ones_like(x)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(gain), float(offset)
