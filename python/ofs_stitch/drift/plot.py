"""``drift.png``: d_row, d_col, angle and quality against frame, unreliable frames marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.atomic import staged_output
from .table import DriftTable


def plot_drift(path: Path, table: DriftTable) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
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
    figure.tight_layout()
    with staged_output(path) as temporary:
        figure.savefig(temporary, format="png")
