"""An input image as every stage sees it: its file, size, pixel format and starting position.

Coordinates are (row, col) in pixels, as numpy indexes images; (x, y) appears only at the edges
where a file format says so (Fiji files, stage coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .header import ImageHeader


@dataclass(frozen=True)
class Tile:
    """One input image: where it is on disk, its size, and where the stage says it is.

    Pixels are not held here: stages that need them decode the file (once) themselves, from
    what this record says about it (nobody reads the header a second time).
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
    # From the header too (see `ImageHeader`): the colour interpretation of the bands, and the
    # libvips loader ("" when unknown: the renderer then does without shrink-on-load).
    interpretation: str = "b-w"
    loader: str = ""

    @classmethod
    def from_header(
        cls,
        header: ImageHeader,
        stage_position_px: tuple[float, float],
        stage_xyz: tuple[float, ...] | None,
        metadata: dict[str, Any],
    ) -> Tile:
        """The tile a header describes, placed where its stage or positions source puts it (the
        batch input stage and the live watcher both make tiles this one way)."""
        return cls(
            path=header.path,
            height=header.height,
            width=header.width,
            stage_position_px=stage_position_px,
            stage_xyz=stage_xyz,
            metadata=metadata,
            bands=header.bands,
            pixel_format=header.pixel_format,
            interpretation=header.interpretation,
            loader=header.loader,
        )

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
