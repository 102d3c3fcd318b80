"""Tile scans for the chunked fusion: a raster of tiles on disk whose true positions and
noise-free scene are known.

Truth: the scene itself (real image content from `testing.scene`, band-limited, so any
sub-pixel view of it is exact), at any canvas region (`FusionScan.truth`), and each tile's
true top-left corner. Tiles are the scene photographed at their position with independent
Gaussian noise, quantised to 16 (or 8) bits, written as uncompressed TIFF (or PNG, JPEG), and
listed in a Fiji ``TileConfiguration.txt`` and a ``positions.csv`` (``file,x,y``) so the
``ofs fuse`` command can read them. Large scans (the benchmarks' 16 x 16 tiles of 1024^2) are
made tile by tile: no whole canvas is ever held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.positions_file import write_tile_configuration
from .camera import canvas_covering, photograph, quantise
from .files import write_tile
from .scene import TextureCanvas

# The scan's truth beside its tiles, so a benchmark can reuse a scan made by an earlier run.
TRUTH_FILE = "fusion_truth.json"


@dataclass(frozen=True)
class FusionScan:
    """A scan on disk and its truth."""

    folder: Path
    paths: tuple[Path, ...]
    positions: np.ndarray  # (n, 2) true top-left corners (row, col), the smallest at 0
    tile_shape: tuple[int, int]
    grid: tuple[int, int]
    dtype: np.dtype
    canvas: TextureCanvas
    canvas_origin: np.ndarray  # the positions' frame point of the canvas's pixel (0, 0)

    @property
    def full_scale(self) -> int:
        return int(np.iinfo(self.dtype).max)

    @property
    def mosaic_shape(self) -> tuple[int, int]:
        """(rows, cols) from the first tile's corner to the farthest tile edge, rounded up:
        the mosaic's size when the tiles lie on whole pixels."""
        rows, cols = np.ceil(np.max(self.positions, axis=0) + self.tile_shape).astype(int)
        return int(rows), int(cols)

    def truth(self, y0: float, x0: float, rows: int, cols: int) -> np.ndarray:
        """The noise-free scene over (rows, cols) pixels from frame point (y0, x0), float32
        in sample units (not rounded)."""
        image = photograph(
            self.canvas,
            np.array([y0, x0], float) - self.canvas_origin,
            (rows, cols),
            rgb=False,
            rng=np.random.default_rng(0),
        )
        return np.asarray(image * np.float32(self.full_scale), np.float32)


def make_fusion_scan(
    folder: Path | str,
    grid: tuple[int, int] = (8, 8),
    tile_shape: tuple[int, int] = (1024, 1024),
    *,
    overlap: float = 0.1,
    jitter: float = 4.0,
    subpixel: bool = False,
    noise_sigma: float = 0.01,
    dtype: type = np.uint16,
    suffix: str = ".tif",
    seed: int = 0,
) -> FusionScan:
    """A ``grid`` (rows, cols) raster of tiles overlapping by ``overlap`` of their size, each
    moved by up to +-``jitter`` px per axis (whole pixels, or any fraction with ``subpixel``),
    photographed with Gaussian noise of ``noise_sigma`` (fraction of full scale)."""
    rows, cols = grid
    h, w = tile_shape
    if rows < 1 or cols < 1 or not 0 <= overlap < 1 or jitter < 0:
        raise InputError("give a positive grid, 0 <= overlap < 1 and jitter >= 0")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    step = np.array([h * (1 - overlap), w * (1 - overlap)])
    nominal = np.array([[r * step[0], c * step[1]] for r in range(rows) for c in range(cols)])
    moves = rng.uniform(-jitter, jitter, nominal.shape)
    positions = nominal + (moves if subpixel else np.rint(moves))
    positions = np.round(positions - positions.min(0), 6)
    if not subpixel:
        positions = np.rint(positions)
    canvas, low = canvas_covering(positions, (h, w), seed)
    paths = []
    for k, position in enumerate(positions):
        noise = np.random.default_rng(np.random.SeedSequence([seed, 0xF05E, k]))
        image = photograph(
            canvas, position - low, (h, w), rgb=False, rng=noise, noise_sigma=noise_sigma
        )
        paths.append(write_tile(folder / f"tile_{k:04d}{suffix}", quantise(image, dtype)))
    names = [p.name for p in paths]
    write_tile_configuration(folder / "TileConfiguration.txt", names, positions)
    entries = zip(names, positions.tolist(), strict=True)
    lines = ["file,x,y"] + [f"{name},{col!r},{row!r}" for name, (row, col) in entries]
    (folder / "positions.csv").write_text("\n".join(lines) + "\n")
    truth = {
        "grid": [rows, cols],
        "tile_shape": [h, w],
        "positions": positions.tolist(),
        "dtype": np.dtype(dtype).name,
        "seed": seed,
        "names": names,
    }
    (folder / TRUTH_FILE).write_text(json.dumps(truth))
    return FusionScan(
        folder, tuple(paths), positions, (h, w), (rows, cols), np.dtype(dtype), canvas, low
    )


def load_fusion_scan(folder: Path | str) -> FusionScan:
    """The scan `make_fusion_scan` wrote into ``folder``, with its truth."""
    folder = Path(folder)
    truth = json.loads((folder / TRUTH_FILE).read_text())
    positions = np.array(truth["positions"], float).reshape(-1, 2)
    shape = (int(truth["tile_shape"][0]), int(truth["tile_shape"][1]))
    canvas, low = canvas_covering(positions, shape, int(truth["seed"]))
    return FusionScan(
        folder,
        tuple(folder / name for name in truth["names"]),
        positions,
        shape,
        (int(truth["grid"][0]), int(truth["grid"][1])),
        np.dtype(truth["dtype"]),
        canvas,
        low,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m ofs_stitch.testing.fusion_scans FOLDER``: write a scan for ``ofs fuse``."""
    import argparse

    parser = argparse.ArgumentParser(description="Write a tile scan with known positions.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--grid", default="4x4", help="ROWSxCOLS (default 4x4)")
    parser.add_argument("--tile", type=int, default=256, help="tile side, px (default 256)")
    parser.add_argument("--subpixel", action="store_true", help="sub-pixel positions")
    args = parser.parse_args(argv)
    rows, cols = (int(v) for v in args.grid.lower().split("x"))
    made = make_fusion_scan(
        args.folder, (rows, cols), (args.tile, args.tile), subpixel=args.subpixel
    )
    print(
        f"wrote {len(made.paths)} tiles, TileConfiguration.txt and positions.csv in {made.folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
