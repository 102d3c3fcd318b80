"""Writing the full-size mosaic: JPEG, Deep Zoom and pyramidal OME-TIFF.

All full-size formats asked for (see `output_plan`) are written in one pass over the tiles: the
bands composed by `compose.render_bands` are streamed to every libvips writer at once
(`band_stream`), so a DZI or a TIFF never needs the JPEG first and each tile is decoded once.
Every file is written under a temporary name and renamed when complete (`io.atomic`); on any
failure nothing is left under a final name.

What real viewers tripped on, as a checklist for every writer of a mosaic (OME-TIFF here, and
the OME-Zarr writer alike); each point has a test that reads the file back with the readers
named (tests/render/test_tiff_viewers.py):

1. Unknown pixel size: write no physical unit, never a default. TIFF: ResolutionUnit none and
   1/1 (libvips' own default read back as 1000 um/px in OpenSlide and libvips); OME-XML: no
   PhysicalSize; NGFF: axes without a "unit" and scale 1.
2. Each pyramid level states its own pixel size: level k's pixel spans exactly 2^k
   full-resolution pixels (levels halve, dropping an odd last pixel), so its size is
   ``pixel_size * 2^k``, not the full-resolution one and not full width / level width (TIFF:
   `io.tiff_levels`; NGFF: one scale transform per dataset).
3. Metadata that describes the whole image is written once: the OME-XML in the first IFD only
   (`io.tiff_levels` removes libvips' copies); NGFF: "multiscales" on the group, not per
   level.
4. Know which readers see the pyramid and say so in the README: SubIFD levels are the
   OME-TIFF pyramid of Bio-Formats and tifffile, invisible to OpenSlide, which reads the
   `pages` layout (`TIFF_LAYOUTS`).
5. Paths written into an output resolve from the file's own folder (OFMTileConfiguration.txt
   with ``-o``: `io.positions_file.path_from`).
6. Stage under a temporary name and rename when complete; check physical sizes before the
   long render (a non-positive pixel size is an OutputError).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from .._version import __version__
from ..errors import OutputError
from ..io.atomic import staged_output, staged_outputs, write_failures_named
from ..io.exif import exif_block, insert_exif_into_jpeg
from ..io.ome import ome_xml
from ..io.pixel_format import PixelFormat
from ..io.tiff_levels import fix_pyramid_tags
from .band_stream import StreamShape, stream_to_writers
from .compose import Blend, band_rows, file_source, render_bands
from .geometry import MosaicGeometry, with_headers
from .output_plan import OutputPlan, dzi_tiles_folder
from .preview import PreviewTap, render_preview

JPEG_QUALITY = 95
DZI_JPEG_QUALITY = 90
# 256-pixel tiles: the writer buffers two rows of tiles across the whole mosaic width.
TIFF_TILE = 256
# libvips' pyramid writers buffer about two rows of tiles at every level across the whole width
# (about 4 x tile height x width x pixel bytes). The outputs of one pass may buffer this much
# together; beyond it, outputs are written in separate passes (each decodes the tiles again),
# so a 70,000-pixel-wide TIFF and DZI do not need their buffers at the same time.
WRITERS_MEMORY_BUDGET = 256 << 20
# Where the OME-TIFF's reduced levels go. "subifd": SubIFDs of the full-resolution page, the
# OME-TIFF pyramid that Bio-Formats (Fiji, QuPath), tifffile and libvips' subifd= read;
# OpenSlide sees the full resolution only. "pages": one page per level, the plain tiled pyramid
# that OpenSlide's generic-tiff reader and libvips' page= read; the OME-XML still describes the
# full-resolution page, so Bio-Formats and tifffile see that one level only.
TIFF_LAYOUTS = ("subifd", "pages")


def _to_8bit(image: pyvips.Image, white_level: int) -> pyvips.Image:
    """8-bit view of a 16-bit image: 0 stays black, ``white_level`` and above become 255."""
    if image.format == "uchar":
        return image
    scale = 255.0 / max(1, white_level)
    # cast() truncates, so add 0.5 to round; it clips to 0..255.
    return image.linear([scale] * image.bands, [0.5] * image.bands).cast("uchar")


def _colour(image: pyvips.Image, alpha: bool) -> pyvips.Image:
    return image.extract_band(0, n=image.bands - 1) if alpha else image


def _named(path: Path, write: Callable[[pyvips.Image], None]) -> Callable[[pyvips.Image], None]:
    """The writer, with its failures reported against the final name of its output."""

    def guarded(image: pyvips.Image) -> None:
        with write_failures_named(path):
            write(image)

    return guarded


def _jpeg_writer(path: Path, white: int, comment: dict | None) -> Callable[[pyvips.Image], None]:
    def write(image: pyvips.Image) -> None:
        image = _to_8bit(image, white)
        image.jpegsave(str(path), Q=JPEG_QUALITY)
        if comment is not None:
            insert_exif_into_jpeg(path, exif_block(comment))

    return write


def _dzi_writer(
    base: Path, white: int, tile_format: str, alpha: bool
) -> Callable[[pyvips.Image], None]:
    def write(image: pyvips.Image) -> None:
        if tile_format == "png":
            image.dzsave(str(base), suffix=".png")
            return
        image = _to_8bit(_colour(image, alpha), white)
        image.dzsave(str(base), suffix=f".jpeg[Q={DZI_JPEG_QUALITY}]")

    return write


def ome_tiff_writer(
    path: Path,
    name: str,
    fmt: PixelFormat,
    pixel_size_um: float | None,
    alpha: bool,
    layout: str = "subifd",
) -> Callable[[pyvips.Image], None]:
    def write(image: pyvips.Image) -> None:
        image = _colour(image, alpha)
        if pixel_size_um is not None:
            pixels_per_mm = 1000.0 / pixel_size_um
            image = image.copy(xres=pixels_per_mm, yres=pixels_per_mm)
        else:
            image = image.copy()
        image.set_type(
            pyvips.GValue.gstr_type,
            "image-description",
            ome_xml(
                width=image.width,
                height=image.height,
                samples=fmt.bands,
                dtype=fmt.dtype,
                pixel_size_um=pixel_size_um,
                name=name,
                creator=f"ofs-stitch {__version__}",
            ),
        )
        # JPEG for 8-bit (as upstream, a tenth of the size); lossless deflate for 16-bit,
        # which JPEG-in-TIFF cannot hold.
        compression: dict[str, Any] = (
            {"compression": "jpeg", "Q": JPEG_QUALITY}
            if fmt.dtype == np.uint8
            else {"compression": "deflate", "predictor": "horizontal"}
        )
        image.tiffsave(
            str(path),
            tile=True,
            tile_width=TIFF_TILE,
            tile_height=TIFF_TILE,
            pyramid=True,
            subifd=layout == "subifd",
            bigtiff=True,
            region_shrink="mean",
            **compression,
        )
        # libvips gives every level the full-resolution pixel size and the OME-XML.
        fix_pyramid_tags(path, pixel_size_um)

    return write


def write_mosaic(
    layout: MosaicGeometry,
    plan: OutputPlan,
    *,
    blend: Blend | str = "nearest",
    user_comment: dict | None = None,
    pixel_size_um: float | None = None,
    white: int | None = None,
    dzi_tile_format: str = "jpeg",
    tiff_layout: str = "subifd",
    in_memory: Callable[[int], np.ndarray | None] | None = None,
    preview: PreviewTap | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write the full-size files of ``plan`` in one pass over the tiles; returns their paths.

    ``user_comment``: EXIF UserComment for the JPEG (see `metadata.stitched_user_comment`).
    ``pixel_size_um``: physical pixel size for the OME-TIFF (None: unknown, not written).
    ``white``: for 16-bit mosaics, the value shown as white in 8-bit formats (JPEG, DZI);
    None: taken from a preview-sized render. ``dzi_tile_format``: "jpeg", or "png" (keeps
    transparency and 16 bits). ``tiff_layout``: where the TIFF's reduced levels go (see
    `TIFF_LAYOUTS`). ``in_memory(tile)``: decoded pixels already held, or None.
    ``preview``: also shrink the mosaic into this tap in the same pass.
    ``progress(rows_done, rows_in_all)``: called as each band is produced, counting the rows of
    every pass (writers that do not fit in memory together get passes of their own).
    Raises ImageReadError naming a tile that fails to decode, OutputError for write failures.
    """
    if plan.jpeg is None and plan.dzi is None and plan.tiff is None:
        return []
    if dzi_tile_format not in ("jpeg", "png"):
        raise ValueError(f"dzi_tile_format must be 'jpeg' or 'png', not {dzi_tile_format!r}")
    if tiff_layout not in TIFF_LAYOUTS:
        raise ValueError(f"tiff_layout must be one of {TIFF_LAYOUTS}, not {tiff_layout!r}")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise OutputError(
            f"pixel size {pixel_size_um} um is not a positive number; "
            "give a positive --pixel_size_um"
        )
    layout = with_headers(layout)  # read once for the preview and the full size alike
    fmt = layout.pixel_format
    assert fmt is not None
    needs_8bit = plan.jpeg is not None or (plan.dzi is not None and dzi_tile_format == "jpeg")
    if white is None:
        white = (
            render_preview(layout, blend=blend, in_memory=in_memory).white_level
            if (needs_8bit and fmt.dtype == np.uint16)
            else fmt.max_value
        )
    alpha = plan.dzi is not None and dzi_tile_format == "png"
    rows = band_rows(layout.width, fmt)
    shape = StreamShape(layout.height, layout.width, fmt.bands + alpha, fmt.dtype, rows, alpha)
    name = plan.tiff.name if plan.tiff is not None else "mosaic"
    with contextlib.ExitStack() as stack:
        writers: list[tuple[int, Callable[[pyvips.Image], None]]] = []
        pyramid_bytes = 4 * TIFF_TILE * layout.width * fmt.bands * fmt.dtype.itemsize
        if plan.jpeg is not None:
            temporary = stack.enter_context(staged_output(plan.jpeg))
            writers.append(
                (
                    64 * layout.width * fmt.bands,
                    _named(plan.jpeg, _jpeg_writer(temporary, white, user_comment)),
                )
            )
        if plan.tiff is not None:
            temporary = stack.enter_context(staged_output(plan.tiff))
            writers.append(
                (
                    pyramid_bytes,
                    _named(
                        plan.tiff,
                        ome_tiff_writer(temporary, name, fmt, pixel_size_um, alpha, tiff_layout),
                    ),
                )
            )
        if plan.dzi is not None:
            # dzsave makes <base>.dzi and the tile folder <base>_files: the folder goes first.
            staging = stack.enter_context(staged_outputs([dzi_tiles_folder(plan.dzi), plan.dzi]))
            base = staging / plan.dzi.stem
            writers.append(
                (pyramid_bytes, _named(plan.dzi, _dzi_writer(base, white, dzi_tile_format, alpha)))
            )
        passes = _passes(writers, WRITERS_MEMORY_BUDGET)
        for k, group in enumerate(passes):
            bands = render_bands(
                layout,
                file_source(layout, fmt, in_memory=in_memory),
                blend=blend,
                rows_per_band=rows,
                alpha=alpha,
            )
            if progress is not None:
                rows_in_all = len(passes) * layout.height
                bands = _counted(bands, progress, k * layout.height, rows_in_all)
            tap = preview if k == 0 else None
            if tap is not None:
                bands = _tapped(bands, tap, fmt.bands)
            stream_to_writers(
                bands,
                shape,
                group,
                # The preview is shrunk while the writers encode their last bands.
                after_last_band=None if tap is None else functools.partial(tap.finish, white),
            )
    return plan.paths


def _tapped(bands: Iterator[np.ndarray], tap: PreviewTap, colour: int) -> Iterator[np.ndarray]:
    for band in bands:
        tap.add(band[:, :, :colour])
        yield band


def _counted(
    bands: Iterator[np.ndarray], progress: Callable[[int, int], None], done: int, total: int
) -> Iterator[np.ndarray]:
    for band in bands:
        done += len(band)
        progress(done, total)
        yield band


def _passes(
    writers: list[tuple[int, Callable[[pyvips.Image], None]]], budget: int
) -> list[list[Callable[[pyvips.Image], None]]]:
    """Group writers (with their buffer estimates) into passes that each fit ``budget``; a
    writer over budget on its own gets a pass to itself."""
    groups: list[list[Callable[[pyvips.Image], None]]] = []
    used = budget + 1
    for cost, write in writers:
        if groups and used + cost <= budget:
            groups[-1].append(write)
            used += cost
        else:
            groups.append([write])
            used = cost
    return groups
