"""drift.png: drawn from the table, its marks where the table's unreliable frames are."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from ofs_stitch.core.transform import TransformTable
from ofs_stitch.drift.plot import HEIGHT, INTERPOLATED_MARK, LEFT, RIGHT, WIDTH, _ticks, plot_drift
from ofs_stitch.drift.table import DriftTable, matrix_from_parameters


def _table(statuses: tuple[str, ...]) -> DriftTable:
    shape = (64, 80)
    count = len(statuses)
    matrices = [
        matrix_from_parameters(0.5 * k, -0.3 * k, 0.05 * k, 1.0, shape) for k in range(count)
    ]
    transforms = TransformTable(
        ids=tuple(f"f{k}.tif" for k in range(count)),
        matrices=np.array(matrices),
        quality=np.array([math.nan, *([0.9] * (count - 1))]),
        status=statuses,
        kind="rigid",
    )
    return DriftTable(transforms, shape, "rigid")


def test_plot_marks_the_interpolated_frame(tmp_path) -> None:
    statuses = ("reference", *(["ok"] * 9))
    marked = ("reference", *(["ok"] * 4), "interpolated", *(["ok"] * 4))
    plain, with_mark = tmp_path / "plain.png", tmp_path / "marked.png"
    plot_drift(plain, _table(statuses))
    plot_drift(with_mark, _table(marked))
    pixels = np.asarray(Image.open(with_mark).convert("RGB"))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    # Frame 5 of 0..9 sits at 5/9 of the panels' width; its mark is there and nowhere in the
    # plot without an unreliable frame.
    column = round(LEFT + 5 / 9 * (WIDTH - RIGHT - LEFT))
    strip = pixels[:, column - 1 : column + 2]
    assert (strip == INTERPOLATED_MARK).all(axis=-1).sum() > 100
    plain_pixels = np.asarray(Image.open(plain).convert("RGB"))
    assert not (plain_pixels == INTERPOLATED_MARK).all(axis=-1).any()


def test_ticks_are_round_and_inside_the_range() -> None:
    assert _ticks(0.0, 1.05) == pytest.approx([0.0, 0.5, 1.0])
    ticks = _ticks(-7.3, 2.1)
    assert ticks == pytest.approx([-6.0, -4.0, -2.0, 0.0, 2.0])
    assert all(-7.3 <= t <= 2.1 for t in ticks)


def test_plot_draws_its_labels_with_pillows_bitmap_font(tmp_path, monkeypatch) -> None:
    # Where Pillow predates load_default(size=...) the bitmap font is all there is, and
    # Pillow's own text anchors refuse it.
    from PIL import ImageFont

    import ofs_stitch.drift.plot as plot

    bitmap = getattr(ImageFont, "load_default_imagefont", None)
    if bitmap is None:
        pytest.skip("this Pillow has no separate bitmap-font loader")
    monkeypatch.setattr(plot, "_font", lambda size: bitmap())
    path = tmp_path / "drift.png"
    plot_drift(path, _table(("reference", *(["ok"] * 9))))
    pixels = np.asarray(Image.open(path).convert("L"))
    title_band = pixels[: plot.TOP - 4, plot.LEFT : WIDTH - RIGHT]
    assert (title_band < 128).sum() > 50  # the title's ink


def test_legend_hides_no_part_of_a_drift_running_into_a_corner(tmp_path) -> None:
    # d_row rises to the top right corner of its panel (where a legend would usually go),
    # d_col falls to the bottom right: the legend goes where neither runs.
    from ofs_stitch.drift.plot import BLUE, ORANGE, TOP

    path = tmp_path / "drift.png"
    plot_drift(path, _table(("reference", *(["ok"] * 29))))
    pixels = np.asarray(Image.open(path).convert("RGB"))
    panel = pixels[TOP : HEIGHT // 3 + TOP, :]
    for colour in (BLUE, ORANGE):
        ink = (panel == colour).all(axis=-1)
        # Every pixel column along the right 60 % of the panel shows the curve.
        columns = range(LEFT + int(0.4 * (WIDTH - RIGHT - LEFT)), WIDTH - RIGHT - 2)
        assert all(ink[:, c].any() for c in columns)
