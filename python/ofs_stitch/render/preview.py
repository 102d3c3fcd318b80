"""The small pictures of a mosaic: the preview (about 1000 px wide) and the thumbnail.

The preview is either composed at its own small scale (tiles shrunk first), or shrunk from the
full-size mosaic's bands as they stream to the writers (`PreviewTap`), which spares a second
composition. 16-bit mosaics are shown in 8 bits with a white level taken from the preview.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from .. import _core
from ..io.atomic import staged_output
from ..io.exif import exif_block, insert_exif_into_jpeg
from .compose import Blend, file_source, render_array
from .geometry import MosaicGeometry, scaled_layout, with_headers

PREVIEW_WIDTH = 1000
# A preview of a tall, narrow strip is capped in height instead of being 1000 px wide.
PREVIEW_MAX_HEIGHT = 10_000
# A preview of a long, flat strip keeps this height (1000 px wide, a 1x150 strip of 640x480
# tiles would be 7 px tall): it gets wider instead, up to PREVIEW_MAX_WIDTH.
PREVIEW_MIN_HEIGHT = 100
PREVIEW_MAX_WIDTH = 16_000
PREVIEW_QUALITY = 95
THUMBNAIL_BOX = 400
THUMBNAIL_QUALITY = 85
# 16-bit mosaics are shown in 8-bit formats with this percentile of the covered pixels as white.
WHITE_PERCENTILE = 99.9


def white_level(pixels: np.ndarray, covered: np.ndarray | None = None) -> int:
    """The value to show as white when a 16-bit mosaic is written in 8 bits."""
    values = pixels[covered] if covered is not None else pixels.reshape(-1)
    if values.size == 0:
        return 1
    return max(1, int(np.ceil(np.percentile(values, WHITE_PERCENTILE))))


@dataclass(frozen=True)
class Preview:
    """The preview as written: 8-bit pixels, and the 16-bit value shown as white."""

    pixels: np.ndarray
    white_level: int


def preview_scale(layout: MosaicGeometry, width: int = PREVIEW_WIDTH) -> float:
    """Scale making the mosaic at most ``width`` px wide (never enlarged; tall strips capped
    in height; long flat strips kept PREVIEW_MIN_HEIGHT tall, up to PREVIEW_MAX_WIDTH wide)."""
    scale = min(1.0, width / layout.width, PREVIEW_MAX_HEIGHT / layout.height)
    if layout.height * scale < PREVIEW_MIN_HEIGHT:
        scale = min(1.0, PREVIEW_MIN_HEIGHT / layout.height, PREVIEW_MAX_WIDTH / layout.width)
        width = PREVIEW_MAX_WIDTH
    # Tiles are resized to whole pixels, so the canvas can come out a pixel or two wider than
    # the scale says (a 1001-px preview): shrink the scale by that much.
    for _ in range(3):
        scaled_width = scaled_layout(layout, scale).width
        if scale == 1.0 or scaled_width <= width:
            break
        scale *= (width - 0.5) / scaled_width
    return scale


def render_preview(
    layout: MosaicGeometry,
    *,
    blend: Blend | str = "nearest",
    width: int = PREVIEW_WIDTH,
    in_memory: Callable[[int], np.ndarray | None] | None = None,
) -> Preview:
    """A small mosaic for overviews: tiles shrunk first (JPEG shrink-on-load, then area
    averaging), then composed at the small scale. ``in_memory(tile)``: decoded pixels already
    held, or None."""
    small = scaled_layout(with_headers(layout), preview_scale(layout, width))
    fmt = small.pixel_format
    assert fmt is not None
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
    with staged_output(path) as temporary:
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
    for `writers.write_mosaic`). ``in_memory``: as in `render_preview`."""
    preview = render_preview(layout, blend=blend, width=width, in_memory=in_memory)
    _save_small_jpeg(preview.pixels, Path(path), PREVIEW_QUALITY, user_comment)
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
        _save_small_jpeg(self._pixels, Path(path), PREVIEW_QUALITY, user_comment)
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
