"""Reading a folder of frames: plain grey TIFFs by tifffile, everything else by libvips, the
same pixels either way and the same one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import tifffile

from ofs_stitch.drift.frames import open_frames
from ofs_stitch.errors import ImageReadError, InputError
from ofs_stitch.io.decode import read_pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_plain_tiffs_read_as_libvips_reads_them(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(3)
    frames = [(rng.random((20, 30)) * 200).astype(dtype) for _ in range(3)]
    folder = tmp_path / "series"
    folder.mkdir()
    for number, frame in enumerate(frames):
        tifffile.imwrite(folder / f"f{number}.tif", frame)
    series = open_frames(folder)
    for number, frame in enumerate(frames):
        read = series.read(number, 0)
        assert read.dtype == frame.dtype
        np.testing.assert_array_equal(read, frame)
        np.testing.assert_array_equal(read, read_pixels(folder / f"f{number}.tif"))


def test_unusual_tiffs_go_to_libvips(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    grey = (np.arange(600) % 251).astype(np.uint8).reshape(20, 30)
    # Inverted grey (min-is-white): libvips turns it into ordinary grey, tifffile would not.
    tifffile.imwrite(folder / "f0.tif", grey, photometric="miniswhite")
    pyvips.Image.new_from_array(grey).tiffsave(str(folder / "f1.tif"))
    series = open_frames(folder)
    np.testing.assert_array_equal(series.read(0, 0), read_pixels(folder / "f0.tif"))
    np.testing.assert_array_equal(series.read(1, 0), grey)


def test_rgb_and_damaged_tiffs_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    tifffile.imwrite(folder / "f0.tif", np.zeros((20, 30), np.uint16))
    tifffile.imwrite(folder / "f1.tif", np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    (folder / "f2.tif").write_bytes(b"II*\x00garbage")
    series = open_frames(folder)
    with pytest.raises(InputError, match=r"f1\.tif has 3 bands"):
        series.read(1, 0)
    with pytest.raises(ImageReadError, match=r"f2\.tif"):
        series.read(2, 0)
