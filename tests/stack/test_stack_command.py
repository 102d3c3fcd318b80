"""``ofs stack``: the files it writes, the inputs it takes, and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from ofs_stitch.cli.ofs import main as ofs_main
from ofs_stitch.io.exif import exif_block, parse_exif_block
from ofs_stitch.io.tables import read_table_csv_columns
from ofs_stitch.testing import focus_stacks as fs
from ofs_stitch.testing.files import v3_comment, write_tile

OUTPUTS = {"alignment.csv", "confidence.png", "depth.png", "depth.tif"}


@pytest.fixture(scope="module")
def small_stack():
    return fs.focus_stack(
        "immunohistochemistry",
        slices=5,
        noise=0.002,
        size=128,
        seed=5,
        max_shift=2.0,
        max_gain=0.03,
    )


def read(path) -> np.ndarray:
    return pyvips.Image.new_from_file(str(path)).numpy()


def test_a_png_folder_gives_every_output(tmp_path, small_stack, capsys) -> None:
    folder = tmp_path / "stack"
    fs.write_stack(folder, small_stack, suffix=".png")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert (
        ofs_main(["stack", str(folder), "--layers", "--bunches", "3", "--bunch_overlap", "1"]) == 0
    )
    out = tmp_path / "stack_stacked"
    names = {p.name for p in out.iterdir()}
    assert names == OUTPUTS | {"stack_stacked.png", "layers.tif", "bunches"}
    assert sorted(p.name for p in (out / "bunches").iterdir()) == ["bunch_000.png", "bunch_001.png"]
    fused = read(out / "stack_stacked.png")
    assert fused.dtype == np.uint8 and fused.shape == (128, 128, 3)
    assert fs.psnr(fused / 255.0, small_stack.truth, 8) > 40
    depth = read(out / "depth.tif")
    assert depth.dtype == np.float32 and 0 <= depth.min() and depth.max() <= 4
    table, columns = read_table_csv_columns(out / "alignment.csv")
    assert table.ids == tuple(f"slice_{k:03d}.png" for k in range(5))
    assert table.status[2] == "reference" and table.kind == "similarity"
    assert np.abs(columns["gain"] * small_stack.gains - 1).max() < 0.01
    assert pyvips.Image.new_from_file(str(out / "layers.tif")).get("n-pages") == 6
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in out.rglob(".*")], "no temporary file is left"
    assert "fused 5 of 5 frames" in capsys.readouterr().out


def test_16_bit_tiff_stays_16_bit_and_grey_stays_grey(tmp_path, small_stack) -> None:
    folder = tmp_path / "grey16"
    folder.mkdir()
    grey = fs.to_uint16(small_stack.frames.mean(axis=3))
    for k, frame in enumerate(grey):
        write_tile(folder / f"z{k}.tif", frame)
    assert ofs_main(["stack", str(folder), "-o", str(tmp_path / "out"), "-q"]) == 0
    fused = read(tmp_path / "out" / "grey16_stacked.tif")
    assert fused.dtype == np.uint16 and fused.ndim == 2


def test_jpeg_keeps_the_reference_frames_exif_and_z_orders_the_frames(
    tmp_path, small_stack
) -> None:
    folder = tmp_path / "jpegs"
    folder.mkdir()
    frames = fs.to_uint8(small_stack.frames)
    # Names in the opposite order to z: the metadata decides.
    for k, frame in enumerate(frames):
        comment = v3_comment(100, 200, 50 * k)
        exif = exif_block(comment, f"2024:01:01 10:00:0{k}")
        write_tile(folder / f"img_{9 - k}.jpg", frame, exif=exif, jpeg_quality=95)
    assert ofs_main(["stack", str(folder), "-q"]) == 0
    out = tmp_path / "jpegs_stacked"
    table, _ = read_table_csv_columns(out / "alignment.csv")
    assert table.ids == tuple(f"img_{9 - k}.jpg" for k in range(5))
    fused = pyvips.Image.new_from_file(str(out / "jpegs_stacked.jpg"))
    info = parse_exif_block(bytes(fused.get("exif-data")))
    assert info.date_time == "2024:01:01 10:00:02"  # the middle (reference) frame's
    depth = read(out / "depth.tif")
    assert 0 <= depth.min() and depth.max() <= 200 and depth.max() > 4  # stage z, not index


def test_a_multipage_tiff_and_reverse(tmp_path, small_stack) -> None:
    frames = fs.to_uint8(small_stack.frames)
    pages = [pyvips.Image.new_from_array(f) for f in frames]
    joined = pyvips.Image.arrayjoin(pages, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", 128)
    path = tmp_path / "stack.tif"
    joined.tiffsave(str(path))
    assert ofs_main(["stack", str(path), "--reverse", "-q", "--align", "translation"]) == 0
    out = tmp_path / "stack_stacked"
    table, _ = read_table_csv_columns(out / "alignment.csv")
    assert table.ids == tuple(f"page {k}" for k in (4, 3, 2, 1, 0))
    assert read(out / "stack_stacked.tif").shape == (128, 128, 3)


def test_a_frame_that_cannot_be_aligned_fails_the_command(tmp_path, small_stack, capsys) -> None:
    folder = tmp_path / "bad"
    frames = small_stack.frames.copy()
    frames[4] = np.random.default_rng(1).random(frames[4].shape, dtype=np.float32)
    fs.write_stack(folder, fs.FocusStack(frames, *list(small_stack.__dict__.values())[1:]))
    assert ofs_main(["stack", str(folder)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "slice_004.png" in error
    assert "--allow-misaligned" in error
    assert not (tmp_path / "bad_stacked" / "bad_stacked.png").exists()
    assert ofs_main(["stack", str(folder), "--allow-misaligned"]) == 0
    assert "warning: could not align slice_004.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setup, arguments, message",
    [
        ("missing", [], "does not exist"),
        ("one", [], "at least 2"),
        ("sizes", [], "same size"),
        ("corrupt", [], "c.png"),
        ("ok", ["--bunches", "1"], "--bunches 1"),
        ("ok", ["--method", "median"], "invalid choice: 'median'"),
        ("ok", ["--balance-mask", "0"], "balance mask"),
        ("ok", ["--tile", "8"], "--tile 8: give 16 px or more"),
        ("ok", ["--levels", "0"], "--levels 0: give 1 or more"),
        ("text", [], "multi-page TIFF"),
    ],
)
def test_user_errors_are_one_line(tmp_path, small_stack, capsys, setup, arguments, message) -> None:
    folder = tmp_path / "in"
    frames = fs.to_uint8(small_stack.frames[:3])
    if setup != "missing":
        folder.mkdir()
    if setup in ("one", "sizes", "corrupt", "ok"):
        write_tile(folder / "a.png", frames[0])
    if setup in ("sizes", "corrupt", "ok"):
        write_tile(folder / "b.png", frames[1][:100] if setup == "sizes" else frames[1])
    if setup == "corrupt":
        (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 50)
    target = folder
    if setup == "text":
        target = tmp_path / "notes.txt"
        target.write_text("hello")
    try:
        code = ofs_main(["stack", str(target), *arguments])
    except SystemExit as leaving:  # argparse's own refusals leave this way
        code = int(leaving.code or 0)
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and message in error, error
    assert "Traceback" not in error


def test_layers_hold_the_fused_image_then_every_frame_as_read(tmp_path, small_stack) -> None:
    folder = tmp_path / "grey16"
    folder.mkdir()
    grey = fs.to_uint16(small_stack.frames.mean(axis=3))
    for k, frame in enumerate(grey):
        write_tile(folder / f"z{k}.tif", frame)
    out = tmp_path / "out"
    options = ["--align", "none", "--balance", "none", "--layers", "-q", "--tile", "48"]
    assert ofs_main(["stack", str(folder), "-o", str(out), *options]) == 0
    layers = pyvips.Image.new_from_file(str(out / "layers.tif"), n=-1).numpy()
    pages = layers.reshape(len(grey) + 1, *grey.shape[1:])
    assert pages.dtype == np.uint16
    # Unaligned and unbalanced, every page after the first is its frame, sample for sample.
    assert np.array_equal(pages[1:], grey)
    assert np.array_equal(pages[0], read(out / "grey16_stacked.tif"))
    assert not [p for p in out.rglob(".*")], "no temporary file is left"
