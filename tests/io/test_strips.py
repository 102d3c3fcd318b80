"""Tiles opened for rendering: decoded through the one decoder, in the mosaic's format, shrunk
on load from what the header says, without reading the header again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from pixel_samples import old_file_normaliser, write_sample

from ofs_stitch.io import decode
from ofs_stitch.io.header import read_header
from ofs_stitch.io.pixel_format import PixelFormat
from ofs_stitch.io.strips import open_in_format, shrink_pixels


def _old_open_tile(path: Path, fmt: PixelFormat, shape: tuple[int, int] | None) -> pyvips.Image:
    """open_tile as it was: its own decoder, opening the file twice to shrink a JPEG."""

    image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")
    if shape is not None and (image.height, image.width) != tuple(shape):
        factor = min(image.width / shape[1], image.height / shape[0])
        shrink = max((s for s in (8, 4, 2, 1) if s <= factor), default=1)
        if shrink > 1 and image.get("vips-loader").startswith("jpegload"):
            image = pyvips.Image.new_from_file(
                str(path), access="sequential", fail_on="truncated", shrink=shrink
            )
        image = old_file_normaliser(image, fmt)
        image = image.resize(shape[1] / image.width, vscale=shape[0] / image.height)
        if (image.height, image.width) != tuple(shape):
            image = image.embed(0, 0, shape[1], shape[0], extend="copy")
        return image
    return old_file_normaliser(image, fmt)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("rgb8.jpg", PixelFormat(3, np.dtype(np.uint8))),
        ("grey8.jpg", PixelFormat(3, np.dtype(np.uint16))),
        ("cmyk8.jpg", PixelFormat(3, np.dtype(np.uint8))),
        ("grey16.png", PixelFormat(1, np.dtype(np.uint16))),
        ("rgba16.tif", PixelFormat(3, np.dtype(np.uint16))),
        ("palettealpha.png", PixelFormat(3, np.dtype(np.uint8))),
    ],
)
def test_tiles_open_as_before_at_full_and_preview_sizes(
    tmp_path: Path, kind: str, fmt: PixelFormat
) -> None:
    path = write_sample(tmp_path, kind, (246, 328))
    header = read_header(path)
    # Full size; exactly half (JPEG shrink-on-load alone); shrink-on-load plus resize; resize
    # alone (less than half); an odd size that resize rounds (pinned by embedding).
    for shape in [None, (123, 164), (50, 61), (200, 250), (31, 47)]:
        ours = open_in_format(header, fmt, shape).numpy()
        before = _old_open_tile(path, fmt, shape).numpy()
        np.testing.assert_array_equal(ours, before)


def test_a_tile_is_opened_once_its_header_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sample(tmp_path, "rgb8.jpg", (246, 328))
    header = read_header(path)
    opened: list[dict[str, object]] = []
    real = pyvips.Image.new_from_file

    def counting(name: str, **options: object) -> pyvips.Image:
        opened.append(options)
        return real(name, **options)

    monkeypatch.setattr(decode.pyvips.Image, "new_from_file", counting)
    open_in_format(header, PixelFormat(3, np.dtype(np.uint8)), (50, 61)).numpy()
    assert [o.get("shrink") for o in opened] == [4]


def test_held_pixels_shrink_like_the_old_path(tmp_path: Path) -> None:
    pixels = write_sample(tmp_path, "rgb16.png", (120, 90))
    held = pyvips.Image.new_from_file(str(pixels)).numpy()
    ours = shrink_pixels(held, (37, 29)).numpy()
    before = pyvips.Image.new_from_array(held).resize(29 / 90, vscale=37 / 120)
    if (before.height, before.width) != (37, 29):
        before = before.embed(0, 0, 29, 37, extend="copy")
    np.testing.assert_array_equal(ours, before.numpy())
