"""``drift.png``: d_row, d_col, angle and quality against frame, unreliable frames marked."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..io.atomic import staged_output
from .table import DriftTable


def import_in_background() -> None:
    """Start importing matplotlib in a thread: a third of a second of the interpreter, which
    then overlaps the registrations (they run in C++ with the GIL released) instead of adding
    to the run's end. `plot_drift` waits for it through Python's import lock."""
    threading.Thread(target=_import_matplotlib, name="import matplotlib", daemon=True).start()


def _import_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.backends.backend_agg  # noqa: F401  (savefig's canvas)
    import matplotlib.figure  # noqa: F401


def plot_drift(path: Path, table: DriftTable) -> None:
    _import_matplotlib()
    from matplotlib.figure import Figure

    parameters = table.parameters()
    frames = np.arange(len(table))
    status = np.array(table.status)
    interpolated = status == "interpolated"
    flagged = status == "flagged"
    figure = Figure(figsize=(8, 7.5), dpi=100)
    axes = figure.subplots(3, 1, sharex=True)
    axes[0].plot(frames, parameters[:, 0], label="d_row")
    axes[0].plot(frames, parameters[:, 1], label="d_col")
    axes[0].set_ylabel("drift of the centre (px)")
    axes[1].plot(frames, parameters[:, 2], color="tab:green")
    axes[1].set_ylabel("angle (deg)")
    axes[2].plot(frames, table.transforms.quality, ".", color="tab:gray")
    axes[2].set_ylabel("quality (r)")
    axes[2].set_ylim(0.0, 1.05)
    axes[2].set_xlabel("frame")
    for axis in axes:
        for number in np.flatnonzero(interpolated):
            axis.axvline(number, color="tab:red", alpha=0.3, lw=1)
        for number in np.flatnonzero(flagged):
            axis.axvline(number, color="tab:orange", alpha=0.3, lw=1, ls="--")
        axis.grid(alpha=0.3)
    axes[0].legend(loc="best")
    axes[0].set_title(
        f"{table.model} drift, {len(table)} frames: {int(interpolated.sum())} interpolated (red), "
        f"{int(flagged.sum())} flagged (orange)"
    )
    # Fixed margins instead of tight_layout, which lays the figure out by drawing it once more
    # (half of the plot's time: 0.15 CPU s, a few per cent of a 50-frame run); the labels are
    # short and the tick labels at most a few digits wide.
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.07, top=0.95, hspace=0.1)
    with staged_output(path) as temporary:
        figure.savefig(temporary, format="png")
