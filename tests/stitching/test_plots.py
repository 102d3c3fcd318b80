"""The diagnostic PNGs: valid files of the documented size that show what they claim to."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.errors import OutputError
from ofs_stitch.stitching import plots


def pairs(n_good: int, n_bad: int) -> tuple[list[PairMeasurement], list[str | None]]:
    """Good pairs (accepted) and bad ones (rejected for their quality)."""
    rng = np.random.default_rng(7)
    measurements: list[PairMeasurement] = []
    rejected: list[str | None] = []
    for k in range(n_good + n_bad):
        good = k < n_good
        error = rng.normal(0.0, 0.5 if good else 200.0, 2)
        measurements.append(
            PairMeasurement(
                i=k,
                j=k + 1,
                shift=(1.0 + error[0], 480.0 + error[1]),
                expected_shift=(1.0, 480.0),
                # Nothing competes with the peak, so quality is r (to 1e-6).
                pearson_r=float(rng.uniform(0.5, 1.0) if good else rng.uniform(0.0, 0.3)),
                peak_ratio=1e6,
            )
        )
        rejected.append(None if good else "quality")
    return measurements, rejected


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def count(rgb_image: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int(np.all(rgb_image == np.array(rgb, dtype=np.uint8), axis=-1).sum())


QUALITY_RGB = plots.REJECTED_STYLE["quality"][0]


def test_correlations_plot_shows_accepted_and_rejected_pairs(tmp_path):
    measurements, rejected = pairs(60, 15)
    path = tmp_path / "stitching_correlations.png"
    plots.plot_correlations(
        measurements,
        rejected,
        path,
        thresholds={"min_peak_quality": 0.4, "max_stage_discrepancy": 20.0},
    )
    image = pixels(path)
    width, height = plots.CORRELATIONS_SIZE_PX
    assert image.shape == (height, width, 3)
    # Every filled marker has a core of its exact colour (edges are antialiased): at least
    # ~10 pixels per marker, allowing for overlaps.
    assert count(image, plots.ACCEPTED_RGB) > 60 * 5
    assert count(image, QUALITY_RGB) > 15 * 5
    # Two dashed lines across the axes.
    assert count(image, plots.THRESHOLD_RGB) > 400
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_correlations_plot_without_rejections_or_thresholds(tmp_path):
    measurements, rejected = pairs(40, 0)
    path = tmp_path / "c.png"
    plots.plot_correlations(measurements, rejected, path, thresholds=None)
    image = pixels(path)
    assert count(image, plots.ACCEPTED_RGB) > 40 * 5
    for rgb, _ in plots.REJECTED_STYLE.values():
        assert count(image, rgb) == 0  # no rejected markers, no legend entry
    assert count(image, plots.THRESHOLD_RGB) == 0


@pytest.mark.parametrize("limits", [(0.01, 1000.0), (2.0, 9.0)], ids=["decades", "short"])
def test_the_log_axis_labels_matplotlibs_ticks_as_plain_numbers(limits):
    # The same ticks as matplotlib's default log labels (on a short range, minor ticks too),
    # written 0.01 or 3 instead of being typeset by mathtext.
    labelled = {}
    for plain in (False, True):
        figure = plots._new_figure(plots.CORRELATIONS_SIZE_PX)
        ax = figure.add_subplot()
        ax.set_yscale("log")
        if plain:
            ax.yaxis.set_major_formatter(plots._plain_log_formatter())
            ax.yaxis.set_minor_formatter(plots._plain_log_formatter(labelOnlyBase=False))
        ax.set_ylim(*limits)
        figure.canvas.draw()
        labelled[plain] = {
            round(float(t.get_position()[1]), 6): t.get_text()
            for t in ax.get_yticklabels(which="both")
            if t.get_text()
        }
    assert set(labelled[True]) == set(labelled[False]) and len(labelled[True]) >= 2
    for value, text in labelled[True].items():
        assert text == f"{value:g}" and "$" not in text


def test_correlations_plot_survives_nan_zero_and_no_pairs(tmp_path):
    measurements, rejected = pairs(3, 1)
    blank = PairMeasurement(
        i=9, j=10, shift=(0.0, 0.0), expected_shift=(0.0, 0.0), pearson_r=math.nan, peak_ratio=2.0
    )
    assert math.isnan(blank.quality)
    exact = PairMeasurement(  # discrepancy 0
        i=11, j=12, shift=(5.0, 5.0), expected_shift=(5.0, 5.0), pearson_r=1.0, peak_ratio=9.0
    )
    plots.plot_correlations(
        [*measurements, blank, exact], [*rejected, "quality", None], tmp_path / "a.png"
    )
    plots.plot_correlations([], [], tmp_path / "b.png")
    assert pixels(tmp_path / "a.png").shape[:2] == plots.CORRELATIONS_SIZE_PX[::-1]
    assert pixels(tmp_path / "b.png").shape[:2] == plots.CORRELATIONS_SIZE_PX[::-1]


def test_correlations_plot_rejects_mismatched_inputs(tmp_path):
    measurements, rejected = pairs(3, 0)
    with pytest.raises(ValueError, match="3 measurements but 2 rejection reasons"):
        plots.plot_correlations(measurements, rejected[:2], tmp_path / "x.png")
    with pytest.raises(ValueError, match="min_quality"):
        plots.plot_correlations(
            measurements, rejected, tmp_path / "x.png", thresholds={"min_quality": 0.5}
        )
    with pytest.raises(ValueError, match="'blurry'"):
        plots.plot_correlations(measurements, [None, "blurry", None], tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 measurements but 2 corrected"):
        plots.plot_correlations(
            measurements, rejected, tmp_path / "x.png", corrected_discrepancy=[1.0, 2.0]
        )
    assert not (tmp_path / "x.png").exists()


def test_each_reason_for_rejection_has_its_marker_and_legend_entry(tmp_path):
    measurements, accepted = pairs(30, 0)
    reasons = [*plots.REJECTED_STYLE] * 4
    extra, _ = pairs(0, len(reasons))
    figure_path = tmp_path / "c.png"
    plots.plot_correlations([*measurements, *extra], [*accepted, *reasons], figure_path)
    image = pixels(figure_path)
    for rgb, _ in plots.REJECTED_STYLE.values():
        assert count(image, rgb) > 4 * 5
    # The legend names each reason with its count (drawn on the figure, read back here).
    figure = plots._correlations_figure(
        plots.PairScores.of([*measurements, *extra]), [*accepted, *reasons]
    )
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == [
        "accepted (30)",
        "rejected: quality (4)",
        "rejected: discrepancy (4)",
        "rejected: loop inconsistency (4)",
    ]


def test_automatic_thresholds_are_lines_on_the_scale_they_judged(tmp_path):
    # Automatic mode judges the discrepancy left after the affine stage fit, and only below
    # the convincing quality: the plot shows that discrepancy and a line across those qualities.
    measurements, rejected = pairs(20, 5)
    corrected = [0.5 + 0.1 * k for k in range(len(measurements))]
    thresholds = {
        "min_peak_quality": 0.15,
        "max_stage_discrepancy": 4.0,
        "convincing_quality": 0.5,
    }
    figure = plots._correlations_figure(
        plots.PairScores.of(measurements, corrected), rejected, thresholds=thresholds
    )
    ax = figure.axes[0]
    assert "affine" in ax.get_ylabel()
    drawn = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    assert sorted(drawn) == pytest.approx(sorted(corrected))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"min quality 0.15", "max discrepancy 4 px (below quality 0.5)"}
    limit = lines["max discrepancy 4 px (below quality 0.5)"]
    assert list(limit.get_xdata()) == [0.15, 0.5] and list(limit.get_ydata()) == [4.0, 4.0]
    # Manual thresholds: the plain discrepancy, the limit across every quality above the minimum.
    figure = plots._correlations_figure(
        plots.PairScores.of(measurements),
        rejected,
        thresholds={"min_peak_quality": 0.3, "max_stage_discrepancy": 9.0},
    )
    ax = figure.axes[0]
    assert "affine" not in ax.get_ylabel()
    limit = next(line for line in ax.get_lines() if line.get_label().startswith("max"))
    assert list(limit.get_xdata()) == [0.3, plots.X_LIMITS[1]]


def grid_positions(rows: int, cols: int, step=(336.0, 448.0)) -> np.ndarray:
    # Snake order, as OpenFlexure scans.
    order = [(r, c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]
    return np.array([(r * step[0], c * step[1]) for r, c in order])


def test_inputs_plot_draws_every_tile_and_the_path(tmp_path):
    positions = grid_positions(5, 5)
    names = [f"img_{k}.jpg" for k in range(25)]
    path = tmp_path / "stitching_inputs.png"
    plots.plot_inputs(positions, (480, 640), names, path)
    image = pixels(path)
    # The scan is 5*448+192 px wide and 5*336+144 high: landscape, long side fixed.
    assert image.shape == (round(1000 * 1824 / 2432), 1000, 3)
    assert count(image, plots.TILE_EDGE_RGB) > 25 * 50  # outlines
    assert count(image, plots.PATH_RGB) > 24 * 10  # arrows between consecutive tiles

    figure = plots._draw_inputs(positions, (480, 640), names)
    ax = figure.axes[0]
    labels = tile_labels(ax)
    # One label per tile, in capture order, on its centre (the first: (320, 240)).
    np.testing.assert_array_equal(labels.get_offsets(), positions[:, ::-1] + (320.0, 240.0))
    # Numbers of two digits are wider than those of one, each centred on its tile.
    widths = [path.get_extents().width for path in labels.get_paths()]
    assert min(widths[10:]) > 1.5 * max(widths[:10])
    for path in labels.get_paths():
        box = path.get_extents()
        assert abs(box.x0 + box.x1) < 0.2 * box.width and abs(box.y0 + box.y1) < 0.2 * box.height
    assert ax.yaxis_inverted()  # rows grow downwards, like the mosaic
    assert not ax.texts


def tile_labels(ax):  # type: ignore[no-untyped-def]
    (labels,) = [c for c in ax.collections if c.get_gid() == plots.TILE_LABELS_GID]
    return labels


def test_inputs_plot_of_a_long_strip_thins_its_labels(tmp_path):
    positions = np.array([(0.0, 448.0 * k) for k in range(150)])
    names = [f"img_{k}.jpg" for k in range(150)]
    plots.plot_inputs(positions, (480, 640), names, tmp_path / "s.png")
    assert pixels(tmp_path / "s.png").shape == (plots.INPUTS_SHORT_SIDE_MIN_PX, 1000, 3)
    figure = plots._draw_inputs(positions, (480, 640), names)
    # Label k is at tile k's centre: the labelled tiles, from the label positions.
    centres = tile_labels(figure.axes[0]).get_offsets()[:, 0]
    labels = np.rint((centres - 320.0) / 448.0).astype(int).tolist()
    assert 10 <= len(labels) < 150
    assert labels[0] == 0 and labels[-1] == 149
    assert "not to scale" in figure.axes[0].get_title()


def test_inputs_plot_rejects_mismatched_names(tmp_path):
    with pytest.raises(ValueError, match="2 positions but 1 names"):
        plots.plot_inputs(np.zeros((2, 2)), (10, 10), ["a.jpg"], tmp_path / "x.png")


def test_unwritable_output_raises_output_error(tmp_path):
    measurements, rejected = pairs(2, 0)
    with pytest.raises(OutputError, match="missing"):
        plots.plot_correlations(measurements, rejected, tmp_path / "missing" / "c.png")


def test_matplotlib_is_imported_lazily_and_pyplot_never(tmp_path):
    # A fresh interpreter: this test session may have imported matplotlib already.
    script = f"""
import sys
from pathlib import Path
import ofs_stitch.stitching.plots as plots
from ofs_stitch.core.matches import PairMeasurement
assert "matplotlib" not in sys.modules, "importing ofs_stitch.stitching.plots imported matplotlib"
m = PairMeasurement(
    i=0, j=1, shift=(1.0, 2.0), expected_shift=(1.0, 2.5), pearson_r=0.9, peak_ratio=5.0
)
plots.plot_correlations([m], [None], Path({str(tmp_path / "c.png")!r}))
assert "matplotlib" in sys.modules
assert "matplotlib.pyplot" not in sys.modules, "plotting imported pyplot"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(plots.__file__).parents[1])},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
