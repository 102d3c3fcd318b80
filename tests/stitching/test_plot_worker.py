"""The plot worker process: jobs in, PNGs out, failures as one line."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.errors import OutputError
from ofs_stitch.stitching.plot_worker import PlotProcess


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


def _many_pairs(count: int) -> list[PairMeasurement]:
    return [
        PairMeasurement(k, k + 1, (0.5, 447.0), (0.0, 448.0), 0.95, 8.0, 0.83) for k in range(count)
    ]


def test_a_job_larger_than_the_pipe_does_not_stall_the_run(tmp_path: Path) -> None:
    # With the worker frozen, nothing reads the pipe: sending must still return at once (a
    # blocking write would wait until the worker drew its previous plot).
    plots = PlotProcess()
    worker = plots._process.pid
    os.kill(worker, signal.SIGSTOP)
    try:
        pairs = _many_pairs(4000)  # about 1 MB of JSON; a pipe holds 64 kB
        sender = threading.Thread(
            target=plots.correlations,
            args=(pairs, [True] * len(pairs), tmp_path / "pairs.png", {}),
        )
        sender.start()
        sender.join(timeout=30)
        returned = not sender.is_alive()
    finally:
        os.kill(worker, signal.SIGCONT)
    plots.finish()
    assert returned
    assert (tmp_path / "pairs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_abort_with_jobs_still_queued_returns(tmp_path: Path) -> None:
    plots = PlotProcess()
    worker = plots._process.pid
    os.kill(worker, signal.SIGSTOP)
    pairs = _many_pairs(4000)
    plots.correlations(pairs, [True] * len(pairs), tmp_path / "pairs.png", {})
    stopper = threading.Thread(target=plots.abort)
    stopper.start()
    stopper.join(timeout=30)
    assert not stopper.is_alive()
    assert not (tmp_path / "pairs.png").exists()
