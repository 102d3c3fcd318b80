"""The plot worker process: jobs in, PNGs out, failures as one line."""

from __future__ import annotations

import math
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.errors import OutputError
from ofs_stitch.stitching import plots as draw_plots
from ofs_stitch.stitching.plot_worker import PlotProcess


def pair(
    i: int,
    j: int,
    shift: tuple[float, float],
    expected_shift: tuple[float, float],
    pearson_r: float = 0.0,
    peak_ratio: float = 0.0,
) -> PairMeasurement:
    return PairMeasurement(
        i=i,
        j=j,
        shift=shift,
        expected_shift=expected_shift,
        pearson_r=pearson_r,
        peak_ratio=peak_ratio,
    )


def test_worker_draws_both_plots(tmp_path: Path) -> None:
    plots = PlotProcess()
    positions = np.array([[0.0, 0.0], [0.0, 448.0], [336.0, 0.0]])
    plots.inputs(positions, (480, 640), ["a.jpg", "b.jpg", "c.jpg"], tmp_path / "inputs.png")
    pairs = [
        pair(0, 1, (0.5, 447.0), (0.0, 448.0), 0.95, 8.0),
        pair(0, 2, (40.0, 9.0), (336.0, 0.0)),
    ]
    plots.correlations(pairs, [None, "quality"], tmp_path / "pairs.png", {"min_peak_quality": 0.15})
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


def test_a_job_that_cannot_be_encoded_fails_finish_in_one_line(tmp_path: Path) -> None:
    # Jobs are encoded on the sender thread: what that raises must still reach the run.
    plots = PlotProcess()
    pairs = [pair(0, 1, (0.5, 447.0), (0.0, 448.0), 0.95, 8.0)]
    plots.correlations(pairs, [None], tmp_path / "pairs.png", {"min_peak_quality": object()})  # type: ignore[dict-item]
    with pytest.raises(OutputError) as raised:
        plots.finish()
    message = str(raised.value)
    assert "\n" not in message
    assert "not JSON serializable" in message
    assert not (tmp_path / "pairs.png").exists()


def _many_pairs(count: int) -> list[PairMeasurement]:
    return [pair(k, k + 1, (0.5, 447.0), (0.0, 448.0), 0.95, 8.0) for k in range(count)]


def test_a_job_larger_than_the_pipe_does_not_stall_the_run(tmp_path: Path) -> None:
    # With the worker frozen, nothing reads the pipe: sending must still return at once (a
    # blocking write would wait until the worker drew its previous plot).
    plots = PlotProcess()
    worker = plots._process.pid
    os.kill(worker, signal.SIGSTOP)
    try:
        pairs = _many_pairs(4000)  # about 180 kB of JSON; a pipe holds 64 kB
        sender = threading.Thread(
            target=plots.correlations,
            args=(pairs, [None] * len(pairs), tmp_path / "pairs.png", {}),
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
    plots.correlations(pairs, [None] * len(pairs), tmp_path / "pairs.png", {})
    stopper = threading.Thread(target=plots.abort)
    stopper.start()
    stopper.join(timeout=30)
    assert not stopper.is_alive()
    assert not (tmp_path / "pairs.png").exists()


def test_the_workers_plot_is_the_one_drawn_in_process(tmp_path: Path) -> None:
    # The measurements reach the worker as JSON records: every figure must survive the trip,
    # including the NaN correlation of a blank overlap and a failed pair's zeros.
    rng = np.random.default_rng(3)
    pairs = [
        pair(k, k + 1, (rng.normal(0, 3), 448 + rng.normal(0, 3)), (0.0, 448.0), r, ratio)
        for k, (r, ratio) in enumerate(zip(rng.uniform(0, 1, 40), rng.uniform(1, 30, 40)))
    ]
    pairs += [
        pair(50, 51, (1.0, 2.0), (0.0, 448.0), math.nan, 3.0),
        pair(52, 53, (0.0, 0.0), (0.0, 0.0)),
    ]
    reasons = [*draw_plots.REJECTED_STYLE]
    rejected = [None if m.quality > 0.3 else reasons[k % 3] for k, m in enumerate(pairs)]
    thresholds = {"min_peak_quality": 0.3, "max_stage_discrepancy": 8.0}
    worker = PlotProcess()
    worker.correlations(pairs, rejected, tmp_path / "worker.png", thresholds)
    # The automatic thresholds' figure: the corrected discrepancy (NaN included) and the line
    # that stops at the convincing quality.
    corrected = [0.3 * k for k in range(len(pairs) - 1)] + [math.nan]
    automatic = {**thresholds, "convincing_quality": 0.5}
    worker.correlations(pairs, rejected, tmp_path / "worker_auto.png", automatic, corrected)
    worker.finish()
    draw_plots.plot_correlations(pairs, rejected, tmp_path / "here.png", thresholds=thresholds)
    draw_plots.plot_correlations(
        pairs,
        rejected,
        tmp_path / "here_auto.png",
        thresholds=automatic,
        corrected_discrepancy=corrected,
    )
    for names in (("worker.png", "here.png"), ("worker_auto.png", "here_auto.png")):
        drawn = [np.asarray(Image.open(tmp_path / name).convert("RGB")) for name in names]
        assert drawn[0].shape == (600, 800, 3)
        assert np.array_equal(drawn[0], drawn[1])
