"""The typed data that the input stage hands to every later stage.

Coordinates are (row, col) in pixels, as numpy indexes images; (x, y) appears only at the edges
where a file format says so (Fiji files, stage coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One input image: where it is on disk, its size, and where the stage says it is.

    Pixels are not held here: stages that need them decode the file (once) themselves.
    """

    path: Path
    height: int
    width: int
    # Top-left corner of the tile in the mosaic frame, (row, col) pixels, as the stage/positions
    # source reports it (before any image registration).
    stage_position_px: tuple[float, float]
    # Raw stage coordinates (x, y[, z]) in stage units (motor steps), when the metadata had them.
    stage_xyz: tuple[float, ...] | None = None
    # The parsed OpenFlexure UserComment JSON, or {} when the image has none.
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    bands: int = 1  # colour bands as decoded (3 for RGB)
    pixel_format: str = "uchar"  # libvips band format: "uchar" (8-bit), "ushort" (16-bit), ...

    @property
    def decoded_bytes(self) -> int:
        """Memory one decoded copy of this tile takes."""
        sample = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "double": 8, "dpcomplex": 16}
        return self.height * self.width * self.bands * sample.get(self.pixel_format, 4)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)


@dataclass
class Scan:
    """A set of tiles ready to be registered: the output of the input stage."""

    folder: Path
    tiles: list[Tile]
    # Where the starting positions came from: "openflexure-metadata", "positions-file", "grid"
    # or "file-name".
    position_source: str
    # The camera-to-stage matrix actually used (already rescaled to the image width), when the
    # positions came from stage coordinates: stage_xy = [d_row, d_col] @ csm_matrix.
    csm_matrix: np.ndarray | None = None
    # Physical pixel size in micrometres, when the metadata or the user says so.
    pixel_size_um: float | None = None
    # Files in the folder that were not used, with the reason (for the user).
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def stage_positions_px(self) -> np.ndarray:
        """(n, 2) float array of the stage positions, (row, col)."""
        return np.array([t.stage_position_px for t in self.tiles], dtype=float).reshape(-1, 2)
