"""The image outputs of a stitch, chosen by the stitching mode: preview and thumbnail, the
full-size mosaic (JPEG, or pyramidal TIFF beyond JPEG's size limit), Deep Zoom and OME-TIFF.
The rendering itself lives in `render`: `geometry` (where tiles land), `compose` (pixel
choice), `output_plan` (which files), `writers` (full-size formats) and `preview`; the file
names follow `openflexure.naming`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..io.memory import TileStore
from ..openflexure.metadata import stitched_user_comment
from ..openflexure.naming import PREVIEW, STAGE_PREVIEW, THUMBNAIL, output_prefix
from ..render.geometry import plan_layout
from ..render.output_plan import plan_outputs
from ..render.preview import PreviewTap, write_preview, write_thumbnail
from ..render.writers import write_mosaic
from .scan import Scan


def write_mosaics(
    scan: Scan,
    positions: np.ndarray,
    output_dir: Path,
    *,
    full: bool,
    tiff: bool,
    dzi: bool,
    blend: str,
    tiff_layout: str = "subifd",
    affines: np.ndarray | None = None,
    tile_store: TileStore | None,
    say: Callable[[str], None],
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Preview and thumbnail always; with ``full`` the stitched JPEG and the requested DZI and
    TIFF, all written in one pass over the tiles (from memory when ``tile_store`` holds them).
    ``progress(rows_done, rows_in_all)`` follows the full-size pass (see `write_mosaic`).
    ``affines``: (n, 3, 3) per-tile maps (tile (row, col) -> mosaic (row, col)) that replace
    the positions (``--transform affine``)."""
    layout = plan_layout(scan.tiles, positions, affines)
    comment = stitched_user_comment(scan.tiles[0].metadata, len(scan.tiles))
    in_memory = tile_store.get if tile_store is not None and tile_store.enabled else None
    plan = plan_outputs(
        output_dir,
        output_prefix(scan.folder),
        layout.height,
        layout.width,
        jpeg=full,
        dzi=full and dzi,
        tiff=full and tiff,
    )
    for note in plan.notes:  # before the long render, not after it
        say(note)
    render_full_size = functools.partial(
        write_mosaic,
        layout,
        plan,
        blend=blend,
        user_comment=comment,
        pixel_size_um=scan.pixel_size_um,
        tiff_layout=tiff_layout,
        in_memory=in_memory,
        progress=progress,
    )
    if full and not _sixteen_bit(scan):
        # The preview is shrunk from the full-size mosaic in the same pass.
        tap = PreviewTap(layout)
        written = render_full_size(preview=tap)
        preview = tap.save(output_dir / PREVIEW, user_comment=comment)
    else:
        # 16-bit tiles: the preview also fixes the white level the 8-bit formats are scaled to.
        preview = write_preview(
            layout, output_dir / PREVIEW, blend=blend, user_comment=comment, in_memory=in_memory
        )
        written = render_full_size(white=preview.white_level)
    write_thumbnail(preview, output_dir / THUMBNAIL)
    return [output_dir / PREVIEW, output_dir / THUMBNAIL, *written]


def _sixteen_bit(scan: Scan) -> bool:
    return any(tile.pixel_format != "uchar" for tile in scan.tiles)


def write_stage_preview(scan: Scan, output_dir: Path, *, blend: str = "nearest") -> list[Path]:
    """The 1000 px preview of the tiles at their stage positions (no registration)."""
    path = output_dir / STAGE_PREVIEW
    write_preview(plan_layout(scan.tiles, scan.stage_positions_px), path, blend=blend)
    return [path]


def write_zarr(
    scan: Scan,
    positions: np.ndarray,
    output_dir: Path,
    *,
    blend: str,
    threads: int = 0,
    dask_scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """``<prefix>_stitched.ome.zarr``: the same mosaic as an NGFF 0.4 multiscale image, painted
    chunk by chunk by the fusion family on Dask's threaded scheduler (``threads``; 0: every
    core), or on the Dask cluster at ``dask_scheduler``. With ``nearest`` its pixels are the
    stitched JPEG/TIFF's."""
    from ..fusion.api import fuse_to_zarr, scheduler_client
    from ..fusion.layout import layout_from_geometry
    from ..openflexure.naming import stitched_name

    layout = layout_from_geometry(
        plan_layout(scan.tiles, positions), pixel_size_um=scan.pixel_size_um
    )
    path = output_dir / stitched_name(output_prefix(scan.folder), ".ome.zarr")
    if dask_scheduler is not None:
        with scheduler_client(dask_scheduler) as client:
            fuse_to_zarr(layout, path, blend=blend, client=client, progress=progress)
    else:
        fuse_to_zarr(layout, path, blend=blend, threads=threads or None, progress=progress)
    return path
