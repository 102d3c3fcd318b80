"""The plot worker process: jobs in, PNGs out, failures as one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.errors import OutputError
from ofs_stitch.measurements import PairMeasurement
from ofs_stitch.plot_process import PlotProcess


def test_worker_draws_both_plots(tmp_path: Path) -> None:
    plots = PlotProcess()
    positions = np.array([[0.0, 0.0], [0.0, 448.0], [336.0, 0.0]])
    plots.inputs(positions, (480, 640), ["a.jpg", "b.jpg", "c.jpg"], tmp_path / "inputs.png")
    pairs = [
        PairMeasurement(0, 1, (0.5, 447.0), (0.0, 448.0), 0.95, 8.0, 0.83),
        PairMeasurement(0, 2, (40.0, 9.0), (336.0, 0.0), 0.05, 1.1, 0.0),
    ]
    plots.correlations(pairs, [True, False], tmp_path / "pairs.png", {"min_peak_quality": 0.15})
    plots.finish()
    for name in ("inputs.png", "pairs.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_worker_failure_is_one_line_naming_the_file(tmp_path: Path) -> None:
    plots = PlotProcess()
    target = tmp_path / "missing-folder" / "inputs.png"
    plots.inputs(np.zeros((2, 2)) + [[0, 0], [0, 448]], (480, 640), ["a", "b"], target)
    with pytest.raises(OutputError) as raised:
        plots.finish()
    message = str(raised.value)
    assert "\n" not in message
    assert "inputs.png" in message
