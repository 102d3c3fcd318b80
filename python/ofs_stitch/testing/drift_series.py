"""Drifting time series with exactly known drift, for ``ofs drift``'s tests and benchmarks.

A series looks at one fixed scene, a scikit-image photograph: ``"retina"`` (texture everywhere)
or ``"hubble"`` (the Hubble deep field: sparse bright spots on a dark, noisy background). Frame t
sees the scene through ``M_t``, the drift's convention (``drift.csv``): the reference pixel p (of
frame 0's view) appears at ``M_t @ p`` in frame t, so ``frame_t[M_t @ p] == reference[p]``, with
``M_t(p) = R(angle_t) (p - c) + c + d_t`` about the frame's centre c. Frame 0 is the reference
(``M_0`` the identity).

**The drift** is a trend plus a random walk: over the series the trend moves ``trend_px`` pixels in
a random direction and turns ``trend_deg`` degrees; the walk adds steps whose sum has a standard
deviation of ``walk_px`` pixels and ``walk_deg`` degrees at the last frame. The defaults move
about 12 px and 1.5 deg over the series, the issue's test case.

**The camera**: the scene (grey, in [0, 1]) sampled by scipy's cubic B-spline (prefiltered once,
so every frame interpolates one and the same continuous image), scaled so the window's brightest
pixel expects ``photons`` photo-electrons, Poisson noise, Gaussian read noise of ``read_noise``
electrons, an offset of ``offset`` counts, rounded to uint16.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.transform import Transform, TransformTable
from ..errors import InputError

# The photographs a series can be cut from, by the name the issue gives them.
CONTENTS = {"retina": "retina", "hubble": "hubble_deep_field"}
# Pixels around the window kept when sampling: the largest drift (trend plus a 4-sigma walk)
# and the rotation's reach at the window's corner fit well inside.
_MARGIN = 64


@dataclass(frozen=True)
class DriftSeries:
    """Frames and their true drift.

    ``frames``: (n, rows, cols) uint16. ``matrices``: (n, 3, 3), the true ``M_t`` (module
    docstring): reference pixel p sits at ``M_t @ p`` in frame t.
    """

    frames: np.ndarray
    matrices: np.ndarray
    content: str
    photons: float

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.frames.shape[1]), int(self.frames.shape[2]))

    def names(self, stem: str = "f", suffix: str = ".tif") -> list[str]:
        """File names without zero padding (``f1``, ``f2``, ..., ``f10``): readers must sort
        them naturally."""
        return [f"{stem}{number + 1}{suffix}" for number in range(len(self.frames))]

    def truth_table(self, kind: str = "rigid") -> TransformTable:
        transforms = [Transform(matrix, "affine") for matrix in self.matrices]
        return TransformTable(
            ids=tuple(self.names()),
            matrices=np.array([t.matrix for t in transforms]),
            quality=np.full(len(transforms), np.nan),
            status=("reference",) + ("ok",) * (len(transforms) - 1),
            kind=kind,  # type: ignore[arg-type]
        )

    def endpoint_errors(self, matrices: np.ndarray) -> np.ndarray:
        """Per frame, the mean distance (px) between where ``matrices`` and the truth put the
        reference's pixels (every 8th pixel each way: the error is affine in p, so its mean over
        them is the mean over all)."""
        estimate = np.asarray(matrices, dtype=float)
        if estimate.shape != self.matrices.shape:
            raise InputError(
                f"matrices have shape {estimate.shape}; give one 3x3 per frame: "
                f"{self.matrices.shape}"
            )
        rows, cols = self.shape
        grid = np.stack(
            np.meshgrid(np.arange(0, rows, 8.0), np.arange(0, cols, 8.0), indexing="ij"), -1
        ).reshape(-1, 2)
        homogeneous = np.column_stack([grid, np.ones(len(grid))])
        difference = (estimate - self.matrices)[:, :2, :] @ homogeneous.T  # (n, 2, points)
        return np.asarray(np.hypot(difference[:, 0], difference[:, 1]).mean(axis=1))

    def write_folder(self, folder: Path | str, stem: str = "f", suffix: str = ".tif") -> list[Path]:
        """Write one 16-bit file per frame (TIFF or PNG by ``suffix``) into ``folder``."""
        from PIL import Image

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for frame, name in zip(self.frames, self.names(stem, suffix), strict=True):
            path = folder / name
            if suffix.lower() in (".tif", ".tiff"):
                import tifffile

                tifffile.imwrite(path, frame)
            else:
                Image.fromarray(frame).save(path)
            paths.append(path)
        return paths

    def write_stack(self, path: Path | str, *, ome: bool = False) -> Path:
        """Write the series as one multi-page TIFF (OME-TIFF with axes T, Y, X when ``ome``)."""
        import tifffile

        path = Path(path)
        if ome:
            tifffile.imwrite(path, self.frames, ome=True, metadata={"axes": "TYX"})
        else:
            tifffile.imwrite(path, self.frames)
        return path


def drift_matrices(
    n_frames: int,
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    trend_px: float = 10.0,
    trend_deg: float = 1.2,
    walk_px: float = 3.0,
    walk_deg: float = 0.3,
) -> np.ndarray:
    """(n, 3, 3) drift matrices of a trend plus a random walk (module docstring); frame 0 is the
    identity."""
    if n_frames < 1:
        raise InputError(f"n_frames={n_frames} must be >= 1")
    time = np.arange(n_frames) / max(n_frames - 1, 1)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    turn = trend_deg * rng.choice([-1.0, 1.0])
    step_px = walk_px / np.sqrt(max(n_frames - 1, 1))
    step_deg = walk_deg / np.sqrt(max(n_frames - 1, 1))
    walk = np.zeros((n_frames, 3))
    walk[1:] = np.cumsum(rng.normal(size=(n_frames - 1, 3)) * [step_px, step_px, step_deg], 0)
    centre = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    matrices = np.empty((n_frames, 3, 3))
    for t in range(n_frames):
        shift = trend_px * time[t] * direction + walk[t, :2]
        angle = turn * time[t] + walk[t, 2]
        matrices[t] = Transform.rigid(angle, shift, centre).matrix
    return matrices


def drifting_series(
    n_frames: int = 50,
    shape: tuple[int, int] = (512, 512),
    *,
    content: str = "retina",
    photons: float = 1000.0,
    read_noise: float = 2.0,
    offset: float = 100.0,
    seed: int = 0,
    trend_px: float = 10.0,
    trend_deg: float = 1.2,
    walk_px: float = 3.0,
    walk_deg: float = 0.3,
) -> DriftSeries:
    """A series of ``n_frames`` uint16 frames of ``shape`` cut from the centre of ``content``
    ("retina" or "hubble") with a known drift (module docstring)."""
    from scipy import ndimage

    if content not in CONTENTS:
        raise InputError(f"content={content!r}; use one of {', '.join(CONTENTS)}")
    if photons <= 0 or photons + offset + 6 * read_noise > 65535:
        raise InputError(
            f"photons={photons} with offset={offset} overflows 16 bits; give photons > 0 with "
            "photons + offset + 6 read_noise <= 65535"
        )
    rng = np.random.default_rng(seed)
    matrices = drift_matrices(
        n_frames,
        shape,
        rng,
        trend_px=trend_px,
        trend_deg=trend_deg,
        walk_px=walk_px,
        walk_deg=walk_deg,
    )
    source = _source(CONTENTS[content])
    rows, cols = shape
    if rows + 2 * _MARGIN > source.shape[0] or cols + 2 * _MARGIN > source.shape[1]:
        raise InputError(
            f"shape={shape} is too large for {content!r} ({source.shape}); give at most "
            f"{source.shape[0] - 2 * _MARGIN} x {source.shape[1] - 2 * _MARGIN}"
        )
    top = (source.shape[0] - rows) // 2 - _MARGIN
    left = (source.shape[1] - cols) // 2 - _MARGIN
    region = source[top : top + rows + 2 * _MARGIN, left : left + cols + 2 * _MARGIN]
    coefficients = ndimage.spline_filter(region, order=3, mode="mirror")
    window = region[_MARGIN:-_MARGIN, _MARGIN:-_MARGIN]
    gain = photons / float(window.max())

    frames = np.empty((n_frames, rows, cols), np.uint16)
    for t in range(n_frames):
        # frame_t[q] = reference[M_t^-1 q] = region[margin + M_t^-1 q].
        inverse = np.linalg.inv(matrices[t])
        clean = ndimage.affine_transform(
            coefficients,
            inverse[:2, :2],
            offset=inverse[:2, 2] + _MARGIN,
            output_shape=shape,
            order=3,
            mode="mirror",
            prefilter=False,
        )
        electrons = rng.poisson(np.clip(clean, 0.0, None) * gain).astype(np.float64)
        electrons += rng.normal(0.0, read_noise, shape) + offset
        frames[t] = np.clip(np.rint(electrons), 0, 65535).astype(np.uint16)
    return DriftSeries(frames=frames, matrices=matrices, content=content, photons=photons)


@functools.lru_cache(maxsize=2)
def _source(name: str) -> np.ndarray:
    """A scikit-image photograph as float64 grey in [0, 1] (read-only, cached)."""
    from .pairs import texture

    return texture(name)


def main(argv: list[str] | None = None) -> int:
    """``python -m ofs_stitch.testing.drift_series FOLDER [--frames N] [--side PX]``: write a
    drifting series (FOLDER/series/f1.tif ...) and its true drift (FOLDER/truth.csv, in
    drift.csv's form) for trying ``ofs drift``."""
    import argparse

    from ..drift.table import DriftTable, write_drift_csv

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--content", default="retina", choices=sorted(CONTENTS))
    parser.add_argument("--photons", type=float, default=1000.0)
    args = parser.parse_args(argv)
    series = drifting_series(
        args.frames, (args.side, args.side), content=args.content, photons=args.photons
    )
    series.write_folder(args.folder / "series")
    table = DriftTable(series.truth_table(), series.shape, "rigid")
    write_drift_csv(args.folder / "truth.csv", table)
    print(f"wrote {args.frames} frames to {args.folder / 'series'} and their drift to truth.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
