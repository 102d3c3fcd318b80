"""``ofs drift`` end to end: outputs in the input's form, the report, --apply, and one-line
errors that leave no output under a final name and the input untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ofs_stitch.cli.ofs import main as ofs
from ofs_stitch.drift.table import read_drift_csv
from ofs_stitch.testing.drift_series import DriftSeries, drifting_series

OUTPUTS = {"aligned", "drift.csv", "drift.png", "drift_report.json"}


@pytest.fixture(scope="module")
def small() -> DriftSeries:
    pytest.importorskip("skimage")
    return drifting_series(11, (128, 128), content="retina", seed=7)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_folder_of_frames(tmp_path, small, capsys) -> None:
    folder = tmp_path / "series"
    small.write_folder(folder)
    before = _digest(folder)
    assert ofs(["drift", str(folder)]) == 0
    out = tmp_path / "series_aligned"
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert sorted(p.name for p in (out / "aligned").iterdir()) == sorted(small.names())
    assert _digest(folder) == before
    table = read_drift_csv(out / "drift.csv")
    # Natural order: f2 before f10, and the drift is the truth's.
    assert table.transforms.ids == tuple(small.names())
    assert small.endpoint_errors(table.matrices).mean() < 0.15
    aligned = tifffile.imread(out / "aligned" / "f11.tif")
    assert aligned.dtype == np.uint16 and aligned.shape == small.shape
    report = json.loads((out / "drift_report.json").read_text())
    assert report["frames"] == 11 and report["frames_interpolated"] == 0
    assert report["residual_motion_after"]["mean_px"] < 0.15
    assert report["residual_motion_before"]["mean_px"] > 2
    printed = capsys.readouterr().out
    assert "residual after" in printed and "unreliable frames" in printed


def test_ome_stack_with_channels(tmp_path, small) -> None:
    # Channel 1 carries the structure; channel 0 is the same series, dimmer.
    stack = np.stack([small.frames // 4, small.frames], axis=1)
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(
        path,
        stack,
        ome=True,
        metadata={"axes": "TCYX", "PhysicalSizeX": 0.65, "PhysicalSizeY": 0.65},
    )
    out = tmp_path / "out"
    assert (
        ofs(["drift", str(path), "-o", str(out), "--channel", "1", "-q", "--canvas", "crop"]) == 0
    )
    written = out / "movie_aligned.tif"
    assert {p.name for p in out.iterdir()} == {written.name} | OUTPUTS - {"aligned"}
    with tifffile.TiffFile(written) as handle:
        assert handle.is_ome and handle.series[0].axes == "TCYX"
        assert 'PhysicalSizeX="0.65"' in handle.ome_metadata
        aligned = handle.asarray()
    assert aligned.dtype == np.uint16 and aligned.shape[:2] == (11, 2)
    # Both channels corrected alike.
    assert np.abs(aligned[:, 0].astype(int) - aligned[:, 1] // 4).max() <= 1


def test_apply_a_table_to_another_series(tmp_path, small) -> None:
    first = tmp_path / "a"
    small.write_folder(first)
    assert ofs(["drift", str(first), "-q"]) == 0
    table = tmp_path / "a_aligned" / "drift.csv"
    other = tmp_path / "b"
    small.write_folder(other, stem="g", suffix=".png")
    assert ofs(["drift", str(other), "--apply", str(table), "--integer", "-q"]) == 0
    assert (tmp_path / "b_aligned" / "aligned" / "g3.png").is_file()
    assert (
        read_drift_csv(tmp_path / "b_aligned" / "drift.csv").transforms.ids
        == read_drift_csv(table).transforms.ids
    )


def _run_fails(capsys, arguments: list[str], message: str) -> None:
    assert ofs(["drift", *arguments]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error
    assert "Traceback" not in error


def test_user_errors_are_one_line(tmp_path, small, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _run_fails(capsys, [str(empty)], "holds no frames")

    mixed = tmp_path / "mixed"
    small.write_folder(mixed)
    tifffile.imwrite(mixed / "f5.tif", small.frames[4][:100])
    _run_fails(capsys, [str(mixed), "-o", str(tmp_path / "o1")], "f5.tif is 100 x 128")
    assert not any((tmp_path / "o1").glob("drift*")) and not (tmp_path / "o1" / "aligned").exists()

    broken = tmp_path / "broken"
    small.write_folder(broken)
    (broken / "f3.tif").write_bytes(b"II*\x00 not really a tiff")
    _run_fails(capsys, [str(broken), "-o", str(tmp_path / "o2")], "f3.tif")

    short = tmp_path / "short"
    small.write_folder(short)
    assert ofs(["drift", str(short), "-q"]) == 0
    (short / "f11.tif").unlink()
    _run_fails(
        capsys,
        [
            str(short),
            "-o",
            str(tmp_path / "o3"),
            "--apply",
            str(tmp_path / "short_aligned" / "drift.csv"),
        ],
        "has 11 frames but the series has 10",
    )
    _run_fails(capsys, [str(short), "--reference", "mean:x"], "not a whole number")
