from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from data_paths import SHARED_DATA

from ofs_stitch.errors import ImageReadError, InputError, OutputError
from ofs_stitch.io.positions_file import (
    TilePosition,
    read_positions_csv,
    read_positions_file,
    read_tile_configuration,
    tile_path,
    write_ofm_tile_configuration,
    write_tile_configuration,
)

DATA = SHARED_DATA


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_fiji_round_trip_keeps_positions(tmp_path: Path) -> None:
    names = ["tile_r00_c00.tif", "tile_r00_c01.tif", "tile (2).tif"]
    positions = np.array([[0.0, 0.0], [-0.1 / 3, 384.123456789], [1e-7, -2.5e6 / 7]])
    path = tmp_path / "TileConfiguration.txt"

    write_tile_configuration(path, names, positions)
    entries = read_tile_configuration(path)

    assert [e.name for e in entries] == names
    np.testing.assert_allclose([[e.row, e.col] for e in entries], positions, rtol=0, atol=1e-6)
    assert path.read_text().splitlines()[:5] == [
        "# Define the number of dimensions we are working on",
        "dim = 2",
        "",
        "# Define the image coordinates",
        "tile_r00_c00.tif; ; (0.0, 0.0)",
    ]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_ofm_tile_configuration_is_written_as_upstream_does(tmp_path: Path) -> None:
    (tmp_path / "OFMTileConfiguration.txt").write_text("stale")
    positions = np.array([[0.0, 0.0], [10.0, 20.0], [5.5, 40.0]])  # (row, col)

    path = write_ofm_tile_configuration(tmp_path, ["a.jpg", "b.jpg", "c.jpg"], positions)

    # Upstream writes (x, y) = (col, row) relative to the mean, as a Python tuple, then " \n".
    assert path == tmp_path / "OFMTileConfiguration.txt"
    assert path.read_text() == (
        "# Define the number of dimensions used\n"
        "dim = 2\n\n# Define the image coordinates\n"
        "a.jpg; ; (-20.0, -5.166666666666667) \n"
        "b.jpg; ; (0.0, 4.833333333333333) \n"
        "c.jpg; ; (20.0, 0.33333333333333304) \n"
    )
    entries = read_tile_configuration(path)
    np.testing.assert_allclose(
        [[e.row, e.col] for e in entries], positions - positions.mean(axis=0), atol=1e-12
    )


def test_ofm_tile_configuration_in_another_folder_names_tiles_from_there(tmp_path: Path) -> None:
    # ofs-stitch scans/day1 -o results/day1: Fiji, given results/day1, must find the tiles.
    scan = tmp_path / "scans" / "day 1"
    scan.mkdir(parents=True)
    tiles = [scan / name for name in ("a.jpg", "b.jpg")]
    for tile in tiles:
        tile.write_bytes(b"tile")
    out = tmp_path / "results" / "day1"
    out.mkdir(parents=True)

    path = write_ofm_tile_configuration(out, tiles, np.array([[0.0, 0.0], [10.0, 20.0]]))

    entries = read_tile_configuration(path)
    assert [e.name for e in entries] == ["../../scans/day 1/a.jpg", "../../scans/day 1/b.jpg"]
    for entry, tile in zip(entries, tiles, strict=True):
        assert (path.parent / entry.name).resolve() == tile.resolve()
    # Relative tiles are taken from tiles_folder; beside the file they stay bare names.
    beside = write_ofm_tile_configuration(scan, ["a.jpg", "b.jpg"], np.zeros((2, 2)))
    assert [e.name for e in read_tile_configuration(beside)] == ["a.jpg", "b.jpg"]
    again = write_ofm_tile_configuration(out, ["a.jpg"], np.zeros((1, 2)), tiles_folder=scan)
    assert [e.name for e in read_tile_configuration(again)] == ["../../scans/day 1/a.jpg"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_ofm_tile_configuration_paths_resolve_through_a_linked_output_folder(
    tmp_path: Path,
) -> None:
    scan = tmp_path / "scan"
    scan.mkdir()
    (scan / "a.jpg").write_bytes(b"tile")
    elsewhere = tmp_path / "disk" / "deep" / "out"
    elsewhere.mkdir(parents=True)
    link = tmp_path / "out"
    link.symlink_to(elsewhere, target_is_directory=True)

    path = write_ofm_tile_configuration(link, [scan / "a.jpg"], np.zeros((1, 2)))

    (entry,) = read_tile_configuration(path)
    # ".." from the link's target, which is where the operating system goes.
    assert entry.name == "../../../scan/a.jpg"
    assert (path.parent / entry.name).is_file()


def test_tile_path_prefers_the_scanned_folder_then_the_positions_files_folder(
    tmp_path: Path,
) -> None:
    scan, out = tmp_path / "scan", tmp_path / "deeper" / "out"
    scan.mkdir()
    out.mkdir(parents=True)
    (scan / "a.jpg").write_bytes(b"tile")
    listed = out / "OFMTileConfiguration.txt"
    assert tile_path(scan, listed, "a.jpg") == scan / "a.jpg"
    assert tile_path(scan, listed, "../../scan/a.jpg").resolve() == (scan / "a.jpg").resolve()
    assert tile_path(scan, listed, "missing.jpg") == scan / "missing.jpg"


def test_write_to_a_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "TileConfiguration.txt"
    with pytest.raises(OutputError, match="cannot write .*missing/TileConfiguration.txt"):
        write_tile_configuration(target, ["a.jpg"], np.zeros((1, 2)))


def test_fiji_reader_skips_comments_and_short_lines_and_reads_dim_3(tmp_path: Path) -> None:
    path = write(
        tmp_path / "TileConfiguration.registered.txt",
        (
            "# Define the number of dimensions we are working on\n"
            "  dim = 3  \n"
            "\n"
            "abc\n"
            "# Define the image coordinates\n"
            "  a.tif; ; (1.5, -2.25, 7.0)  \n"
            "b.tif;0;(100,200,0)\n"
            "dim_tile.tif; ; (3, 4, 5)\n"
        ),
    )
    assert read_tile_configuration(path) == [
        TilePosition("a.tif", row=-2.25, col=1.5),
        TilePosition("b.tif", row=200.0, col=100.0),
        TilePosition("dim_tile.tif", row=4.0, col=3.0),
    ]


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("a.tif; ; (0, 0)\n", 1, "before the 'dim = 2' header"),
        ("dim = 4\n", 1, "'dim = 2' or 'dim = 3'"),
        ("dim = 2\na.tif; (0, 0)\n", 2, "2 ';'-fields, expected 3"),
        ("dim = 2\na.tif; ; ; (0, 0)\n", 2, "4 ';'-fields, expected 3"),
        ("dim = 2\n\n; ; (0, 0)\n", 3, "no file name"),
        ("dim = 2\na.tif; ; 0, 0\n", 2, "not in brackets"),
        ("dim = 2\na.tif; ; (0, zero)\n", 2, "not 2 numbers"),
        ("dim = 2\na.tif; ; (0, 0, 0)\n", 2, "not 2 numbers"),
        ("dim = 3\na.tif; ; (0, 0)\n", 2, "not 3 numbers"),
    ],
)
def test_malformed_fiji_line_names_file_and_line(
    tmp_path: Path, body: str, line: int, problem: str
) -> None:
    path = write(tmp_path / "TileConfiguration.txt", body)
    with pytest.raises(InputError) as caught:
        read_tile_configuration(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line {line}: ")
    assert problem in message


def test_duplicate_and_empty_positions_files_are_input_errors(tmp_path: Path) -> None:
    dup = write(tmp_path / "dup.txt", "dim = 2\na.tif; ; (0, 0)\na.tif; ; (1, 1)\n")
    with pytest.raises(InputError, match="a.tif is listed twice"):
        read_tile_configuration(dup)
    empty = write(tmp_path / "empty.txt", "# nothing\ndim = 2\n")
    with pytest.raises(InputError, match="empty.txt lists no tiles"):
        read_tile_configuration(empty)


def test_missing_positions_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="cannot read positions file .*nope.txt"):
        read_positions_file(tmp_path / "nope.txt")


def test_csv_with_and_without_header(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.csv", "a.jpg,10,20\nb.jpg, -5.5 ,0\n\n")
    header = write(tmp_path / "header.csv", "File,X,Y\na.jpg,10,20\nb.jpg,-5.5,0\n")
    expected = [TilePosition("a.jpg", row=20.0, col=10.0), TilePosition("b.jpg", row=0.0, col=-5.5)]
    assert read_positions_csv(plain) == expected
    assert read_positions_file(header) == expected


def test_csv_header_selects_named_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "truth.csv",
        (
            "# a comment line\n"
            "file,grid_col,grid_row,x_px,y_px\n"
            "p1.tif,0,0,21,0\n"
            "p2.tif,0,1,14,172\n"
        ),
    )
    assert read_positions_file(path) == [
        TilePosition("p1.tif", row=0.0, col=21.0),
        TilePosition("p2.tif", row=172.0, col=14.0),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("a.jpg,1,2\nb.jpg,3\n", "line 2: 2 fields, expected 3"),
        ("a.jpg,1,2\nb.jpg,3,four\n", "line 2: 'b.jpg,3,four' is not 'file,x,y'"),
        ("name,u,v\na.jpg,1,2\n", "line 1: header 'name,u,v' lacks file, x and y"),
        ("file,x,y\na.jpg,1\n", "line 2: too few fields"),
        ("# only a comment\n", "lists no tiles"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, body: str, problem: str) -> None:
    path = write(tmp_path / "positions.csv", body)
    with pytest.raises(InputError) as caught:
        read_positions_csv(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.skipif(
    not (DATA / "lscm_tensile_ref_4x4" / "TileConfiguration.txt").exists(),
    reason="shared data lscm_tensile_ref_4x4 absent",
)
def test_reads_real_fiji_tile_configuration() -> None:
    entries = read_tile_configuration(DATA / "lscm_tensile_ref_4x4" / "TileConfiguration.txt")
    assert len(entries) == 16
    assert entries[0] == TilePosition("x100_11x11_stitch_A01_I.tif", row=-0.004288, col=-0.006607)
    assert entries[1] == TilePosition("x100_11x11_stitch_A02_I.tif", row=0.194629, col=920.870582)


@pytest.mark.skipif(
    not (DATA / "mist_test_5x5_crops" / "ground_truth_positions_exact.csv").exists(),
    reason="shared data mist_test_5x5_crops absent",
)
def test_reads_real_ground_truth_csv() -> None:
    entries = read_positions_file(DATA / "mist_test_5x5_crops" / "ground_truth_positions_exact.csv")
    assert len(entries) == 25
    assert entries[0] == TilePosition("ImageName_t01_p01.tif", row=0.0, col=21.0)
    assert entries[1] == TilePosition("ImageName_t01_p02.tif", row=172.0, col=14.0)


def test_written_file_gets_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "TileConfiguration.txt"
    write_tile_configuration(path, ["a.jpg"], np.zeros((1, 2)))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_paths_from_many_tiles_are_path_from_each(tmp_path: Path) -> None:
    from ofs_stitch.io.positions_file import path_from, paths_from

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    os.symlink(tmp_path / "a" / "b", tmp_path / "link")
    tiles = [
        tmp_path / "a" / "b" / "x.jpg",
        tmp_path / "link" / "y.jpg",
        tmp_path / "c" / "z.jpg",
        tmp_path / "a" / "w.jpg",
        tmp_path / "c" / "v.jpg",
    ]
    for folder in ("a", "link", "c", "a/b", "."):
        here = tmp_path / folder
        assert paths_from(here, tiles) == [path_from(here, tile) for tile in tiles]
