"""Writing the stitched mosaic: JPEG, Deep Zoom, pyramidal OME-TIFF, preview and thumbnail.

All full-size formats asked for are written in one pass over the tiles: the bands composed by
`compose.render_bands` are streamed to every libvips writer at once (`band_stream`), so a DZI or
a TIFF never needs the JPEG first and each tile is decoded once. Every file is written under a
temporary name and renamed when complete; on any failure nothing is left under a final name.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from .. import _core
from .._version import __version__
from ..errors import OutputError, StitchError, libvips_reason
from ..io.atomic import atomic_output, temporary_tag
from ..io.exif import exif_block, insert_exif_into_jpeg
from ..io.ome import ome_xml
from ..io.strips import PixelFormat, probe_pixel_format
from .band_stream import StreamShape, stream_to_writers
from .compose import Blend, band_rows, file_source, render_array, render_bands
from .geometry import MosaicGeometry, scaled_layout

# libjpeg refuses images with a side over 65,500 pixels.
JPEG_MAX_SIDE = 65_500
JPEG_QUALITY = 95
DZI_JPEG_QUALITY = 90
# 256-pixel tiles: the writer buffers two rows of tiles across the whole mosaic width.
TIFF_TILE = 256
PREVIEW_WIDTH = 1000
# A preview of a long, narrow strip is capped in height instead of being 1000 px wide.
PREVIEW_MAX_HEIGHT = 10_000
THUMBNAIL_BOX = 400
THUMBNAIL_QUALITY = 85
STITCHED_NOTE = "Stitched by OpenFlexure Stitching"
# libvips' pyramid writers buffer about two rows of tiles at every level across the whole width
# (about 4 x tile height x width x pixel bytes). The outputs of one pass may buffer this much
# together; beyond it, outputs are written in separate passes (each decodes the tiles again),
# so a 70,000-pixel-wide TIFF and DZI do not need their buffers at the same time.
WRITERS_MEMORY_BUDGET = 256 << 20
# 16-bit mosaics are shown in 8-bit formats with this percentile of the covered pixels as white.
WHITE_PERCENTILE = 99.9


def output_prefix(folder: Path | str) -> str:
    """Name stem of the stitched files, as upstream chooses it.

    The input folder's name; trailing ``images`` and ``use`` parts (which the OpenFlexure
    server creates inside a scan folder) are skipped, and ``scan`` is used if nothing is left.
    Like upstream, the path is made absolute without resolving links, and the test is
    case-sensitive.
    """
    _, path = os.path.splitdrive(os.path.abspath(folder))
    for part in reversed(path.split(os.sep)):
        if part and part not in ("images", "use"):
            return part
    return "scan"


def stitched_user_comment(first_tile_metadata: Mapping[str, Any] | None, n_images: int) -> dict:
    """UserComment JSON for stitched JPEGs: the first tile's, without the stage position (it
    is not the mosaic's) or the bulky camera tuning, plus a note and the number of images."""
    comment = {
        k: v for k, v in (first_tile_metadata or {}).items() if k not in ("stage", "/stage/")
    }
    for camera_key in ("camera", "/camera/"):
        camera = comment.get(camera_key)
        if isinstance(camera, dict) and "tuning" in camera:
            comment[camera_key] = {k: v for k, v in camera.items() if k != "tuning"}
    comment["Notes"] = STITCHED_NOTE
    comment["NumberOfImages"] = int(n_images)
    return comment


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
            f"{JPEG_MAX_SIDE:,} px per side: writing {prefix}_stitched.ome.tiff "
            "(pyramidal TIFF) instead of the JPEG"
        )
        tiff = True
    return OutputPlan(
        jpeg=folder / f"{prefix}_stitched.jpg" if jpeg else None,
        dzi=folder / f"{prefix}_stitched.dzi" if dzi else None,
        tiff=folder / f"{prefix}_stitched.ome.tiff" if tiff else None,
        notes=tuple(notes),
    )


def _disk_is_full(folder: Path) -> bool:
    """True when the file system holding ``folder`` has (almost) no room left."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return stats.f_bavail * stats.f_frsize < (1 << 20)


def _write_error(path: Path, error: BaseException) -> StitchError:
    if isinstance(error, StitchError):
        return error
    text = str(error)
    if "ermission denied" in text or "Read-only file system" in text:
        return OutputError(
            f"cannot write {path}: permission denied; choose a writable output folder with -o"
        )
    # libvips does not always pass on the system's reason ("write failed"): look at the disk.
    if "No space left" in text or "ENOSPC" in text or _disk_is_full(path.parent):
        return OutputError(
            f"cannot write {path}: the disk is full; free some space or choose "
            "another output folder with -o"
        )
    reason = libvips_reason(error) if isinstance(error, pyvips.Error) else text
    return OutputError(
        f"cannot write {path}: {reason}; check free space and permissions of the output folder"
    )


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """Temporary file beside ``path``, renamed to it on success, with errors named after it."""
    try:
        with atomic_output(path) as temporary:
            yield temporary
    except (OSError, pyvips.Error) as error:
        if isinstance(error, StitchError):
            raise
        raise _write_error(path, error) from None


@contextlib.contextmanager
def _staged_dzi(dzi: Path) -> Iterator[Path]:
    """A private folder beside ``dzi`` to write the Deep Zoom pair in; yields the dzsave base
    name. On success the tile folder, then the .dzi, replace any previous ones."""
    staging = dzi.with_name(f".{dzi.stem}.{temporary_tag()}.partial")
    try:
        staging.mkdir()
    except OSError as error:
        raise _write_error(dzi, error) from None
    try:
        yield staging / dzi.stem
        tiles = dzi_tiles_folder(dzi)
        if tiles.exists():
            # Directories cannot be replaced in one step: move the old one aside first.
            tiles.rename(staging / "previous_files")
        (staging / tiles.name).rename(tiles)
        os.replace(staging / dzi.name, dzi)
    except (OSError, pyvips.Error) as error:
        if isinstance(error, StitchError):
            raise
        raise _write_error(dzi, error) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _to_8bit(image: pyvips.Image, white_level: int) -> pyvips.Image:
    """8-bit view of a 16-bit image: 0 stays black, ``white_level`` and above become 255."""
    if image.format == "uchar":
        return image
    scale = 255.0 / max(1, white_level)
    # cast() truncates, so add 0.5 to round; it clips to 0..255.
    return image.linear([scale] * image.bands, [0.5] * image.bands).cast("uchar")


def white_level(pixels: np.ndarray, covered: np.ndarray | None = None) -> int:
    """The value to show as white when a 16-bit mosaic is written in 8 bits."""
    values = pixels[covered] if covered is not None else pixels.reshape(-1)
    if values.size == 0:
        return 1
    return max(1, int(np.ceil(np.percentile(values, WHITE_PERCENTILE))))


def _colour(image: pyvips.Image, alpha: bool) -> pyvips.Image:
    return image.extract_band(0, n=image.bands - 1) if alpha else image


@dataclass(frozen=True)
class Preview:
    """The preview as written: 8-bit pixels, and the 16-bit value shown as white."""

    pixels: np.ndarray
    white_level: int


def preview_scale(layout: MosaicGeometry, width: int = PREVIEW_WIDTH) -> float:
    """Scale making the mosaic ``width`` px wide (never enlarged; tall strips capped)."""
    return min(1.0, width / layout.width, PREVIEW_MAX_HEIGHT / layout.height)


def render_preview(
    layout: MosaicGeometry,
    *,
    blend: Blend | str = "nearest",
    width: int = PREVIEW_WIDTH,
    in_memory: Callable[[int], np.ndarray | None] | None = None,
) -> Preview:
    """A small mosaic for overviews: tiles shrunk first (JPEG shrink-on-load, then area
    averaging), then composed at the small scale. ``in_memory``: as in `write_mosaic`."""
    small = scaled_layout(layout, preview_scale(layout, width))
    fmt = small.pixel_format or probe_pixel_format(small.paths)
    source = file_source(small, fmt, in_memory=in_memory)
    pixels = render_array(small, source, blend=blend, alpha=True)
    colour, covered = pixels[:, :, :-1], pixels[:, :, -1] > 0
    if fmt.dtype == np.uint8:
        return Preview(colour, 255)
    white = white_level(colour, covered)
    scaled = np.clip(colour.astype(np.float32) * (255.0 / white) + 0.5, 0, 255)
    return Preview(scaled.astype(np.uint8), white)


def _save_small_jpeg(pixels: np.ndarray, path: Path, quality: int, comment: dict | None) -> None:
    image = pyvips.Image.new_from_array(
        pixels, interpretation="srgb" if pixels.shape[2] == 3 else "b-w"
    )
    with _staged(path) as temporary:
        image.jpegsave(str(temporary), Q=quality)
        if comment is not None:
            insert_exif_into_jpeg(temporary, exif_block(comment))


def write_preview(
    layout: MosaicGeometry,
    path: Path | str,
    *,
    blend: Blend | str = "nearest",
    width: int = PREVIEW_WIDTH,
    user_comment: dict | None = None,
    in_memory: Callable[[int], np.ndarray | None] | None = None,
) -> Preview:
    """Write ``preview.jpg`` (about ``width`` px wide), with ``user_comment`` as its EXIF
    UserComment when given; returns the preview for `write_thumbnail` (and its white level
    for `write_mosaic`). ``in_memory``: as in `write_mosaic`."""
    preview = render_preview(layout, blend=blend, width=width, in_memory=in_memory)
    _save_small_jpeg(preview.pixels, Path(path), JPEG_QUALITY, user_comment)
    return preview


class PreviewTap:
    """The preview, shrunk from the full-size mosaic's bands as they stream to the writers.

    No second composition and no decoding of the finished JPEG (which cost a third of the
    whole render). Whole blocks of pixels are box-averaged band by band as they pass (only
    the shrunk rows are kept: a few MB); libvips' resize (Lanczos) then makes the remaining
    factor, which is below 2. (A libvips shrink reading the stream as one more writer needed
    130 MB more for a 67,000-pixel-wide strip: its reader caches whole strips.)
    """

    def __init__(self, layout: MosaicGeometry, width: int = PREVIEW_WIDTH) -> None:
        small = scaled_layout(layout, preview_scale(layout, width))
        self.height, self.width = small.height, small.width
        self.across = max(1, layout.width // self.width)  # columns per block
        self.down = max(1, layout.height // self.height)  # rows per block
        self._block_rows = -(-layout.height // self.down)
        # The block means, (block rows, width // across, colour bands), filled row by row as
        # the bands pass: allocated with the first band (which tells the number of colour
        # bands), so its pages are touched during the pass, not all at once at its end.
        self._means: np.ndarray | None = None
        self._rows_done = 0
        # Sum of the rows of the block being filled, per column (summed by the compiled core,
        # without the GIL); reduced to block means once per block row.
        self._row_sum: np.ndarray | None = None
        self._rows_summed = 0
        self.white_level = 255
        self._pixels: np.ndarray | None = None

    def add(self, band: np.ndarray) -> None:
        """Take the next band of the mosaic: (rows, mosaic width, colour bands)."""
        start = 0
        while start < len(band):
            stop = min(len(band), start + self.down - self._rows_summed)
            if self._row_sum is None:
                # 32-bit sums (twice as fast to add) wherever a block's rows cannot overflow them.
                fits = self.down * np.iinfo(band.dtype).max < 2**32
                self._row_sum = np.zeros(
                    (band.shape[1], band.shape[2]), np.uint32 if fits else np.uint64
                )
                self._means = np.empty(
                    (self._block_rows, band.shape[1] // self.across, band.shape[2]), np.float32
                )
            _core.compose.add_rows(band[start:stop], self._row_sum)
            self._rows_summed += stop - start
            start = stop
            if self._rows_summed == self.down:
                self._close_block()

    def _close_block(self) -> None:
        assert self._row_sum is not None and self._means is not None
        # Also clears the sums for the next block row.
        _core.compose.block_means(
            self._row_sum,
            self.across,
            self._rows_summed * self.across,
            self._means[self._rows_done],
        )
        self._rows_done += 1
        self._rows_summed = 0

    def finish(self, white: int) -> None:
        """Average the last, partial block and scale to the preview's size and 8 bits."""
        if self._rows_summed:
            self._close_block()
        if self._means is None or self._rows_done != self._block_rows:
            raise RuntimeError("PreviewTap.finish before the mosaic's last band was added")
        averaged = self._means
        if white != 255:
            averaged = averaged * np.float32(255.0 / max(1, white))
        image = pyvips.Image.new_from_array(averaged)
        small = image.resize(self.width / image.width, vscale=self.height / image.height)
        pixels = np.clip(np.rint(small.numpy()), 0, 255).astype(np.uint8)
        self._pixels = pixels.reshape(self.height, self.width, -1)
        self.white_level = white

    def save(self, path: Path | str, *, user_comment: dict | None = None) -> Preview:
        """Write ``preview.jpg`` from what the pass collected; returns it for the thumbnail."""
        if self._pixels is None:
            raise RuntimeError("PreviewTap.save before a full-size pass finished")
        _save_small_jpeg(self._pixels, Path(path), JPEG_QUALITY, user_comment)
        return Preview(self._pixels, self.white_level)


def write_thumbnail(
    preview: Preview | np.ndarray, path: Path | str, box: int = THUMBNAIL_BOX
) -> None:
    """Write ``stitched_thumbnail.jpg``: the preview shrunk (area averaging) into a ``box``
    pixel square, aspect kept."""
    pixels = preview.pixels if isinstance(preview, Preview) else preview
    image = pyvips.Image.new_from_array(pixels)
    small = image.thumbnail_image(box, height=box, size="down")
    _save_small_jpeg(
        small.numpy().reshape(small.height, small.width, small.bands),
        Path(path),
        THUMBNAIL_QUALITY,
        None,
    )


def _named(path: Path, write: Callable[[pyvips.Image], None]) -> Callable[[pyvips.Image], None]:
    """The writer, with its failures reported against the final name of its output."""

    def guarded(image: pyvips.Image) -> None:
        try:
            write(image)
        except (OSError, pyvips.Error) as error:
            raise _write_error(path, error) from None

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


def _tiff_writer(
    path: Path, name: str, fmt: PixelFormat, pixel_size_um: float | None, alpha: bool
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
            subifd=True,
            bigtiff=True,
            region_shrink="mean",
            **compression,
        )

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
    in_memory: Callable[[int], np.ndarray | None] | None = None,
    preview: PreviewTap | None = None,
) -> list[Path]:
    """Write the full-size files of ``plan`` in one pass over the tiles; returns their paths.

    ``user_comment``: EXIF UserComment for the JPEG (see `stitched_user_comment`).
    ``pixel_size_um``: physical pixel size for the OME-TIFF (None: unknown, not written).
    ``white``: for 16-bit mosaics, the value shown as white in 8-bit formats (JPEG, DZI);
    None: taken from a preview-sized render. ``dzi_tile_format``: "jpeg", or "png" (keeps
    transparency and 16 bits). ``in_memory(tile)``: decoded pixels already held, or None.
    ``preview``: also shrink the mosaic into this tap in the same pass.
    Raises ImageReadError naming a tile that fails to decode, OutputError for write failures.
    """
    if plan.jpeg is None and plan.dzi is None and plan.tiff is None:
        return []
    if dzi_tile_format not in ("jpeg", "png"):
        raise ValueError(f"dzi_tile_format must be 'jpeg' or 'png', not {dzi_tile_format!r}")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise OutputError(
            f"pixel size {pixel_size_um} um is not a positive number; "
            "give a positive --pixel_size_um"
        )
    fmt = layout.pixel_format or probe_pixel_format(layout.paths)
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
            temporary = stack.enter_context(_staged(plan.jpeg))
            writers.append(
                (
                    64 * layout.width * fmt.bands,
                    _named(plan.jpeg, _jpeg_writer(temporary, white, user_comment)),
                )
            )
        if plan.tiff is not None:
            temporary = stack.enter_context(_staged(plan.tiff))
            writers.append(
                (
                    pyramid_bytes,
                    _named(plan.tiff, _tiff_writer(temporary, name, fmt, pixel_size_um, alpha)),
                )
            )
        if plan.dzi is not None:
            base = stack.enter_context(_staged_dzi(plan.dzi))
            writers.append(
                (pyramid_bytes, _named(plan.dzi, _dzi_writer(base, white, dzi_tile_format, alpha)))
            )
        for k, group in enumerate(_passes(writers, WRITERS_MEMORY_BUDGET)):
            bands = render_bands(
                layout,
                file_source(layout, fmt, in_memory=in_memory),
                blend=blend,
                rows_per_band=rows,
                alpha=alpha,
            )
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
