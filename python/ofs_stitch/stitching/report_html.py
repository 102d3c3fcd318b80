"""``stitching_report.html``: one self-contained page to see at a glance where a scan went wrong.

The preview with every tile's outline coloured by how well its pairs agree with where it was
placed (the RMS of its accepted pairs' residuals), every measured pair as a line between tile
centres coloured by its quality (rejected pairs dashed, their reason in the tooltip and in a
table), the correlations plot with its thresholds, the run's figures and timings, and the
worst pairs and tiles. Everything is inline (CSS, the images as data: URIs, the map as SVG),
so the file can be mailed or opened offline; it links to nothing.

`report_data` gathers what the page shows from the run's stages; `report_html` turns that into
text and nothing else (no files, no clock), so the page is tested as a string. `draw_sections`
draws the larger part of the page (the map, the tables) from what the run knows once its
mosaics are written: the run draws it while it waits for the plots, then hands it to
`report_html` with the timings, the messages and the correlations plot.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.matches import PairMeasurement
from ..io.atomic import write_text_atomic
from ..io.tiles import Tile
from .place import PlacedTiles, StartingPositionError
from .report import tile_residuals
from .thresholds import REJECTION_REASONS

REPORT_NAME = "stitching_report.html"

# How many rows the tables of the worst pairs and tiles show, and the most rejected pairs
# listed (the map shows them all).
WORST_ROWS = 10
MAX_REJECTED_ROWS = 200
# Tiles are numbered on the map up to this many (beyond, the numbers would be unreadable).
MAX_LABELLED_TILES = 400

# One colour scale for "good" to "bad" on both tiles and pairs (Okabe-Ito blue, yellow,
# vermillion: distinguishable with the common colour-vision deficiencies): red means look here.
GOOD_TO_BAD_RGB = ((0, 114, 178), (240, 228, 66), (213, 94, 0))
NO_PAIR_RGB = (128, 128, 128)
# Tile residuals (px) are coloured on a log scale between these.
RESIDUAL_GOOD_PX = 0.05
RESIDUAL_BAD_PX = 2.0


@dataclass(frozen=True)
class ReportTile:
    name: str
    position: tuple[float, float]  # (row, col) top-left on the mosaic, pixels
    shape: tuple[int, int]  # (height, width)
    accepted_pairs: int
    residual_rms_px: float | None  # None: no accepted pair holds the tile
    # Distance from the starting position once the whole mosaic's mean shift is removed
    # (positions.json's offset_from_stage_px, as a length).
    offset_px: float


@dataclass(frozen=True)
class ReportPair:
    i: int
    j: int
    quality: float
    pearson_r: float
    stage_discrepancy: float  # px
    residual_px: float  # NaN when the solver has none
    rejected: str | None  # None: used; else one of REJECTION_REASONS


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows."""

    title: str  # the scan's folder name
    tiles: tuple[ReportTile, ...]
    pairs: tuple[ReportPair, ...]
    canvas: tuple[int, int]  # (height, width) of the mosaic, pixels
    position_noun: str  # what the starting positions were ("the stage positions")
    start_error: StartingPositionError | None
    thresholds: Mapping[str, float | None]  # min quality, max discrepancy (px)
    timings: Mapping[str, float]  # seconds per stage, in run order
    messages: tuple[str, ...]  # what the run printed
    preview_jpeg: bytes | None  # preview.jpg as written
    correlations_png: bytes | None  # stitching_correlations.png as written


def report_data(
    *,
    title: str,
    tiles: Sequence[Tile],
    layout: PlacedTiles,
    measurements: Sequence[PairMeasurement],
    rejected: Sequence[str | None],
    stage_positions: np.ndarray,
    position_noun: str,
    start_error: StartingPositionError | None,
    thresholds: Mapping[str, float | None],
    timings: Mapping[str, float],
    messages: Sequence[str],
    preview_jpeg: bytes | None,
    correlations_png: bytes | None,
) -> ReportData:
    """The page's content from the run's products (one entry of ``rejected`` per pair)."""
    n = len(tiles)
    accepted = np.array([reason is None for reason in rejected], dtype=bool)
    norms = np.hypot(layout.residuals[:, 0], layout.residuals[:, 1]) if len(measurements) else []
    counts, rms = tile_residuals(n, measurements, accepted, np.asarray(norms, dtype=float))
    offsets = layout.positions - np.asarray(stage_positions, dtype=float).reshape(n, 2)
    offsets -= offsets.mean(axis=0)
    offset_lengths = np.hypot(offsets[:, 0], offsets[:, 1]).tolist()
    report_tiles = tuple(
        ReportTile(
            name=tile.name,
            position=(float(layout.positions[t, 0]), float(layout.positions[t, 1])),
            shape=(int(tile.shape[0]), int(tile.shape[1])),
            accepted_pairs=counts[t],
            residual_rms_px=rms[t],
            offset_px=offset_lengths[t],
        )
        for t, tile in enumerate(tiles)
    )
    report_pairs = tuple(
        ReportPair(
            i=pair.i,
            j=pair.j,
            quality=pair.quality,
            pearson_r=pair.pearson_r,
            stage_discrepancy=pair.stage_discrepancy,
            residual_px=float(norms[k]),
            rejected=rejected[k],
        )
        for k, pair in enumerate(measurements)
    )
    corners = np.array([np.add(t.position, t.shape) for t in report_tiles]).reshape(-1, 2)
    extent = np.ceil(corners.max(axis=0) - 1e-9) if n else np.ones(2)
    return ReportData(
        title=title,
        tiles=report_tiles,
        pairs=report_pairs,
        canvas=(int(extent[0]), int(extent[1])),
        position_noun=position_noun,
        start_error=start_error,
        thresholds=dict(thresholds),
        timings=dict(timings),
        messages=tuple(messages),
        preview_jpeg=preview_jpeg,
        correlations_png=correlations_png,
    )


def write_report_html(path: Path, data: ReportData, drawn: DrawnSections | None = None) -> Path:
    """Write the page (atomically); returns its path. ``drawn``: see `report_html`.

    Not synced: the page is written last, just after the mosaics, and a sync waited for their
    pages to reach the disk (0.07-0.09 s after an 8 MP scan's, at the end of every run). The
    mosaics it describes are not synced either."""
    write_text_atomic(path, report_html(data, drawn), sync=False)
    return path


@dataclass(frozen=True)
class DrawnSections:
    """The sections of the page that show neither the timings, the messages nor the
    correlations plot, as text: the larger part of the page (at 1,600 tiles the map alone
    has 1,600 outlines and 3,100 pair lines)."""

    map: str
    worst_tiles: str
    worst_pairs: str
    rejected_pairs: str


def draw_sections(data: ReportData) -> DrawnSections:
    """What `report_html` would draw of those sections from ``data`` (its timings, messages
    and correlations plot are not looked at)."""
    return DrawnSections(
        map=_map(data),
        worst_tiles=_worst_tiles(data),
        worst_pairs=_worst_pairs(data),
        rejected_pairs=_rejected_pairs(data),
    )


def report_html(data: ReportData, drawn: DrawnSections | None = None) -> str:
    """The whole page, as text. ``drawn``: `draw_sections` of this data, drawn already
    (from the same data less its timings, messages and correlations plot)."""
    used = sum(p.rejected is None for p in data.pairs)
    reasons = Counter(p.rejected for p in data.pairs if p.rejected is not None)
    drawn = drawn or draw_sections(data)
    sections = [
        f"<h1>Stitching report: {_text(data.title)}</h1>",
        _summary(data, used, reasons),
        "<h2>Map</h2>",
        _map_legend(),
        drawn.map,
        "<h2>Pair quality and the thresholds</h2>",
        _correlations(data),
        "<h2>Worst tiles</h2>",
        drawn.worst_tiles,
        "<h2>Worst accepted pairs</h2>",
        drawn.worst_pairs,
        f"<h2>Rejected pairs ({sum(reasons.values())})</h2>",
        drawn.rejected_pairs,
        "<h2>What the run printed</h2>",
        _messages(data),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Stitching report: {_text(data.title)}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px;
  padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.map { width: 100%; height: auto; border: 1px solid #ccc; background: #f4f4f4; }
.plot { max-width: 100%; border: 1px solid #ccc; }
.legend { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: center; font-size: 0.9em; }
.ramp { display: inline-block; width: 120px; height: 10px; vertical-align: middle;
  margin: 0 0.4em; }
.swatch { display: inline-block; width: 28px; border-top: 3px solid #555;
  vertical-align: middle; margin-right: 0.3em; }
.dashed { border-top-style: dashed; }
pre { background: #f6f6f6; padding: 0.8em; white-space: pre-wrap; font-size: 0.85em; }
.none { color: #777; }
"""


def _summary(data: ReportData, used: int, reasons: Counter[str]) -> str:
    n_pairs = len(data.pairs)
    unplaced = sum(t.accepted_pairs == 0 for t in data.tiles)
    accepted_residuals = [
        p.residual_px for p in data.pairs if p.rejected is None and math.isfinite(p.residual_px)
    ]
    rows: list[tuple[str, str]] = [
        ("tiles", str(len(data.tiles))),
        ("pairs measured", str(n_pairs)),
        ("pairs used", str(used)),
        ("pairs rejected", str(n_pairs - used)),
    ]
    rows += [(f"rejected for {reason}", str(reasons[reason])) for reason in REJECTION_REASONS]
    rows.append(("tiles without an accepted pair (left at their starting position)", str(unplaced)))
    if accepted_residuals:
        rms = math.sqrt(sum(r * r for r in accepted_residuals) / len(accepted_residuals))
        rows.append(("RMS residual of the pairs used", f"{rms:.3f} px"))
    error = data.start_error
    if error is not None:
        rows.append((f"{data.position_noun} were off by", f"{error.rms_px:.1f} px RMS"))
        rows.append(("... at most", f"{error.max_px:.1f} px"))
        if error.affine_rms_px is not None:
            rows.append(
                (
                    "... after removing a common scale, rotation and shear",
                    f"{error.affine_rms_px:.1f} px RMS",
                )
            )
    min_quality = data.thresholds.get("min_peak_quality")
    max_discrepancy = data.thresholds.get("max_stage_discrepancy")
    if min_quality is not None:
        rows.append(("minimum quality", f"{min_quality:.3g}"))
    if max_discrepancy is not None:
        rows.append(("maximum discrepancy", f"{max_discrepancy:.3g} px"))
    total = sum(data.timings.values())
    timing_rows = [(stage, f"{seconds:.2f} s") for stage, seconds in data.timings.items()]
    timing_rows.append(("total", f"{total:.2f} s"))
    return (
        '<table class="figures" id="figures">'
        + "".join(_row(label, value) for label, value in rows)
        + "</table>\n<h2>Timings</h2>\n"
        + '<table class="timings" id="timings">'
        + "".join(_row(label, value) for label, value in timing_rows)
        + "</table>"
    )


def _map_legend() -> str:
    ramp = "linear-gradient(to right, " + ", ".join(_hex(c) for c in GOOD_TO_BAD_RGB) + ")"
    return (
        '<div class="legend">'
        f"<span>tile outline: RMS residual {RESIDUAL_GOOD_PX:g} px"
        f'<span class="ramp" style="background: {ramp}"></span>{RESIDUAL_BAD_PX:g} px or more'
        f'</span><span><span class="swatch" style="border-color: {_hex(NO_PAIR_RGB)}"></span>'
        "tile without an accepted pair</span>"
        f'<span>pair line: quality 1<span class="ramp" style="background: {ramp}"></span>0'
        '</span><span><span class="swatch dashed"></span>rejected pair (hover for why)</span>'
        "</div>"
    )


def _map(data: ReportData) -> str:
    height, width = data.canvas
    parts = [
        f'<svg class="map" id="map" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="tiles and pairs">'
    ]
    if data.preview_jpeg is not None:
        parts.append(
            f'<image x="0" y="0" width="{width}" height="{height}" preserveAspectRatio="none" '
            f'href="{_data_uri("image/jpeg", data.preview_jpeg)}"/>'
        )
    # Every outline's and line's colour at once: one at a time they took a third of the map's
    # time at 1,600 tiles (the page is drawn while a live run's final outputs wait).
    tile_colours = _residual_hexes(data.tiles)
    pair_colours = _ramp_hexes(
        [1.0 - (p.quality if math.isfinite(p.quality) else 0.0) for p in data.pairs]
    )
    for tile, colour in zip(data.tiles, tile_colours, strict=True):
        rms = tile.residual_rms_px
        residual = "no accepted pair" if rms is None else f"RMS residual {rms:.3f} px"
        tip = (
            f"{tile.name}: {residual}, {tile.accepted_pairs} accepted pairs, "
            f"{tile.offset_px:.1f} px from its starting position"
        )
        row, col = tile.position
        parts.append(
            f'<rect class="tile" x="{col:.1f}" y="{row:.1f}" width="{tile.shape[1]}" '
            f'height="{tile.shape[0]}" fill="none" pointer-events="visible" '
            f'stroke="{colour}" stroke-width="1.5" stroke-opacity="0.9" '
            f'vector-effect="non-scaling-stroke"><title>{_text(tip)}</title></rect>'
        )
    centres = [(t.position[1] + t.shape[1] / 2, t.position[0] + t.shape[0] / 2) for t in data.tiles]
    # Rejected pairs first, so the used ones are drawn over them.
    for k in sorted(range(len(data.pairs)), key=lambda k: data.pairs[k].rejected is None):
        pair = data.pairs[k]
        (x1, y1), (x2, y2) = centres[pair.i], centres[pair.j]
        quality = pair.quality if math.isfinite(pair.quality) else 0.0
        status = "used" if pair.rejected is None else f"rejected for {pair.rejected}"
        tip = (
            f"{data.tiles[pair.i].name} - {data.tiles[pair.j].name}: {status}; quality "
            f"{quality:.3f}, stage discrepancy {pair.stage_discrepancy:.1f} px"
        )
        if pair.rejected is None and math.isfinite(pair.residual_px):
            tip += f", residual {pair.residual_px:.3f} px"
        dash = "" if pair.rejected is None else ' stroke-dasharray="8 5"'
        kind = "pair" if pair.rejected is None else "pair rejected"
        ends = f'x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
        # A dark casing under the coloured line keeps it visible on any image and outline.
        parts.append(
            f'<g class="{kind}"><title>{_text(tip)}</title>'
            f'<line {ends} stroke="#222" stroke-width="7"{dash} '
            'vector-effect="non-scaling-stroke"/>'
            f'<line {ends} stroke="{pair_colours[k]}" stroke-width="4"{dash} '
            'vector-effect="non-scaling-stroke"/></g>'
        )
    if len(data.tiles) <= MAX_LABELLED_TILES:
        for index, ((x, y), tile) in enumerate(zip(centres, data.tiles, strict=True)):
            font = 0.18 * min(tile.shape)
            parts.append(
                f'<text x="{x:.1f}" y="{y - 0.25 * font:.1f}" font-size="{font:.0f}" '
                'text-anchor="middle" fill="white" stroke="black" stroke-width="1" '
                f'vector-effect="non-scaling-stroke" paint-order="stroke">{index}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _correlations(data: ReportData) -> str:
    if data.correlations_png is None:
        return '<p class="none">No correlations plot was drawn.</p>'
    return (
        f'<img class="plot" src="{_data_uri("image/png", data.correlations_png)}" '
        'alt="pair quality against stage discrepancy, with the thresholds">'
    )


def _worst_tiles(data: ReportData) -> str:
    ranked = sorted(
        (t for t in data.tiles if t.residual_rms_px is not None),
        key=lambda t: -(t.residual_rms_px or 0.0),
    )[:WORST_ROWS]
    if not ranked:
        return '<p class="none">No tile is held by an accepted pair.</p>'
    index = {id(t): k for k, t in enumerate(data.tiles)}
    header = _header("tile", "name", "RMS residual", "accepted pairs", "from its starting position")
    rows = [
        _cells(
            str(index[id(t)]),
            t.name,
            f"{t.residual_rms_px:.3f} px",
            str(t.accepted_pairs),
            f"{t.offset_px:.1f} px",
            numbers=(0, 2, 3, 4),
        )
        for t in ranked
    ]
    return f'<table id="worst-tiles">{header}{"".join(rows)}</table>'


def _worst_pairs(data: ReportData) -> str:
    ranked = sorted(
        (p for p in data.pairs if p.rejected is None and math.isfinite(p.residual_px)),
        key=lambda p: -p.residual_px,
    )[:WORST_ROWS]
    if not ranked:
        return '<p class="none">No pair was used.</p>'
    header = _header("tiles", "residual", "quality", "stage discrepancy")
    rows = [
        _cells(
            _pair_names(data, p),
            f"{p.residual_px:.3f} px",
            _number(p.quality, 3),
            f"{p.stage_discrepancy:.1f} px",
            numbers=(1, 2, 3),
        )
        for p in ranked
    ]
    return f'<table id="worst-pairs">{header}{"".join(rows)}</table>'


def _rejected_pairs(data: ReportData) -> str:
    order = {reason: k for k, reason in enumerate(REJECTION_REASONS)}
    rejected = sorted(
        (p for p in data.pairs if p.rejected is not None),
        key=lambda p: (order.get(p.rejected or "", len(order)), p.i, p.j),
    )
    if not rejected:
        return '<p class="none">None: every measured pair was used.</p>'
    header = _header("tiles", "reason", "quality", "Pearson r", "stage discrepancy")
    rows = [
        _cells(
            _pair_names(data, p),
            p.rejected or "",
            _number(p.quality, 3),
            _number(p.pearson_r, 3),
            f"{p.stage_discrepancy:.1f} px",
            numbers=(2, 3, 4),
        )
        for p in rejected[:MAX_REJECTED_ROWS]
    ]
    more = len(rejected) - MAX_REJECTED_ROWS
    tail = f'<p class="none">and {more} more (see positions.json)</p>' if more > 0 else ""
    return f'<table id="rejected-pairs">{header}{"".join(rows)}</table>{tail}'


def _messages(data: ReportData) -> str:
    if not data.messages:
        return '<p class="none">Nothing.</p>'
    return "<pre>" + _text("\n".join(data.messages)) + "</pre>"


def _pair_names(data: ReportData, pair: ReportPair) -> str:
    return f"{pair.i} {data.tiles[pair.i].name} - {pair.j} {data.tiles[pair.j].name}"


def _row(label: str, value: str) -> str:
    return f'<tr><th scope="row">{_text(label)}</th><td class="number">{_text(value)}</td></tr>'


def _header(*labels: str) -> str:
    return "<tr>" + "".join(f"<th>{_text(label)}</th>" for label in labels) + "</tr>"


def _cells(*values: str, numbers: tuple[int, ...] = ()) -> str:
    cells = [
        f'<td class="number">{_text(v)}</td>' if k in numbers else f"<td>{_text(v)}</td>"
        for k, v in enumerate(values)
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _data_uri(media_type: str, content: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _residual_hexes(tiles: Sequence[ReportTile]) -> list[str]:
    """Each tile's outline colour: its RMS residual on the good-to-bad ramp (log scale), grey
    without an accepted pair."""
    rms = np.array(
        [RESIDUAL_GOOD_PX if t.residual_rms_px is None else t.residual_rms_px for t in tiles],
        dtype=float,
    )
    low, high = math.log10(RESIDUAL_GOOD_PX), math.log10(RESIDUAL_BAD_PX)
    colours = _ramp_hexes((np.log10(np.maximum(rms, RESIDUAL_GOOD_PX)) - low) / (high - low))
    grey = _hex(NO_PAIR_RGB)
    return [grey if t.residual_rms_px is None else c for t, c in zip(tiles, colours, strict=True)]


def _ramp_hexes(positions: Sequence[float] | np.ndarray) -> list[str]:
    """The good-to-bad colour at each of ``positions`` (0 good .. 1 bad, clipped): linear
    between the ramp's colours, each channel rounded half to even (as Python's round)."""
    ramp = np.array(GOOD_TO_BAD_RGB, dtype=float)
    scaled = np.clip(np.asarray(positions, dtype=float), 0.0, 1.0) * (len(ramp) - 1)
    k = np.minimum(scaled.astype(np.int64), len(ramp) - 2)
    fraction = (scaled - k)[:, None]
    rgb = np.round(ramp[k] + (ramp[k + 1] - ramp[k]) * fraction).astype(np.int64)
    return [f"#{red:02x}{green:02x}{blue:02x}" for red, green, blue in rgb.tolist()]


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
