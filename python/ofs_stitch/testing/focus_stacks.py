"""Synthetic focus stacks with an exactly known all-in-focus image, for ``ofs stack``.

Truth: the sharp photograph (scikit-image's ``immunohistochemistry`` 512x512 RGB, or the central
1024x1024 of ``retina``) and a smooth depth surface ``depth(row, col)`` in slice units. Slice k
shows every pixel blurred by a Gaussian whose sigma is ``|k - depth|`` px (1 px per slice of
distance), so the slice nearest the surface is nearly sharp there and the others are not: the
best a fusion can do is to pick, pixel by pixel, the slice nearest the surface (the "oracle").

The per-pixel blur is made from a bank of uniformly blurred copies (sigma in steps of 0.25 px up
to 2 px, then 0.5 px), each built from the last by an incremental blur, and each pixel takes the
linear blend of the two copies whose sigmas bracket its own. Then, in the order a camera works:
an optional shift of the slice (band-limited: a Fourier shift of a mirror-padded copy; the
middle slice is the reference and never moves), a gain per slice, Gaussian noise, clipping to
[0, 1]. Frames are float32 in [0, 1]; ``to_uint8``/``to_uint16`` quantise them for files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

# The two scikit-image photographs and the square taken from each (retina: its centre, so the
# dark rim of the fundus photograph is mostly outside).
SOURCES = {"immunohistochemistry": 512, "retina": 1024}
DEFAULT_SLICES = {"immunohistochemistry": 10, "retina": 15}
# The blur bank: fine steps where a small change of sigma changes the image most.
_FINE_STEP = 0.25
_FINE_UNTIL = 2.0
_COARSE_STEP = 0.5


@dataclass(frozen=True)
class FocusStack:
    """A synthetic stack and its truth.

    ``frames``: (n, rows, cols, 3) float32 in [0, 1]. ``truth``: (rows, cols, 3) float32, the sharp
    image in the reference (middle) frame's coordinates. ``depth``: (rows, cols) float32, the
    surface in slice units. ``shifts``: (n, 2) (d_row, d_col) with ``frames[k][p] ~
    reference[p + shifts[k]]`` (the registration convention; 0 for the reference). ``gains``: (n,)
    the factor each frame's intensity was multiplied by.
    """

    frames: np.ndarray
    truth: np.ndarray
    depth: np.ndarray
    shifts: np.ndarray
    gains: np.ndarray
    noise: float

    @property
    def reference(self) -> int:
        return len(self.frames) // 2

    def oracle(self) -> np.ndarray:
        """Each pixel from the slice nearest the depth surface (valid without shifts or gains)."""
        nearest = np.clip(np.rint(self.depth), 0, len(self.frames) - 1).astype(np.intp)
        rows, cols = np.indices(nearest.shape)
        return self.frames[nearest, rows, cols]


@functools.cache
def _source(name: str) -> np.ndarray:
    import skimage.data

    if name not in SOURCES:
        raise InputError(f"unknown focus-stack source {name!r}; choose one of {', '.join(SOURCES)}")
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)[:, :, :3] / 255.0
    size = SOURCES[name]
    top = (image.shape[0] - size) // 2
    left = (image.shape[1] - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def depth_surface(shape: tuple[int, int], slices: int, seed: int) -> np.ndarray:
    """A smooth random surface spanning slices 0.3 .. slices - 1.3 (a few long waves)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(
        np.linspace(0, 1, shape[0], dtype=np.float64),
        np.linspace(0, 1, shape[1], dtype=np.float64),
        indexing="ij",
    )
    surface = np.zeros(shape)
    for _ in range(4):
        frequency = rng.uniform(0.4, 1.5, 2)
        phase = rng.uniform(0, 2 * np.pi)
        surface += np.cos(2 * np.pi * (frequency[0] * rows + frequency[1] * cols) + phase)
    surface -= surface.min()
    surface /= surface.max()
    return (0.3 + surface * (slices - 1.6)).astype(np.float32)


def _sigma_levels(max_sigma: float) -> np.ndarray:
    fine = np.arange(0.0, _FINE_UNTIL, _FINE_STEP)
    coarse = np.arange(_FINE_UNTIL, max_sigma + _COARSE_STEP + 1e-9, _COARSE_STEP)
    return np.concatenate([fine, coarse])


def _blurred_slices(truth: np.ndarray, depth: np.ndarray, slices: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    levels = _sigma_levels(float(slices))
    distance = np.abs(np.arange(slices, dtype=np.float32)[:, None, None] - depth[None])
    frames = np.zeros((slices, *truth.shape), dtype=np.float32)
    blurred = truth.copy()
    for index, sigma in enumerate(levels):
        if index:
            step = float(np.sqrt(sigma**2 - levels[index - 1] ** 2))
            blurred = gaussian_filter(blurred, (step, step, 0), mode="reflect", truncate=4.0)
        below = levels[index - 1] if index else sigma
        above = levels[index + 1] if index + 1 < len(levels) else sigma
        # Hat weights: 1 at this level, falling linearly to 0 at the next levels either side.
        weight = np.where(
            distance <= sigma,
            1.0 - (sigma - distance) / max(sigma - below, 1e-9),
            1.0 - (distance - sigma) / max(above - sigma, 1e-9),
        )
        weight = np.clip(weight, 0.0, 1.0).astype(np.float32)
        if index == 0:
            weight[distance <= 0] = 1.0
        for k in range(slices):
            if weight[k].any():
                frames[k] += weight[k][:, :, None] * blurred
    return frames


def focus_stack(
    name: str = "immunohistochemistry",
    *,
    slices: int | None = None,
    noise: float = 0.0,
    max_shift: float = 0.0,
    max_gain: float = 0.0,
    seed: int = 0,
    size: int | None = None,
) -> FocusStack:
    """A synthetic focus stack of ``name`` (see the module docstring).

    ``noise``: Gaussian noise sigma on the [0, 1] scale. ``max_shift``: each non-reference frame
    is moved by a random (d_row, d_col) with components in [-max_shift, max_shift] px.
    ``max_gain``: each non-reference frame's intensity is scaled by 1 + u, |u| <= max_gain.
    ``size``: take only the central size x size pixels (small stacks for tests).
    """
    count = DEFAULT_SLICES.get(name, 10) if slices is None else int(slices)
    if count < 2:
        raise InputError(f"slices={count}; a focus stack needs at least 2 slices")
    if noise < 0 or max_shift < 0 or not 0 <= max_gain < 1:
        raise InputError("noise and max_shift must be >= 0 and max_gain in [0, 1)")
    truth = _source(name)
    if size is not None:
        top = (truth.shape[0] - size) // 2
        truth = np.ascontiguousarray(truth[top : top + size, top : top + size])
    rng = np.random.default_rng(seed)
    depth = depth_surface(truth.shape[:2], count, seed)
    frames = _blurred_slices(truth, depth, count)
    reference = count // 2
    shifts = rng.uniform(-max_shift, max_shift, (count, 2)) if max_shift else np.zeros((count, 2))
    gains = 1.0 + rng.uniform(-max_gain, max_gain, count) if max_gain else np.ones(count)
    shifts[reference] = 0.0
    gains[reference] = 1.0
    for k in range(count):
        if shifts[k].any():
            frames[k] = _shifted(frames[k], shifts[k])
        frames[k] *= np.float32(gains[k])
        if noise:
            frames[k] += rng.normal(0.0, noise, frames[k].shape).astype(np.float32)
    np.clip(frames, 0.0, 1.0, out=frames)
    return FocusStack(frames, truth, depth, shifts, gains, float(noise))


def _shifted(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[p] = image[p + shift]``, band-limited (a Fourier shift, as a camera moved by a
    fraction of a pixel would see it), on a mirror-padded copy so that the periodic extension
    has no jumps to ring from."""
    from scipy.ndimage import fourier_shift

    pad = 16
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    out = np.empty_like(image)
    for channel in range(image.shape[2]):
        spectrum = np.fft.rfft2(padded[:, :, channel])
        moved = fourier_shift(spectrum, (-float(shift[0]), -float(shift[1])), n=padded.shape[1])
        plane = np.fft.irfft2(moved, s=padded.shape[:2])
        out[:, :, channel] = plane[pad:-pad, pad:-pad]
    return out


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def to_uint16(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 65535.0), 0, 65535).astype(np.uint16)


def psnr(image: np.ndarray, truth: np.ndarray, border: int = 0, peak: float = 1.0) -> float:
    """PSNR in dB of ``image`` against ``truth`` (same scale), ``border`` px left out each side."""
    a, b = _inner(image, border), _inner(truth, border)
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if error == 0 else 10.0 * np.log10(peak * peak / error)


def ssim(image: np.ndarray, truth: np.ndarray, border: int = 0) -> float:
    """Mean SSIM (scikit-image's, 7x7 window, channels averaged) on the [0, 1] scale."""
    from skimage.metrics import structural_similarity

    a = _inner(image, border).astype(np.float64)
    b = _inner(truth, border).astype(np.float64)
    return float(
        structural_similarity(a, b, data_range=1.0, channel_axis=2 if a.ndim == 3 else None)
    )


def _inner(image: np.ndarray, border: int) -> np.ndarray:
    return image[border : image.shape[0] - border, border : image.shape[1] - border]


def write_stack(
    folder: Path | str,
    stack: FocusStack,
    *,
    suffix: str = ".png",
    dtype: type = np.uint8,
    prefix: str = "slice",
) -> list[Path]:
    """Write the frames as ``<prefix>_000<suffix>`` ... (uint8 or uint16) into ``folder``."""
    from .files import write_tile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = to_uint16(stack.frames) if dtype == np.uint16 else to_uint8(stack.frames)
    return [write_tile(folder / f"{prefix}_{k:03d}{suffix}", pixels[k]) for k in range(len(pixels))]


@dataclass(frozen=True)
class ZStackScan:
    """A scan with a z-stack at every stage position (`zstack_scan`).

    ``scan``: the scan of sharp tiles it was made from (its truth: ``true_positions``, in the
    order of ``scan.file_names``); ``stacks``: per position, the files of its stack in z order,
    whose middle one stands for the position (its stage place, and the stem of its fused tile).
    """

    scan: Any
    stacks: tuple[tuple[str, ...], ...]

    @property
    def middle_names(self) -> list[str]:
        return [stack[len(stack) // 2] for stack in self.stacks]


def zstack_scan(
    folder: Path | str,
    *,
    rows: int = 2,
    cols: int = 2,
    tile_shape: tuple[int, int] = (160, 200),
    slices: int = 3,
    z_step: int = 100,
    noise: float = 0.002,
    seed: int = 0,
) -> ZStackScan:
    """A ``rows`` x ``cols`` OpenFlexure scan (``testing.scans.make_scan``: JPEG, v3 metadata)
    in which every position is a z-stack of ``slices`` images ``z_step`` motor steps apart.

    Each sharp tile becomes a stack as in `focus_stack`: slice k blurred per pixel by
    ``|k - depth|`` px over a depth surface of its own, plus Gaussian noise. The sharp tiles are
    replaced by their stacks (``<tile stem>_z<k>.jpg``, captured one after another at the
    tile's stage x, y), so the scan's truth holds for whatever stands for each position.
    """
    from ..io import exif as _exif
    from ..io.decode import read_pixels
    from .files import openflexure_user_comment, write_tile
    from .scans import make_scan

    folder = Path(folder)
    scan = make_scan(
        folder,
        rows=rows,
        cols=cols,
        tile_shape=tile_shape,
        seed=seed,
        jpeg_quality=95,
        write_ground_truth=False,
    )
    rng = np.random.default_rng(seed)
    stacks = []
    middle = slices // 2
    for index, name in enumerate(scan.file_names):
        path = folder / name
        truth = read_pixels(path).astype(np.float32) / 255.0
        frames = _blurred_slices(
            truth, depth_surface(truth.shape[:2], slices, seed + index), slices
        )
        if noise:
            frames += rng.normal(0.0, noise, frames.shape).astype(np.float32)
        path.unlink()
        x, y, z = (int(v) for v in scan.stage_xyz[index])
        members = []
        for k, frame in enumerate(to_uint8(np.clip(frames, 0.0, 1.0))):
            xyz = (x, y, z + z_step * (k - middle))
            comment = openflexure_user_comment("v3", xyz, scan.csm_matrix, tile_shape)
            seconds = index * slices + k
            block = _exif.exif_block(
                comment, f"2024:05:17 10:{seconds // 60:02d}:{seconds % 60:02d}"
            )
            member = f"{path.stem}_z{k}.jpg"
            write_tile(folder / member, frame, exif=block, jpeg_quality=95)
            members.append(member)
        stacks.append(tuple(members))
    return ZStackScan(scan, tuple(stacks))


def main(argv: list[str] | None = None) -> int:
    """``python -m ofs_stitch.testing.focus_stacks FOLDER``: write a synthetic stack as PNGs
    (and its truth as ``truth.png`` beside the folder)."""
    import argparse

    from .files import write_tile

    parser = argparse.ArgumentParser(prog="python -m ofs_stitch.testing.focus_stacks")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--source", choices=tuple(SOURCES), default="immunohistochemistry")
    parser.add_argument("--slices", type=int)
    parser.add_argument("--size", type=int, help="central size x size pixels only")
    parser.add_argument("--noise", type=float, default=0.002)
    parser.add_argument("--shift", type=float, default=0.0, help="largest shift, px")
    parser.add_argument("--gain", type=float, default=0.0, help="largest gain change, e.g. 0.05")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    stack = focus_stack(
        options.source,
        slices=options.slices,
        noise=options.noise,
        max_shift=options.shift,
        max_gain=options.gain,
        seed=options.seed,
        size=options.size,
    )
    paths = write_stack(options.folder, stack)
    truth = options.folder.parent / f"{options.folder.name}_truth.png"
    write_tile(truth, to_uint8(stack.truth))
    print(f"{len(paths)} slices in {options.folder}, truth in {truth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
