"""Diagnostic plots: ``stitching_correlations.png`` and ``stitching_inputs.png``.

matplotlib is imported inside the functions (importing it costs ~0.3 s and is not needed by a run
that makes no plots), and figures are drawn on ``matplotlib.figure.Figure`` with an explicit Agg
canvas: no pyplot, so no global figure registry and no backend switch leaks into the caller.
Both images have a fixed pixel size (no ``bbox_inches="tight"``), so they are cheap and
predictable.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..core.matches import PairMeasurement
from ..errors import OutputError
from ..io.atomic import temporary_tag
from .thresholds import (
    REJECTED_AS_LOOP_INCONSISTENT,
    REJECTED_FOR_DISCREPANCY,
    REJECTED_FOR_QUALITY,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
CORRELATIONS_SIZE_PX = (800, 600)  # (width, height)
INPUTS_LONG_SIDE_PX = 1000
INPUTS_SHORT_SIDE_MIN_PX = 400
MAX_TRUE_ASPECT = 4.0
X_LIMITS = (-0.02, 1.02)  # the quality axis of the correlations plot

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies; the markers
# differ too (disc / cross / triangle / diamond).
ACCEPTED_RGB = (0, 114, 178)  # blue
# Rejected pairs by reason (the words of thresholds.REJECTION_REASONS): colour and marker.
REJECTED_STYLE: dict[str, tuple[tuple[int, int, int], str]] = {
    REJECTED_FOR_QUALITY: ((213, 94, 0), "X"),  # vermillion
    REJECTED_FOR_DISCREPANCY: ((230, 159, 0), "^"),  # orange
    REJECTED_AS_LOOP_INCONSISTENT: ((204, 121, 167), "D"),  # reddish purple
}
THRESHOLD_RGB = (80, 80, 110)  # slate: not a neutral grey, which antialiased text makes
TILE_EDGE_RGB = (0, 114, 178)
PATH_RGB = (213, 94, 0)

# Discrepancies span 0.01 px (good pairs) to thousands (wrong peaks): a log axis shows both ends.
# Values below this floor (including exact zeros) are drawn at the floor.
DISCREPANCY_FLOOR_PX = 0.01

# min_peak_quality: a vertical line; max_stage_discrepancy: a horizontal one, from the minimum
# quality up to convincing_quality when that is given (automatic mode keeps pairs of at least
# that quality whatever their discrepancy). A None value draws no line.
THRESHOLD_KEYS = ("min_peak_quality", "max_stage_discrepancy", "convincing_quality")


def plot_correlations(
    measurements: Sequence[PairMeasurement],
    rejected: Sequence[str | None],
    path: Path,
    *,
    thresholds: Mapping[str, float | None] | None = None,
    corrected_discrepancy: Sequence[float] | None = None,
) -> None:
    """Write the scatter plot of pair quality (x) against stage discrepancy (y, px, log scale).

    ``rejected``: per pair, None if accepted, else why it was rejected (a key of
    ``REJECTED_STYLE``): each group gets its colour and marker, and the legend its count.
    ``thresholds``: see ``THRESHOLD_KEYS``. ``corrected_discrepancy``: per pair, the stage
    discrepancy once the scan's common affine stage error is removed, which is what automatic
    thresholds judge: plotted instead of the plain discrepancy (the axis says so), so that the
    threshold line and the pairs it rejected are on the same scale. Pairs whose quality or
    discrepancy is not finite are counted but not drawn. The PNG is ``CORRELATIONS_SIZE_PX``
    and replaces ``path`` atomically.
    """
    plot_pair_scores(
        PairScores.of(measurements, corrected_discrepancy),
        rejected,
        path,
        thresholds=thresholds,
    )


@dataclass(frozen=True)
class PairScores:
    """What the correlations plot shows of each pair: its quality and its discrepancy (px),
    the plain stage discrepancy or, when ``corrected``, the one left after the scan's affine
    stage error. All a plot worker needs to be sent (not the whole measurements)."""

    quality: np.ndarray
    discrepancy: np.ndarray
    corrected: bool = False

    def __post_init__(self) -> None:
        if len(self.quality) != len(self.discrepancy):
            raise ValueError(
                f"plot_correlations: {len(self.quality)} measurements but "
                f"{len(self.discrepancy)} {'corrected ' if self.corrected else ''}discrepancies"
            )

    @classmethod
    def of(
        cls,
        measurements: Sequence[PairMeasurement],
        corrected_discrepancy: Sequence[float] | None = None,
    ) -> PairScores:
        quality = np.array([m.quality for m in measurements], dtype=float)
        if corrected_discrepancy is None:
            discrepancy = np.array([m.stage_discrepancy for m in measurements], dtype=float)
        else:
            discrepancy = np.asarray(corrected_discrepancy, dtype=float).reshape(-1)
        return cls(quality, discrepancy, corrected_discrepancy is not None)


def plot_pair_scores(
    scores: PairScores,
    rejected: Sequence[str | None],
    path: Path,
    *,
    thresholds: Mapping[str, float | None] | None = None,
) -> None:
    """`plot_correlations` from the pairs' scores alone."""
    _save_png_atomic(_correlations_figure(scores, rejected, thresholds=thresholds), Path(path))


def _correlations_figure(
    scores: PairScores,
    rejected: Sequence[str | None],
    *,
    thresholds: Mapping[str, float | None] | None = None,
) -> Figure:
    if len(rejected) != len(scores.quality):
        raise ValueError(
            f"plot_correlations: {len(scores.quality)} measurements but {len(rejected)} "
            "rejection reasons"
        )
    unknown_reasons = {str(r) for r in rejected if r is not None and r not in REJECTED_STYLE}
    if unknown_reasons:
        raise ValueError(
            f"plot_correlations: unknown rejection reasons {sorted(unknown_reasons)}; "
            f"known: {sorted(REJECTED_STYLE)}"
        )
    thresholds = dict(thresholds or {})
    unknown = set(thresholds) - set(THRESHOLD_KEYS)
    if unknown:
        raise ValueError(
            f"plot_correlations: unknown threshold(s) {sorted(unknown)}; known: {THRESHOLD_KEYS}"
        )
    quality, discrepancy = scores.quality, scores.discrepancy
    reasons = np.array(["" if reason is None else reason for reason in rejected], dtype=object)
    drawable = np.isfinite(quality) & np.isfinite(discrepancy)
    discrepancy = np.maximum(discrepancy, DISCREPANCY_FLOOR_PX)

    figure = _new_figure(CORRELATIONS_SIZE_PX)
    ax = figure.add_subplot()
    groups = [(reasons == "", ACCEPTED_RGB, "o", "accepted")]
    groups += [
        (reasons == reason, rgb, marker, f"rejected: {reason}")
        for reason, (rgb, marker) in REJECTED_STYLE.items()
    ]
    for mask, rgb, marker, label in groups:
        count = int(mask.sum())
        if count == 0:
            continue  # no empty legend entry (and no colour for a class that is absent)
        shown = mask & drawable
        ax.scatter(
            quality[shown],
            discrepancy[shown],
            s=30,
            marker=marker,
            color=_colour(rgb),
            linewidths=0,
            label=f"{label} ({count})",
            zorder=3,
        )
    threshold_style: dict[str, Any] = {
        "color": _colour(THRESHOLD_RGB),
        "linestyle": "--",
        "linewidth": 2.0,
    }
    min_quality = thresholds.get("min_peak_quality")
    if min_quality is not None:
        ax.axvline(min_quality, label=f"min quality {min_quality:.3g}", **threshold_style)
    max_discrepancy = thresholds.get("max_stage_discrepancy")
    if max_discrepancy is not None:
        # The limit judges only pairs the quality threshold let through, and in automatic mode
        # only those below the convincing quality: the line spans just those qualities.
        convincing = thresholds.get("convincing_quality")
        start = min_quality if min_quality is not None else X_LIMITS[0]
        stop = convincing if convincing is not None else X_LIMITS[1]
        label = f"max discrepancy {max_discrepancy:.3g} px"
        if convincing is not None:
            label += f" (below quality {convincing:.3g})"
        level = max(max_discrepancy, DISCREPANCY_FLOOR_PX)
        ax.plot([start, stop], [level, level], label=label, **threshold_style)
    ax.set_yscale("log")
    # Tick labels as plain numbers (0.01, 100) rather than the log scale's default 10^n,
    # which is typeset by mathtext: its parser costs a third of this plot's drawing time.
    ax.yaxis.set_major_formatter(_plain_log_formatter())
    ax.yaxis.set_minor_formatter(_plain_log_formatter(labelOnlyBase=False))
    ax.set_xlim(*X_LIMITS)
    if not drawable.any():
        ax.set_ylim(DISCREPANCY_FLOOR_PX, 1000.0)
    ax.set_xlabel("peak quality (higher is better)")
    ax.set_ylabel(
        "stage discrepancy / px (lower is better)"
        if not scores.corrected
        else "stage discrepancy less the scan's affine stage error / px"
    )
    n_accepted = int((reasons == "").sum())
    ax.set_title(
        f"{len(quality)} pairs: {n_accepted} accepted, {len(quality) - n_accepted} rejected",
        y=TITLE_Y,
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return figure


def plot_inputs(
    stage_positions_px: np.ndarray,
    tile_shape: tuple[int, int],
    names: Sequence[str],
    path: Path,
) -> None:
    """Write the map of the input tiles where the stage says they are, in capture order.

    ``stage_positions_px``: (n, 2) top-left corners (row, col) in capture order;
    ``tile_shape``: (height, width). Each tile is an outline labelled with its index (the tile
    index of positions.json); arrows join consecutive tile centres to show the scan path. The
    image is drawn like the mosaic (row grows downwards); its long side is
    ``INPUTS_LONG_SIDE_PX``. Replaces ``path`` atomically.
    """
    figure = _draw_inputs(stage_positions_px, tile_shape, names)
    _save_png_atomic(figure, Path(path))


# ------------------------------------------------------------------------------------------------


def _draw_inputs(
    stage_positions_px: np.ndarray, tile_shape: tuple[int, int], names: Sequence[str]
) -> Figure:
    from matplotlib.collections import PolyCollection

    corners = np.asarray(stage_positions_px, dtype=float).reshape(-1, 2)
    n = len(corners)
    if len(names) != n:
        raise ValueError(f"plot_inputs: {n} positions but {len(names)} names")
    if n == 0:
        raise ValueError("plot_inputs: no tiles to plot")
    height, width = float(tile_shape[0]), float(tile_shape[1])
    # Plot x = column, y = row.
    x0, y0 = corners[:, 1], corners[:, 0]
    extent_x = float(x0.max() - x0.min()) + width
    extent_y = float(y0.max() - y0.min()) + height
    size_px = _inputs_figure_size(extent_x, extent_y)

    figure = _new_figure(size_px)
    ax = figure.add_subplot()
    outlines = np.stack(
        [
            np.column_stack([x0, y0]),
            np.column_stack([x0 + width, y0]),
            np.column_stack([x0 + width, y0 + height]),
            np.column_stack([x0, y0 + height]),
        ],
        axis=1,
    )
    ax.add_collection(
        PolyCollection(
            # As one (n, 4, 2) array: 5 ms at 1,600 tiles, a list of them 40 ms (the stubs
            # ask for a sequence of outlines, which the array is at run time).
            cast("Sequence[np.ndarray]", outlines),
            facecolors=(*_colour(TILE_EDGE_RGB), 0.08),
            edgecolors=_colour(TILE_EDGE_RGB),
            linewidths=0.8,
        )
    )
    cx, cy = x0 + width / 2, y0 + height / 2
    if n > 1:
        # One quiver call draws every step of the path (an Arrow patch per step is slow).
        ax.quiver(
            cx[:-1],
            cy[:-1],
            np.diff(cx),
            np.diff(cy),
            angles="xy",
            scale_units="xy",
            scale=1.0,
            color=_colour(PATH_RGB),
            width=0.003,
            zorder=3,
        )
    ax.set_xlim(x0.min() - 0.02 * extent_x, x0.min() + 1.02 * extent_x)
    ax.set_ylim(y0.min() + 1.02 * extent_y, y0.min() - 0.02 * extent_y)  # row grows downwards
    # Beyond this elongation (a strip scan) true proportions leave a sliver of plot: stretch
    # the short axis instead, and say so in the title.
    to_scale = max(extent_x, extent_y) <= MAX_TRUE_ASPECT * min(extent_x, extent_y)
    ax.set_aspect("equal" if to_scale else "auto")

    # Label size follows the drawn tile size (4 to 10 pt); when even 4 pt labels would overlap
    # their neighbours, label every step-th tile (and always the last) instead.
    # The axes fill roughly 85 % of the figure; with equal aspect the tighter axis sets the scale.
    scale_x, scale_y = size_px[0] / extent_x, size_px[1] / extent_y
    if to_scale:
        scale_x = scale_y = min(scale_x, scale_y)
    pt_x, pt_y = 0.85 * 72 / DPI * scale_x, 0.85 * 72 / DPI * scale_y
    # Consecutive tiles are neighbours: their centre distance is the room a label has.
    spacing_pt = (
        float(np.median(np.hypot(np.diff(cx) * pt_x, np.diff(cy) * pt_y))) if n > 1 else math.inf
    )
    room_pt = min(width * pt_x, height * pt_y, spacing_pt)
    font_pt = min(10.0, max(4.0, 0.35 * room_pt))
    label_w_pt = 0.6 * font_pt * len(str(n - 1)) + 2.0
    step = max(1, math.ceil(label_w_pt / max(spacing_pt, 1e-9))) if n > 1 else 1
    labelled = sorted(set(range(0, n, step)) | {n - 1})
    ax.add_collection(_labels_collection(ax, [str(k) for k in labelled], font_pt, cx, cy, labelled))

    ax.set_xlabel("column / px")
    ax.set_ylabel("row / px")
    # Fixed margins do not adapt to the text: keep the tick labels apart and wrap the title to
    # the figure's width (a narrow figure for a tall scan gets a three-line title).
    ax.locator_params(axis="x", nbins=max(3, size_px[0] // 120))
    ax.locator_params(axis="y", nbins=max(3, size_px[1] // 80))
    line_chars = max(20, int((size_px[0] - 20) / 8.5))
    title = [
        *textwrap.wrap(
            f"{n} tiles at their stage positions, numbered in capture order"
            f"{'' if to_scale else ' (axes not to scale)'}",
            line_chars,
        ),
        *textwrap.wrap(f"first: {names[0]}, last: {names[-1]}", line_chars),
    ]
    ax.set_title("\n".join(title), fontsize="medium", y=TITLE_Y)
    figure.subplots_adjust(top=1 - (20 + 17 * len(title)) / size_px[1])
    return figure


# The gid of the inputs plot's tile numbers (one collection of paths).
TILE_LABELS_GID = "tile numbers"


def _labels_collection(
    ax: Any, labels: list[str], font_pt: float, cx: np.ndarray, cy: np.ndarray, at: list[int]
) -> Any:
    """``labels`` centred on the points (cx[k], cy[k]) of ``at``, in black, ``font_pt`` high,
    as one collection of paths: each digit's outline is made once and the labels are put
    together from them. One Text artist per label took 2.6 s of the 2.9 s a 1,600-tile plot
    took (a layout and a font rendering each), and a live run's final outputs wait for it."""
    from matplotlib.collections import PathCollection
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as OutlinePath
    from matplotlib.textpath import TextPath, text_to_path
    from matplotlib.transforms import Affine2D

    font = FontProperties(size=font_pt)
    glyphs: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for character in sorted(set("".join(labels))):
        outline = TextPath((0, 0), character, prop=font)
        advance = text_to_path.get_text_width_height_descent(character, font, ismath=False)[0]
        glyphs[character] = (outline.vertices, outline.codes, advance)
    # Centred as ha="center", va="center" centre a Text: across the advances, and halfway up
    # the digits' height.
    middle = 0.5 * TextPath((0, 0), "0", prop=font).get_extents().ymax
    paths = []
    for label in labels:
        vertices, codes = [], []
        x = -0.5 * sum(glyphs[c][2] for c in label)
        for character in label:
            glyph_vertices, glyph_codes, advance = glyphs[character]
            vertices.append(glyph_vertices + (x, -middle))
            codes.append(glyph_codes)
            x += advance
        paths.append(OutlinePath(np.concatenate(vertices), np.concatenate(codes)))
    collection = PathCollection(
        paths,
        offsets=np.column_stack([cx[at], cy[at]]),
        offset_transform=ax.transData,
        facecolors="black",
        edgecolors="none",
        zorder=4,
    )
    # The outlines are in points: to pixels at the figure's resolution.
    collection.set_transform(Affine2D().scale(ax.figure.dpi / 72.0))
    collection.set_gid(TILE_LABELS_GID)
    return collection


def _inputs_figure_size(extent_x: float, extent_y: float) -> tuple[int, int]:
    """(width, height) in pixels: the long side fixed, the short side following the scan."""
    long_px, min_px = INPUTS_LONG_SIDE_PX, INPUTS_SHORT_SIDE_MIN_PX
    if extent_x >= extent_y:
        return long_px, max(min_px, round(long_px * extent_y / extent_x))
    return max(min_px, round(long_px * extent_x / extent_y)), long_px


# Titles sit on the top edge of the axes. Given explicitly, matplotlib no longer measures
# every tick label to see whether the title must move up to clear them (there are none on top).
TITLE_Y = 1.0

# Room around the axes for tick labels, axis labels and a two-line title, in pixels (left,
# right, bottom, top). Fixed margins instead of matplotlib's constrained layout, which draws the
# figure an extra time to measure it: 40 % of the plotting time.
MARGINS_PX = (80, 20, 55, 60)


def load_matplotlib() -> None:
    """Import the parts of matplotlib the plots use (about 0.3 s), ahead of the first plot."""
    from matplotlib.backends import backend_agg  # noqa: F401
    from matplotlib.collections import PolyCollection  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401
    from matplotlib.ticker import LogFormatter  # noqa: F401


def _new_figure(size_px: tuple[int, int]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size_px
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    left, right, bottom, top = MARGINS_PX
    figure.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )
    FigureCanvasAgg(figure)  # attaches itself: Agg without touching pyplot's global backend
    return figure


def _plain_log_formatter(**options: Any) -> Any:
    """A log axis formatter labelling the ticks matplotlib's would label, as plain numbers."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, value: float, pos: int | None = None) -> str:
            # LogFormatter decides which ticks get a label (all decades; minor ticks only
            # on short ranges); its own text would be 1e-02 for 0.01.
            return f"{value:g}" if super().__call__(value, pos) else ""

    return PlainLogFormatter(**options)


def _colour(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return (rgb[0] / 255, rgb[1] / 255, rgb[2] / 255)


def _save_png_atomic(figure: Figure, path: Path) -> None:
    # atomic_file.write_text_atomic only writes text; the PNG is rendered to memory (a few
    # hundred kB) and moved into place the same way: temporary file in the same folder, then
    # os.replace, so a half-written PNG never replaces a good one.
    #
    # Drawn and encoded here rather than by savefig: the figure is opaque, so the PNG holds RGB
    # without savefig's alpha channel, and zlib's fastest level is enough for flat plot colours.
    # Measured on a 1,600-tile inputs plot (1000 x 751): 0.041 CPU-s and 742 kB to encode, against
    # savefig's 0.093 CPU-s and 781 kB; a live run's final outputs wait for this helper.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    figure.set_facecolor("white")
    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # _new_figure attached it
    canvas.draw()
    rgb = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="png", compress_level=1, dpi=(DPI, DPI))
    temporary = path.with_name(f".{path.name}.{temporary_tag()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getbuffer())
        os.replace(temporary, path)
    except OSError as error:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}; choose a writable output folder"
        ) from error
