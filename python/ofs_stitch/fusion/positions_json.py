"""Tile positions from an ``ofs-stitch`` ``positions.json``: tile names, their registered
top-left corners and the pixel size, for fusing a stitched scan again without registering it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, InputError


@dataclass(frozen=True)
class StitchedPositions:
    names: tuple[str, ...]
    positions: np.ndarray  # (n, 2) top-left corners (row, col), pixels
    pixel_size_um: float | None


def read_positions_json(path: Path | str) -> StitchedPositions:
    """The tiles of an ofs-stitch ``positions.json``. Raises ImageReadError when the file
    cannot be read, InputError when it is not such a file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ImageReadError(
            f"cannot read positions file {path}: {error.strerror or error}; check --positions"
        ) from None
    except ValueError as error:
        raise InputError(
            f"{path} is not JSON ({error}); give a positions.json, TileConfiguration.txt or CSV"
        ) from None
    tiles = document.get("tiles") if isinstance(document, dict) else None
    if not isinstance(tiles, list) or not tiles:
        raise InputError(f"{path} lists no tiles: give the positions.json ofs-stitch wrote")
    names, positions = [], []
    for k, tile in enumerate(tiles):
        try:
            names.append(str(tile["name"]))
            corner = tile["position_px"]
            positions.append((float(corner["row"]), float(corner["col"])))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"{path}: tile {k} has no name or position_px; give the positions.json "
                "ofs-stitch wrote"
            ) from None
    size = document.get("pixel_size_um")
    return StitchedPositions(
        tuple(names),
        np.array(positions, float).reshape(-1, 2),
        float(size) if isinstance(size, int | float) and size > 0 else None,
    )
