"""What bench_align.py and compare_align.py share: affine-distorted grids (testing.affine_grids),
our match / place pipeline on them, and spectralign's where it can run.

spectralign 0.4 (Matcher, Placement) needs Python 3.12: it runs in-process when importable,
otherwise in the interpreter named by ``OFS_SPECTRALIGN_PYTHON`` (spectralign_worker.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ofs_stitch import Matcher, Placement
from ofs_stitch.testing.affine_grids import AffineGrid, affine_grid, aligned_errors

FULL = os.environ.get("OFS_BENCH_FULL") == "1"
TILE_SIZE = (640, 480)
WINDOW = 64
PER_SIDE = 4
ROBUST_SCALE = 0.1
# A rigid placement of distorted tiles leaves pixels of residual on good matches: its robust
# scale must be that wide.
RIGID_ROBUST_SCALE = 3.0
WORKER = Path(__file__).resolve().parent / "spectralign_worker.py"


@dataclass(frozen=True)
class Result:
    """One tool's placement of one grid."""

    affine: dict
    rigid: dict
    cpu_s: float


def grids(seeds: tuple[int, ...], blank: tuple = ()) -> list[AffineGrid]:
    return [affine_grid(2, 3, tile_size=TILE_SIZE, seed=s, blank=blank) for s in seeds]


def ours(grid: AffineGrid, *, robust: bool = True) -> Result:
    """Matches over every overlap weighted by their precision, then both placements."""
    start = time.process_time()
    placement = Placement()
    for a, b in grid.neighbours():
        offset = np.subtract(grid.nominal_origins[b], grid.nominal_origins[a])
        matches = Matcher(grid.tiles[a], grid.tiles[b]).match_overlap(
            offset, size=WINDOW, per_side=PER_SIDE
        )
        placement.add_match(a, b, matches.p_a, matches.p_b, weight=matches.precision)
    loss = "cauchy" if robust else None
    affine = placement.affine(robust=loss, robust_scale=ROBUST_SCALE)
    rigid = placement.rigid(robust=loss, robust_scale=RIGID_ROBUST_SCALE)
    return Result(affine, rigid, time.process_time() - start)


def worst(grid: AffineGrid, maps: dict, skip: tuple = ()) -> float:
    """The worst tile's error (px) after one common affine, tiles in ``skip`` left out."""
    truth = {k: v for k, v in grid.maps.items() if k not in skip}
    return max(aligned_errors(maps, truth, grid.tile_size).values())


def spectralign_available() -> str | None:
    """How spectralign can run here: "in-process", a peer interpreter's path, or None."""
    try:
        import spectralign  # type: ignore[import-not-found]

        if hasattr(spectralign, "Placement"):
            return "in-process"
    except (ImportError, SyntaxError):  # spectralign 0.2, the last for Python < 3.12, is broken
        pass
    peer = os.environ.get("OFS_SPECTRALIGN_PYTHON")
    return peer if peer and Path(peer).exists() else None


def spectralign_results(grid_list: list[AffineGrid]) -> list[Result] | None:
    """spectralign's Matcher / Placement on the same grids with the same workflow."""
    where = spectralign_available()
    if where is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "grids.npz"
        arrays: dict[str, np.ndarray] = {
            "count": np.array(len(grid_list)),
            "size": np.array(WINDOW),
            "per_side": np.array(PER_SIDE),
        }
        for g, grid in enumerate(grid_list):
            arrays[f"keys_{g}"] = np.array(grid.keys)
            arrays[f"nominal_{g}"] = np.array([grid.nominal_origins[k] for k in grid.keys])
            arrays[f"pairs_{g}"] = np.array(grid.neighbours())
            for k, tile in grid.tiles.items():
                arrays[f"tile_{g}_{k[0]}_{k[1]}"] = tile
        np.savez(path, **arrays)
        python = sys.executable if where == "in-process" else where
        done = subprocess.run(
            [python, str(WORKER), str(path)], capture_output=True, text=True, check=True
        )
    results = []
    for line in done.stdout.splitlines():
        record = json.loads(line)
        results.append(
            Result(
                affine={_key(k): np.array(v) for k, v in record["affine"].items()},
                rigid={_key(k): tuple(v) for k, v in record["rigid"].items()},
                cpu_s=float(record["cpu_s"]),
            )
        )
    return results


def _key(text: str) -> tuple[int, int]:
    r, c = text.split(",")
    return int(r), int(c)
