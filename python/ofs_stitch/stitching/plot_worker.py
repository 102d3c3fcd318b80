"""Drawing the diagnostic plots in a helper process.

matplotlib holds the GIL while it imports (0.4 s) and draws, so plotting in a thread slowed
pair measurement and rendering by as much. A separate process uses the core those leave idle.
Jobs go to it as JSON lines on stdin, encoded and written by a small thread: a job bigger than
the pipe's buffer (the correlations of a few thousand pairs) would otherwise stall the run until
the worker finished its previous plot, and the encoding is off the run's own thread. A job
carries only what its plot shows. `finish` waits for it and turns a failure into one line.
"""

from __future__ import annotations

import gc
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.matches import PairMeasurement
from ..errors import OutputError

if TYPE_CHECKING:
    import numpy as np

# The stitching modes that end before the plots are drawn (stage_stitch only previews the
# stage positions, only_correlate stops after measuring pairs): no helper is needed for them.
MODES_WITHOUT_PLOTS = ("stage_stitch", "only_correlate")


class PlotProcess:
    """A running plot worker; send it jobs, then `finish` (or `abort`) it."""

    def __init__(self) -> None:
        # One BLAS thread: the plots need no parallel linear algebra, and OpenBLAS's idle
        # workers spin for 0.1 CPU-s at start-up (see command.py).
        environment = dict(os.environ)
        environment.setdefault("OPENBLAS_NUM_THREADS", "1")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ofs_stitch.stitching.plot_worker"],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Each job as the call that makes it: the sender thread encodes it.
        self._jobs: queue.SimpleQueue[Callable[[], dict[str, Any]] | None] = queue.SimpleQueue()
        self._failure: str | None = None  # what encoding a job raised
        self._sender = threading.Thread(
            target=self._send_jobs, name="ofs-stitch-plot-jobs", daemon=True
        )
        self._sender.start()

    def _send(self, make_job: Callable[[], dict[str, Any]]) -> None:
        """Queue the job ``make_job()`` returns; it is called on the sender thread, so what
        it reads must not change after this call."""
        self._jobs.put(make_job)

    def _send_jobs(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        while (make_job := self._jobs.get()) is not None:
            try:
                line = json.dumps(make_job()) + "\n"
            except Exception as error:  # reported by finish()
                self._failure = self._failure or f"{type(error).__name__}: {error}"
                continue
            try:
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # the worker failed or was stopped; finish() reports why

    def inputs(
        self,
        stage_positions_px: np.ndarray,
        tile_shape: tuple[int, int],
        names: Sequence[str],
        path: Path,
    ) -> None:
        self._send(
            lambda: {
                "plot": "inputs",
                # Plain floats, without numpy: the command starts this helper before it
                # loads numpy (see command.py).
                "stage_positions_px": [[float(r), float(c)] for r, c in stage_positions_px],
                "tile_shape": list(tile_shape),
                "names": list(names),
                "path": str(path),
            }
        )

    def correlations(
        self,
        measurements: Sequence[PairMeasurement],
        rejected: Sequence[str | None],
        path: Path,
        thresholds: Mapping[str, float | None],
        corrected_discrepancy: Sequence[float] | None = None,
    ) -> None:
        """See `plots.plot_correlations`. Only what the plot shows of each pair is sent (two
        numbers, not the whole measurement: at 3,150 pairs encoding those took 0.04 s of the
        run's interpreter and decoding them 0.05-0.09 s of the worker's)."""
        self._send(
            lambda: {
                "plot": "correlations",
                "quality": [m.quality for m in measurements],
                "discrepancy": (
                    [m.stage_discrepancy for m in measurements]
                    if corrected_discrepancy is None
                    else [float(d) for d in corrected_discrepancy]
                ),
                "corrected": corrected_discrepancy is not None,
                "rejected": list(rejected),
                "path": str(path),
                "thresholds": dict(thresholds),
            }
        )

    def finish(self) -> None:
        """Wait for every job; raise OutputError (one line) if the worker failed."""
        self._jobs.put(None)
        self._sender.join()
        _, errors = self._process.communicate()
        if self._failure is not None:
            raise OutputError(f"could not draw the diagnostic plots: {self._failure}")
        if self._process.returncode != 0:
            lines = [line for line in errors.strip().splitlines() if line.strip()]
            raise OutputError(
                "could not draw the diagnostic plots: "
                + (lines[-1] if lines else f"exit status {self._process.returncode}")
            )

    def abort(self) -> None:
        """Stop the worker (a no-op once it has finished)."""
        if self._process.returncode is None:
            self._process.kill()
            self._jobs.put(None)
            self._process.communicate()


def _run_jobs() -> None:
    import numpy as np

    from .plots import PairScores, load_matplotlib, plot_inputs, plot_pair_scores

    # Import matplotlib (the slowest part of plotting) before the first job arrives: the
    # process starts with the run, while the main process is still reading the scan.
    load_matplotlib()
    for line in sys.stdin:
        job = json.loads(line)
        path = Path(job["path"])
        if job["plot"] == "inputs":
            plot_inputs(
                np.array(job["stage_positions_px"], float).reshape(-1, 2),
                (int(job["tile_shape"][0]), int(job["tile_shape"][1])),
                job["names"],
                path,
            )
        else:
            plot_pair_scores(
                PairScores(
                    np.array(job["quality"], float),
                    np.array(job["discrepancy"], float),
                    bool(job["corrected"]),
                ),
                job["rejected"],
                path,
                thresholds=job["thresholds"],
            )


if __name__ == "__main__":
    # The plots are the least urgent work of a run: let pair measurement and rendering have
    # the cores first, and draw in the gaps they leave.
    # (Not SCHED_IDLE: behind a busy microscope server it would hardly ever run, and an
    # unprivileged process cannot leave that class again when the run waits for it.)
    os.nice(10)
    # A short-lived process that imports matplotlib and draws two figures: the cyclic garbage
    # collector, run again and again over the objects the import creates, cost a tenth of its
    # CPU time and would free a few MB at most.
    gc.disable()
    status = 0
    try:
        _run_jobs()
    except Exception as error:  # reported by PlotProcess.finish as one line
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        status = 1
    # Leave without the interpreter's shutdown: with matplotlib loaded, tearing down the modules
    # and the final garbage collection take 0.1 s, and the run waits for this process to end.
    # Each plot is already in its file (written and renamed by plot_*), so nothing is lost.
    sys.stderr.flush()
    os._exit(status)
