"""Which full-size files a mosaic gets: the formats asked for, under their OpenFlexure names,
with JPEG's size limit applied before the (long) render starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..openflexure.naming import stitched_name

# libjpeg refuses images with a side over 65,500 pixels.
JPEG_MAX_SIDE = 65_500


@dataclass(frozen=True)
class OutputPlan:
    """The full-size files to write (None: not written) and notes for the user."""

    jpeg: Path | None
    dzi: Path | None  # the .dzi file; its tiles go in the folder <stem>_files beside it
    tiff: Path | None
    notes: tuple[str, ...] = field(default=())

    @property
    def paths(self) -> list[Path]:
        """Every path that will exist after writing, the DZI tile folder included."""
        out = [p for p in (self.jpeg, self.tiff) if p is not None]
        if self.dzi is not None:
            out += [self.dzi, dzi_tiles_folder(self.dzi)]
        return out


def dzi_tiles_folder(dzi: Path) -> Path:
    """The folder of a Deep Zoom image's tiles, beside its .dzi file."""
    return dzi.with_name(dzi.stem + "_files")


def plan_outputs(
    output_dir: Path | str,
    prefix: str,
    mosaic_height: int,
    mosaic_width: int,
    *,
    jpeg: bool = True,
    dzi: bool = False,
    tiff: bool = False,
) -> OutputPlan:
    """Choose the files for a mosaic of this size, applying JPEG's 65,500-pixel limit.

    Call it before the (long) render so the user learns at once when the JPEG is replaced by
    a pyramidal TIFF.
    """
    folder = Path(output_dir)
    notes: list[str] = []
    if jpeg and max(mosaic_height, mosaic_width) > JPEG_MAX_SIDE:
        jpeg = False
        notes.append(
            f"the mosaic is {mosaic_width} x {mosaic_height} px, over JPEG's limit of "
            f"{JPEG_MAX_SIDE:,} px per side: writing {stitched_name(prefix, '.ome.tiff')} "
            "(pyramidal TIFF) instead of the JPEG"
        )
        tiff = True
    return OutputPlan(
        jpeg=folder / stitched_name(prefix, ".jpg") if jpeg else None,
        dzi=folder / stitched_name(prefix, ".dzi") if dzi else None,
        tiff=folder / stitched_name(prefix, ".ome.tiff") if tiff else None,
        notes=tuple(notes),
    )
