"""End-to-end runs of ``ofs-stitch`` on the real data sets in ../shared/data (skipped when absent).

- lscm_tensile_ref_4x4: 16 real confocal tiles (1024x1024, snake order, ~10 % overlap) with the
  authors' sub-pixel positions in TileConfiguration.txt. Started from a plain grid, our positions
  must agree with theirs and our seams must be at least as good.
- mist_test_5x5_crops: 25 uint16 tiles cut from one image (column-major, ~13 px overlap, jitter
  up to ~21 px) with an exact ground truth.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import pyvips
from data_paths import SHARED_DATA
from e2e_support import file_digests, positions_in_order, run_cli

from ofs_stitch.io.positions_file import read_tile_configuration
from ofs_stitch.testing.scans import gauge_aligned_errors

DATA = SHARED_DATA
LSCM = DATA / "lscm_tensile_ref_4x4"
MIST = DATA / "mist_test_5x5_crops"

LSCM_RMS_VS_REFERENCE_PX = 1.5
SEAM_NCC_SLACK = 0.005
MIST_RMS_PX = 0.5


def _need(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"{folder} is not available")


def _stitch(folder: Path, output: Path, *options: str) -> None:
    before = file_digests(folder)
    run = run_cli([folder, "-o", output, "--stitching_mode", "preview_stitch", "-q", *options])
    assert run.status == 0, run.stderr
    # The shared data must come out untouched: no cache or output was written next to it.
    assert file_digests(folder) == before


def _grey_tiles(folder: Path, names: list[str]) -> list[np.ndarray]:
    tiles = []
    for name in names:
        pixels = pyvips.Image.new_from_file(str(folder / name)).numpy().astype(np.float64)
        tiles.append(pixels.mean(axis=2) if pixels.ndim == 3 else pixels)
    return tiles


def mean_seam_ncc(
    tiles: list[np.ndarray], positions: np.ndarray, pairs: list[tuple[int, int]]
) -> float:
    """Mean normalised cross-correlation of the overlapping pixels of ``pairs``, with the tiles
    placed at integer-rounded ``positions`` (row, col)."""
    placed = np.round(positions).astype(int)
    scores = []
    for i, j in pairs:
        d_row, d_col = placed[j] - placed[i]
        height, width = tiles[i].shape
        rows_a = slice(max(d_row, 0), height + min(d_row, 0))
        cols_a = slice(max(d_col, 0), width + min(d_col, 0))
        rows_b = slice(max(-d_row, 0), height + min(-d_row, 0))
        cols_b = slice(max(-d_col, 0), width + min(-d_col, 0))
        a, b = tiles[i][rows_a, cols_a], tiles[j][rows_b, cols_b]
        assert a.size > 0, f"tiles {i} and {j} do not overlap at these positions"
        a, b = a - a.mean(), b - b.mean()
        scores.append(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())))
    return float(np.mean(scores))


def snake_grid_neighbours(rows: int, cols: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Adjacent pairs (file indices) of a snake-ordered grid, and each file's (row, col) cell."""
    cells = []
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        cells.append((row, cols - 1 - col if row % 2 else col))
    where = {cell: k for k, cell in enumerate(cells)}
    pairs = []
    for (row, col), k in where.items():
        for neighbour in ((row, col + 1), (row + 1, col)):
            if neighbour in where:
                pairs.append((k, where[neighbour]))
    return pairs, np.array(cells)


def test_lscm_grid_start_matches_reference_and_seams_are_as_good(tmp_path: Path) -> None:
    _need(LSCM)
    entries = read_tile_configuration(LSCM / "TileConfiguration.txt")
    reference = {e.name: (e.row, e.col) for e in entries}
    names = sorted(reference)  # A01..A16: the snake order of the README
    output = tmp_path / "out"
    _stitch(LSCM, output, "--grid", "4x4", "--overlap", "0.1", "--order", "snake")
    ours = positions_in_order(output, names)
    theirs = np.array([reference[name] for name in names])

    errors = gauge_aligned_errors(ours, theirs, np.ones(len(names), bool))
    rms = float(np.sqrt(np.mean(errors**2)))
    assert rms <= LSCM_RMS_VS_REFERENCE_PX, f"RMS {rms:.3f} px from the reference positions"

    pairs, cells = snake_grid_neighbours(4, 4)
    # The snake order of the file names is the one the reference positions show.
    assert np.all(np.abs(np.round(theirs / 921.0) - cells) == 0)
    tiles = _grey_tiles(LSCM, names)
    seams_ours = mean_seam_ncc(tiles, ours, pairs)
    seams_theirs = mean_seam_ncc(tiles, theirs, pairs)
    assert len(pairs) == 24
    assert seams_ours >= seams_theirs - SEAM_NCC_SLACK, (seams_ours, seams_theirs)


def test_lscm_from_its_positions_file_measures_every_neighbour_pair(tmp_path: Path) -> None:
    # ~10 % overlaps: upstream's --minimum_overlap 0.2 measured a spanning tree (15 of 24 pairs
    # here), where no loop can catch a wrong match.
    _need(LSCM)
    output = tmp_path / "out"
    run = run_cli(
        [
            LSCM,
            "-o",
            output,
            "--stitching_mode",
            "only_correlate",
            "--positions",
            LSCM / "TileConfiguration.txt",
        ]
    )
    assert run.status == 0, run.stderr
    assert "neighbour pairs" not in run.stdout  # none left out, so nothing to say
    assert "24 overlapping pairs to correlate" in run.stdout
    upstream = run_cli(
        [
            LSCM,
            "-o",
            tmp_path / "upstream",
            "--stitching_mode",
            "only_correlate",
            "--positions",
            LSCM / "TileConfiguration.txt",
            "--minimum_overlap",
            "0.2",
        ]
    )
    assert upstream.status == 0, upstream.stderr
    assert "9 of 24 neighbour pairs overlap by less than --minimum_overlap 0.2" in upstream.stdout


def _mist_truth() -> dict[str, tuple[float, float]]:
    """{file: (row, col)} from ground_truth_positions_exact.csv (columns file,...,x_px,y_px)."""
    text = (MIST / "ground_truth_positions_exact.csv").read_text().splitlines()
    rows = list(csv.DictReader(line for line in text if not line.startswith("#")))
    return {row["file"]: (float(row["y_px"]), float(row["x_px"])) for row in rows}


def test_mist_crops_match_the_exact_ground_truth(tmp_path: Path) -> None:
    _need(MIST)
    truth = _mist_truth()
    names = sorted(truth)
    assert len(names) == 25
    output = tmp_path / "out"
    # Tiles overlap by only ~6 % (11-15 px of 183x245): the grid is given that overlap, and
    # pairs are looked for down to 2 % (upstream's 0.2 would find none).
    _stitch(
        MIST,
        output,
        "--grid",
        "5x5",
        "--order",
        "column",
        "--overlap",
        "0.06",
        "--minimum_overlap",
        "0.02",
    )
    ours = positions_in_order(output, names)
    exact = np.array([truth[name] for name in names])
    errors = gauge_aligned_errors(ours, exact, np.ones(len(names), bool))
    rms = float(np.sqrt(np.mean(errors**2)))
    worst = names[int(np.argmax(errors))]
    assert rms < MIST_RMS_PX, f"RMS {rms:.3f} px, worst {worst} {errors.max():.2f} px"
