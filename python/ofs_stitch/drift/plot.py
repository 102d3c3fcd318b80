"""``drift.png``: d_row, d_col, angle and quality against frame, unreliable frames marked.

Drawn with Pillow (already a dependency, for decoding) rather than matplotlib: three panels of
lines, points, grid and labels need no more, and matplotlib's import and one figure cost a
fresh ``ofs drift`` process 0.8 CPU s (0.56 s import, 0.23 s drawing, measured on a 50-frame
run) against a few milliseconds here: a quarter of the whole run's CPU on the issue's series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io.atomic import staged_output
from .table import DriftTable

if TYPE_CHECKING:
    # Pillow itself is imported by plot_drift, on the thread that draws the plot while the
    # frames are written, not before the registrations start.
    from PIL import Image, ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

WIDTH, HEIGHT = 800, 750
# Plot area inside the image: room on the left for the tick labels and the axis' name, at the
# top for the title, at the bottom for the frame axis.
LEFT, RIGHT, TOP, BOTTOM = 88, 24, 36, 48
PANEL_GAP = 12
BLUE, ORANGE, GREEN, GREY = (31, 119, 180), (255, 127, 14), (44, 160, 44), (127, 127, 127)
RED = (214, 39, 40)
GRID, AXIS, TEXT = (225, 225, 225), (60, 60, 60), (20, 20, 20)
# Marks of unreliable frames: pale (drawn under the data) so the curves stay readable.
INTERPOLATED_MARK, FLAGGED_MARK = (244, 190, 190), (255, 214, 170)


def plot_drift(path: Path, table: DriftTable) -> None:
    from PIL import Image, ImageDraw

    parameters = table.parameters()
    status = np.array(table.status)
    interpolated = np.flatnonzero(status == "interpolated")
    flagged = np.flatnonzero(status == "flagged")
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = _font(12)
    frames = np.arange(len(table), dtype=float)
    x_range = (0.0, max(1.0, float(len(table) - 1)))
    inner = HEIGHT - TOP - BOTTOM - 2 * PANEL_GAP
    panel_height = inner // 3
    panels = []
    for number in range(3):
        top = TOP + number * (panel_height + PANEL_GAP)
        panels.append((LEFT, top, WIDTH - RIGHT, top + panel_height))
    series: list[tuple[str, Sequence[tuple[np.ndarray, tuple[int, int, int], str]]]] = [
        (
            "drift of the centre (px)",
            [(parameters[:, 0], BLUE, "d_row"), (parameters[:, 1], ORANGE, "d_col")],
        ),
        ("angle (deg)", [(parameters[:, 2], GREEN, "")]),
        ("quality (r)", [(np.asarray(table.transforms.quality, float), GREY, "")]),
    ]
    for number, (box, (label, curves)) in enumerate(zip(panels, series, strict=True)):
        values = np.concatenate([values for values, _, _ in curves])
        y_range = (0.0, 1.05) if number == 2 else _padded_range(values)
        scale = _Scale(box, x_range, y_range)
        for frame in interpolated:
            scale.vertical(draw, float(frame), INTERPOLATED_MARK)
        for frame in flagged:
            scale.vertical(draw, float(frame), FLAGGED_MARK)
        _grid_and_ticks(image, draw, scale, font, label, x_labels=number == 2)
        for values, colour, _ in curves:
            if number == 2:
                for x, y in zip(frames, values, strict=True):
                    scale.point(draw, float(x), float(y), colour)
            else:
                scale.line(draw, frames, values, colour)
        if number == 0:
            entries = [(name, colour) for _, colour, name in curves]
            corner = _quietest_corner(scale, frames, [values for values, _, _ in curves], entries)
            _legend(draw, corner, font, entries)
    title = (
        f"{table.model} drift, {len(table)} frames: {len(interpolated)} interpolated (red), "
        f"{len(flagged)} flagged (orange)"
    )
    _text(draw, (WIDTH // 2, TOP // 2), title, _font(14), "mm")
    middle = LEFT + (WIDTH - RIGHT - LEFT) // 2
    _text(draw, (middle, HEIGHT - 14), "frame", font, "mm")
    with staged_output(path) as temporary:
        image.save(temporary, format="PNG")


class _Scale:
    """Data coordinates to pixels in one panel's box."""

    def __init__(
        self,
        box: tuple[int, int, int, int],
        x_range: tuple[float, float],
        y_range: tuple[float, float],
    ) -> None:
        self.box = box
        self.x_range, self.y_range = x_range, y_range

    def x(self, value: float) -> float:
        left, _, right, _ = self.box
        low, high = self.x_range
        return left + (value - low) / (high - low) * (right - left)

    def y(self, value: float) -> float:
        _, top, _, bottom = self.box
        low, high = self.y_range
        return bottom - (value - low) / (high - low) * (bottom - top)

    def vertical(self, draw: ImageDraw.ImageDraw, x: float, colour: tuple[int, int, int]) -> None:
        _, top, _, bottom = self.box
        draw.line([(self.x(x), top), (self.x(x), bottom)], fill=colour, width=2)

    def line(
        self,
        draw: ImageDraw.ImageDraw,
        xs: np.ndarray,
        ys: np.ndarray,
        colour: tuple[int, int, int],
    ) -> None:
        finite = np.isfinite(ys)
        points = [
            (self.x(float(x)), self.y(float(y)))
            for x, y in zip(xs[finite], ys[finite], strict=True)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2, joint="curve")
        elif points:
            self.point(draw, float(xs[finite][0]), float(ys[finite][0]), colour)

    def point(
        self, draw: ImageDraw.ImageDraw, x: float, y: float, colour: tuple[int, int, int]
    ) -> None:
        if math.isfinite(y):
            px, py = self.x(x), self.y(min(max(y, self.y_range[0]), self.y_range[1]))
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)


def _grid_and_ticks(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    scale: _Scale,
    font: Font,
    label: str,
    *,
    x_labels: bool,
) -> None:
    left, top, right, bottom = scale.box
    for value in _ticks(*scale.y_range):
        y = scale.y(value)
        draw.line([(left, y), (right, y)], fill=GRID)
        _text(draw, (left - 6, y), _tick_text(value), font, "rm")
    for value in _ticks(*scale.x_range):
        x = scale.x(value)
        draw.line([(x, top), (x, bottom)], fill=GRID)
        if x_labels:
            _text(draw, (x, bottom + 6), _tick_text(value), font, "mt")
    draw.rectangle([left, top, right, bottom], outline=AXIS)
    # The axis' name, turned to read upwards along the panel's left edge.
    box = font.getbbox(label)
    width = int(box[2] - box[0]) + 4
    from PIL import Image, ImageDraw

    name = Image.new("RGBA", (width, 18), (255, 255, 255, 0))
    _text(ImageDraw.Draw(name), (2, 9), label, font, "lm")
    turned = name.rotate(90, expand=True)
    image.paste(turned, (8, (top + bottom - turned.height) // 2), turned)


# The legend's box: its width, and the height of one entry.
LEGEND_WIDTH, LEGEND_ROW = 90, 18


def _legend_box(
    box: tuple[int, int, int, int], corner: str, entries: int
) -> tuple[int, int, int, int]:
    """The legend's rectangle in ``corner`` ("tr", "tl", "br", "bl") of a panel's ``box``."""
    left, top, right, bottom = box
    height = LEGEND_ROW * entries + 4
    x0 = right - 8 - LEGEND_WIDTH if corner[1] == "r" else left + 8
    y0 = top + 4 if corner[0] == "t" else bottom - 4 - height
    return x0, y0, x0 + LEGEND_WIDTH, y0 + height


def _quietest_corner(
    scale: _Scale,
    frames: np.ndarray,
    curves: list[np.ndarray],
    entries: list[tuple[str, tuple[int, int, int]]],
) -> tuple[int, int, int, int]:
    """The legend's rectangle in the corner of the panel that the curves cross least (top
    right when none does), so that it hides no part of a drift that runs into one corner."""
    xs = np.array([scale.x(float(x)) for x in frames])
    best, fewest = _legend_box(scale.box, "tr", len(entries)), None
    for corner in ("tr", "tl", "br", "bl"):
        x0, y0, x1, y1 = _legend_box(scale.box, corner, len(entries))
        # The curves are straight between frames: their height at each pixel column.
        columns = np.arange(x0, x1 + 1, dtype=float)
        crossed = 0
        for values in curves:
            finite = np.isfinite(values)
            if finite.sum() < 1:
                continue
            ys = np.array([scale.y(float(v)) for v in values[finite]])
            inside = (columns >= xs[finite][0]) & (columns <= xs[finite][-1])
            heights = np.interp(columns[inside], xs[finite], ys)
            crossed += int(((heights >= y0) & (heights <= y1)).sum())
        if fewest is None or crossed < fewest:
            best, fewest = (x0, y0, x1, y1), crossed
    return best


def _legend(
    draw: ImageDraw.ImageDraw,
    rectangle: tuple[int, int, int, int],
    font: Font,
    entries: list[tuple[str, tuple[int, int, int]]],
) -> None:
    x0, y0, x1, y1 = rectangle
    draw.rectangle([x0, y0, x1, y1], fill="white", outline=GRID)
    for number, (name, colour) in enumerate(entries):
        row = y0 + 2 + LEGEND_ROW * number + LEGEND_ROW // 2
        draw.line([(x0 + 8, row), (x0 + 32, row)], fill=colour, width=2)
        _text(draw, (x0 + 38, row), name, font, "lm")


def _text(
    draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font: Font, anchor: str
) -> None:
    """``text`` placed by ``anchor`` (horizontal l/m/r, vertical t/m) at ``at``, from the text's
    own box: Pillow's ``anchor`` argument works with FreeType fonts only, and Pillow's bitmap
    font is what remains where ``load_default(size=...)`` is missing (Pillow before 10.1, as
    Debian's python3-pil on the armv7l boards)."""
    left, top, right, bottom = font.getbbox(text)
    x = at[0] - {"l": 0.0, "m": (right - left) / 2, "r": float(right - left)}[anchor[0]]
    y = at[1] - {"t": 0.0, "m": (bottom - top) / 2}[anchor[1]]
    draw.text((x - left, y - top), text, fill=TEXT, font=font)


def _font(size: int) -> Font:
    """Pillow's own font at ``size`` (its bitmap font where Pillow was built without FreeType)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    """The values' range with a 5 % margin; a flat or empty series gets +-1 around its value."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (-1.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-9:
        return (low - 1.0, high + 1.0)
    margin = 0.05 * (high - low)
    return (low - margin, high + margin)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) within [low, high]."""
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return f"{value:.6g}" if abs(value) >= 1e-9 else "0"
