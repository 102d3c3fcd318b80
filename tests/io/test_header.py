"""Image headers: size, bands, sample format and EXIF, read without decoding pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from pixel_samples import KINDS, write_sample

from ofs_stitch.errors import ImageReadError
from ofs_stitch.io.exif import exif_block
from ofs_stitch.io.header import ImageHeader, read_header, read_headers

COMMENT = {"image": {"id": "abc"}, "instrument": {"state": {"stage": {"position": {"x": 5}}}}}


def _image(bands: int, dtype: type = np.uint8) -> pyvips.Image:
    rows, cols = np.mgrid[0:30, 0:40]
    grey = (rows * 5 + cols * 3).astype(dtype)
    pixels = grey if bands == 1 else np.stack([grey] * bands, axis=2)
    image = pyvips.Image.new_from_array(pixels)
    # Without this, libvips saves 16-bit grey as 8-bit PNG.
    return image.copy(interpretation="grey16") if dtype == np.uint16 else image


def _with_exif(image: pyvips.Image, date_time: str) -> pyvips.Image:
    image = image.copy()
    image.set_type(pyvips.GValue.blob_type, "exif-data", exif_block(COMMENT, date_time))
    return image


def _libvips_header(path: Path) -> tuple[int, int, int, str, str, str]:
    image = pyvips.Image.new_from_file(str(path))
    return (
        image.width,
        image.height,
        image.bands,
        str(image.format),
        str(image.interpretation),
        str(image.get("vips-loader")),
    )


def _facts(header: ImageHeader) -> tuple[int, int, int, str, str, str]:
    return (
        header.width,
        header.height,
        header.bands,
        header.pixel_format,
        header.interpretation,
        header.loader,
    )


@pytest.mark.parametrize(
    ("name", "bands"), [("grey.jpg", 1), ("colour.jpeg", 3), ("cmyk.JPG", 4), ("grey16.png", 1)]
)
def test_headers_agree_with_libvips_and_keep_the_exif(
    tmp_path: Path, name: str, bands: int
) -> None:
    path = tmp_path / name
    if bands == 4:
        image = _image(3).copy(interpretation="srgb").colourspace("cmyk")
    elif name.endswith(".png"):
        image = _image(bands, np.uint16)
    else:
        image = _image(bands)
    _with_exif(image, "2024:05:06 07:08:09").write_to_file(str(path))
    header = read_header(path)
    assert _facts(header) == _libvips_header(path)
    assert header.exif.user_comment_json() == COMMENT
    assert header.exif.date_time == "2024:05:06 07:08:09"
    assert header.file_size == path.stat().st_size


def test_a_jpeg_without_exif_has_empty_exif(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    _image(3).jpegsave(str(path), keep="none")
    header = read_header(path)
    assert header.exif.user_comment is None and header.exif.date_time is None


def test_an_unreadable_jpeg_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_header(path)


def test_a_png_named_jpeg_is_read_for_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "misnamed.jpg"
    _image(1, np.uint16).pngsave(str(path))
    header = read_header(path)
    assert (header.width, header.height, header.bands, header.pixel_format) == (40, 30, 1, "ushort")
    assert header.loader == "pngload"  # so nobody asks libjpeg to shrink it


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_header_says_what_libvips_decodes(tmp_path: Path, kind: str) -> None:
    # Later stages decode and normalise from these facts without opening the file again.
    path = write_sample(tmp_path, kind)
    assert _facts(read_header(path)) == _libvips_header(path)


@pytest.mark.parametrize("workers", [1, 3])
def test_reading_headers_reports_each_file_read(tmp_path: Path, workers: int) -> None:
    paths = []
    for k in range(5):
        paths.append(tmp_path / f"tile_{k}.png")
        _image(3).write_to_file(str(paths[-1]))
    counted: list[int] = []
    headers = read_headers(paths, workers=workers, on_read=counted.append)
    assert [h.path for h in headers] == paths
    assert counted == [1] * 5
