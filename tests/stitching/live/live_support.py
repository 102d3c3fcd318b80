"""A small generated scan shared by the live-stitching tests, and the batch run to compare with."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import ofs_stitch


def copy_tiles(paths: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(path, folder / path.name)) for path in paths]


def batch_positions(
    tiles: list[Path], scratch: Path, name: str = "scan"
) -> tuple[dict[str, np.ndarray], list[str]]:
    """``ofs-stitch`` on a fresh folder ``name`` holding only these tiles (no cache): the
    positions it reports by tile name, and the files it writes. Name it as the live folder:
    the output names derive from it."""
    folder = scratch / name
    copy_tiles(tiles, folder)
    output = scratch / "batch_out"
    result = ofs_stitch.stitch(folder, output_dir=str(output))
    assert result.positions is not None
    positions = dict(zip(result.names, result.positions, strict=True))
    return positions, sorted(p.name for p in output.iterdir())


def largest_difference(a: dict[str, np.ndarray], b: dict[str, object]) -> float:
    assert set(a) == set(b)
    return max(float(np.abs(np.asarray(a[n]) - np.asarray(b[n])).max()) for n in a)
