"""The image outputs of a stitch: full mosaic, preview, thumbnail (and DZI / TIFF on request)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyvips

from .atomic_file import atomic_output
from .errors import ImageReadError, OutputError
from .exif import exif_block, insert_exif_into_jpeg
from .tile_store import TileStore
from .tiles import Scan

JPEG_MAX_SIDE = 65500
PREVIEW_WIDTH = 1000
THUMBNAIL_BOX = 400


def output_prefix(folder: Path) -> str:
    """Upstream's name for the mosaic: the folder name, skipping trailing 'images'/'use'."""
    for part in reversed(folder.resolve().parts):
        if part.lower() not in ("images", "use", "/"):
            return part
    return "scan"


def compose(scan: Scan, positions: np.ndarray, tile_store: TileStore | None = None) -> pyvips.Image:
    """The mosaic as a lazy libvips image: tiles inserted at their rounded positions."""
    origin = positions.min(axis=0)
    placed = np.round(positions - origin).astype(int)
    height = int(placed[:, 0].max()) + scan.tiles[0].height
    width = int(placed[:, 1].max()) + scan.tiles[0].width
    first = pyvips.Image.new_from_file(str(scan.tiles[0].path), access="sequential")
    canvas = pyvips.Image.black(width, height, bands=first.bands).cast(first.format)
    for index, (tile, (row, col)) in enumerate(zip(scan.tiles, placed)):
        pixels = tile_store.get(index) if tile_store is not None else None
        if pixels is not None:
            image = pyvips.Image.new_from_array(pixels)
        else:
            image = pyvips.Image.new_from_file(str(tile.path), fail_on="truncated")
        canvas = canvas.insert(image, int(col), int(row))
    return canvas


def _save(image: pyvips.Image, path: Path, **options: object) -> None:
    with atomic_output(path) as temporary:
        try:
            image.write_to_file(str(temporary), **options)
        except pyvips.Error as error:
            text = str(error).strip().splitlines()
            reason = text[-1] if text else "libvips failed"
            if "read" in reason or "load" in reason or "truncated" in reason.lower():
                raise ImageReadError(f"cannot decode a tile while writing {path}: {reason}; replace the damaged file") from None
            raise OutputError(f"cannot write {path}: {reason}; check free space and permissions") from None


def _stitched_comment(scan: Scan) -> dict:
    comment = dict(scan.tiles[0].metadata)
    comment.pop("stage", None)
    comment["Notes"] = "Stitched by OpenFlexure Stitching"
    comment["NumberOfImages"] = len(scan.tiles)
    return comment


def write_mosaics(
    scan: Scan,
    positions: np.ndarray,
    output_dir: Path,
    *,
    full: bool,
    tiff: bool,
    dzi: bool,
    blend: str,
    tile_store: TileStore | None,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> list[Path]:
    mosaic = compose(scan, positions, tile_store)
    written = []
    preview = output_dir / "preview.jpg"
    _save(mosaic.thumbnail_image(PREVIEW_WIDTH, height=10_000_000), preview, Q=90)
    thumb = output_dir / "stitched_thumbnail.jpg"
    _save(pyvips.Image.thumbnail(str(preview), THUMBNAIL_BOX), thumb, Q=90)
    written += [preview, thumb]
    if full:
        path = output_dir / f"{output_prefix(scan.folder)}_stitched.jpg"
        _save(mosaic, path, Q=90)
        insert_exif_into_jpeg(path, exif_block(json.dumps(_stitched_comment(scan))))
        written.append(path)
    return written


def write_stage_preview(scan: Scan, output_dir: Path) -> list[Path]:
    path = output_dir / "stitched_from_stage.jpg"
    mosaic = compose(scan, scan.stage_positions_px)
    _save(mosaic.thumbnail_image(PREVIEW_WIDTH, height=10_000_000), path, Q=90)
    return [path]
