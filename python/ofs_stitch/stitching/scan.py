"""The input stage's product: the tiles of one scan, with where their positions came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.tiles import Tile


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
    # What stood for each z-stack (--zstack), for the summary; None without z-stacks.
    zstack_note: str | None = None

    @property
    def stage_positions_px(self) -> np.ndarray:
        """(n, 2) float array of the stage positions, (row, col)."""
        return np.array([t.stage_position_px for t in self.tiles], dtype=float).reshape(-1, 2)
