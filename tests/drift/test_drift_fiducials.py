"""--fiducials: the C++ Gaussian fit, and the drift from particle tracks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ofs_stitch import _core
from ofs_stitch.cli.ofs import main as ofs
from ofs_stitch.drift.fiducials import estimate_from_fiducials
from ofs_stitch.drift.frames import ArrayFrames


def test_gaussian_fit_finds_centre_width_and_level() -> None:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:40, 0:50]
    truth = [(12.3, 20.8, 1.4, 800.0), (27.6, 33.1, 2.1, 300.0)]
    image = np.full((40, 50), 120.0)
    for r, c, s, a in truth:
        image += a * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s * s))
    noisy = (image + rng.normal(0, 2.0, image.shape)).astype(np.float32)
    fits = _core.spots.fit_gaussians(noisy, np.array([[12.0, 21.0], [28.0, 33.0]]), 5, 1.5, 1)
    for fitted, (r, c, s, a) in zip(fits, truth, strict=True):
        assert fitted[7] == 1.0
        assert abs(fitted[1] - r) < 0.02 and abs(fitted[2] - c) < 0.02
        assert abs(fitted[3] - s) < 0.05 and abs(fitted[0] - a) / a < 0.03
        assert abs(fitted[4] - 120) < 3
    # A start too near the edge for its window is no fit.
    assert _core.spots.fit_gaussians(noisy, np.array([[2.0, 2.0]]), 5, 1.5, 1)[0, 7] == 0.0


def test_rigid_drift_from_particles(hubble_series) -> None:
    result = estimate_from_fiducials(
        ArrayFrames.of(hubble_series.frames), channel=0, model="rigid", particles=None
    )
    assert result.particles >= 20
    errors = hubble_series.endpoint_errors(result.table.matrices)
    assert errors.mean() <= 0.03 and errors.max() <= 0.08
    assert result.table.status.count("interpolated") == 0


def test_command_with_fiducials_writes_tracks(tmp_path, hubble_series) -> None:
    folder = tmp_path / "spots"
    hubble_series.write_folder(folder)
    assert ofs(["drift", str(folder), "--fiducials", "auto", "-q"]) == 0
    out = tmp_path / "spots_aligned"
    with open(out / "tracks.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    particles = {int(r["particle"]) for r in rows}
    assert len(rows) == 12 * len(particles)
    assert {r["frame"] for r in rows} == {str(k) for k in range(12)}
    report = json.loads((out / "drift_report.json").read_text())
    assert report["reference"] == "fiducials"
    assert report["residual_motion_after"]["mean_px"] < 0.1


def test_fiducials_from_a_csv_and_too_few(tmp_path, hubble_series, capsys) -> None:
    folder = tmp_path / "spots"
    hubble_series.write_folder(folder)
    auto = estimate_from_fiducials(
        ArrayFrames.of(hubble_series.frames), channel=0, model="rigid", particles=None
    )
    first = [r.split(",") for r in auto.tracks_csv.splitlines()[1:] if r.startswith("0,")]
    listed = tmp_path / "particles.csv"
    listed.write_text("x,y\n" + "".join(f"{r[3]},{r[2]}\n" for r in first[:10]))
    assert (
        ofs(["drift", str(folder), "--fiducials", str(listed), "-q", "-o", str(tmp_path / "o")])
        == 0
    )
    few = tmp_path / "few.csv"
    few.write_text("x,y\n10,10\n")
    assert ofs(["drift", str(folder), "--fiducials", str(few), "-o", str(tmp_path / "o2")]) == 2
    assert "fiducial particles" in capsys.readouterr().err
    with pytest.raises(Exception, match="x and y"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        estimate_from_fiducials(
            ArrayFrames.of(hubble_series.frames),
            channel=0,
            model="rigid",
            particles=tmp_path / "bad.csv",
        )
