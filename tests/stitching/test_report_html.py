"""stitching_report.html: its content read back with html.parser, and the page as a browser
draws it (headless Chromium, when installed)."""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_page import parse_report

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.io.tiles import Tile
from ofs_stitch.stitching import report_html
from ofs_stitch.stitching.place import StartingPositionError, place_tiles
from ofs_stitch.stitching.report import positions_document
from ofs_stitch.stitching.report_html import (
    ReportData,
    ReportPair,
    ReportTile,
    draw_sections,
    report_data,
    write_report_html,
)
from ofs_stitch.stitching.thresholds import REJECTION_REASONS

BAD_RGB = report_html.GOOD_TO_BAD_RGB[-1]


def image_bytes(size: tuple[int, int], colour: tuple[int, int, int], kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=kind)
    return buffer.getvalue()


def sample_data() -> ReportData:
    """A 2x2 scan: tile 2 placed badly (3 px RMS), tile 3 held by no pair; five pairs, one
    rejected for each reason and two used."""
    names = ["img_0.jpg", "img_1.jpg", "img <2> & co.jpg", "img_3.jpg"]
    residuals = [0.01, 0.02, 3.0, None]
    tiles = tuple(
        ReportTile(
            name=name,
            position=(336.0 * (t // 2), 448.0 * (t % 2)),
            shape=(480, 640),
            accepted_pairs=0 if rms is None else 1 + (t == 0),
            residual_rms_px=rms,
            offset_px=1.5 * t,
        )
        for t, (name, rms) in enumerate(zip(names, residuals, strict=True))
    )
    pairs = (
        ReportPair(0, 1, 0.95, 0.96, 2.0, 0.015, None),
        ReportPair(0, 2, 0.90, 0.91, 3.0, 2.9, None),
        ReportPair(1, 3, 0.02, 0.05, 1.0, math.nan, "quality"),
        ReportPair(2, 3, 0.30, 0.60, 80.0, math.nan, "discrepancy"),
        ReportPair(0, 3, 0.80, 0.85, 5.0, math.nan, "loop inconsistency"),
    )
    return ReportData(
        title="my <scan>",
        tiles=tiles,
        pairs=pairs,
        canvas=(816, 1088),
        position_noun="the stage positions",
        start_error=StartingPositionError(rms_px=23.24, max_px=30.4, affine_rms_px=16.4),
        thresholds={"min_peak_quality": 0.15, "max_stage_discrepancy": 12.5},
        timings={"inputs": 0.25, "correlate": 1.5, "place": 0.01, "render": 2.0},
        messages=("4 tiles from scan", "using 2 of 5 pairs (3 rejected: ...)"),
        preview_jpeg=image_bytes((1000, 750), (200, 180, 160), "JPEG"),
        correlations_png=image_bytes((80, 60), (255, 255, 255), "PNG"),
    )


def test_the_page_holds_the_runs_figures() -> None:
    page = parse_report(report_html.report_html(sample_data()))
    figures = page.figures()
    assert figures["tiles"] == "4"
    assert (figures["pairs measured"], figures["pairs used"], figures["pairs rejected"]) == (
        "5",
        "2",
        "3",
    )
    for reason in REJECTION_REASONS:
        assert figures[f"rejected for {reason}"] == "1"
    assert figures["tiles without an accepted pair (left at their starting position)"] == "1"
    # RMS of the used pairs' residuals 0.015 and 2.9.
    assert (
        figures["RMS residual of the pairs used"] == f"{math.sqrt((0.015**2 + 2.9**2) / 2):.3f} px"
    )
    assert figures["the stage positions were off by"] == "23.2 px RMS"
    assert figures["... at most"] == "30.4 px"
    assert figures["... after removing a common scale, rotation and shear"] == "16.4 px RMS"
    assert (figures["minimum quality"], figures["maximum discrepancy"]) == ("0.15", "12.5 px")
    timings = dict(page.tables["timings"])  # type: ignore[arg-type]
    assert timings["correlate"] == "1.50 s" and timings["total"] == "3.76 s"
    assert "using 2 of 5 pairs" in page.text  # what the run printed


def test_the_map_draws_every_tile_and_pair_and_says_why_pairs_were_rejected() -> None:
    text = report_html.report_html(sample_data())
    page = parse_report(text)
    assert page.elements["svg.map"] == 1
    assert page.elements["rect.tile"] == 4
    assert page.elements["g.pair"] == 2 and page.elements["g.pair.rejected"] == 3
    assert page.dashed_pairs == 3  # rejected pairs, and only they, are dashed
    tips = [t for t in page.titles if "rejected for" in t]
    assert sorted(t.split("rejected for ")[1].split(";")[0] for t in tips) == sorted(
        REJECTION_REASONS
    )
    rejected = page.tables["rejected-pairs"]
    assert rejected[0] == ["tiles", "reason", "quality", "Pearson r", "stage discrepancy"]
    assert [row[1] for row in rejected[1:]] == list(REJECTION_REASONS)  # in that order
    # Names are escaped, and read back as they are.
    assert "img <2> & co.jpg" in page.titles[2] and "<2>" not in text.replace("&lt;2&gt;", "")
    assert page.tables["worst-tiles"][1][:3] == ["2", "img <2> & co.jpg", "3.000 px"]
    assert page.tables["worst-pairs"][1][0] == "0 img_0.jpg - 2 img <2> & co.jpg"
    # The badly placed tile's outline is the bad end of the scale; the pairless one grey.
    hex_of = report_html._hex
    assert f'stroke="{hex_of(BAD_RGB)}"' in text.split("<rect")[3]
    assert f'stroke="{hex_of(report_html.NO_PAIR_RGB)}"' in text.split("<rect")[4]


def test_the_page_is_self_contained() -> None:
    data = sample_data()
    text = report_html.report_html(data)
    page = parse_report(text)
    # Only data: URIs: the preview and the plot, byte for byte; nothing else is fetched.
    assert len(page.links) == 2 and all(link.startswith("data:") for link in page.links)
    embedded = {link.split(";")[0]: base64.b64decode(link.split(",", 1)[1]) for link in page.links}
    assert embedded == {
        "data:image/jpeg": data.preview_jpeg,
        "data:image/png": data.correlations_png,
    }
    outside_data = re.sub(r'"data:[^"]*"', '""', text)
    assert "//" not in outside_data  # no URL of any scheme, nor a protocol-relative one
    assert "<link" not in text and "<script" not in text and "@import" not in text
    assert page.elements["style"] == 1


def test_without_images_or_pairs_the_page_still_says_what_it_knows() -> None:
    data = sample_data()
    bare = ReportData(
        **{
            **data.__dict__,
            "pairs": (),
            "tiles": tuple(
                ReportTile(t.name, t.position, t.shape, 0, None, t.offset_px) for t in data.tiles
            ),
            "preview_jpeg": None,
            "correlations_png": None,
            "start_error": None,
        }
    )
    page = parse_report(report_html.report_html(bare))
    assert page.links == [] and page.figures()["pairs used"] == "0"
    assert "No correlations plot was drawn." in page.text
    assert "None: every measured pair was used." in page.text
    assert "the stage positions were off by" not in page.figures()


def grid() -> tuple[list[Tile], np.ndarray, list[PairMeasurement]]:
    stage = np.array([(r * 336.0, c * 448.0) for r in range(3) for c in range(3)])
    stage += np.random.default_rng(2).normal(0.0, 4.0, stage.shape)
    tiles = [
        Tile(path=Path(f"/scan/t{k}.jpg"), height=480, width=640, stage_position_px=tuple(p))
        for k, p in enumerate(stage)
    ]
    truth = np.array([(r * 336.0, c * 448.0) for r in range(3) for c in range(3)])
    edges = [(k, k + 1) for k in range(9) if k % 3 != 2] + [(k, k + 3) for k in range(6)]
    measurements = [
        PairMeasurement(
            i=i,
            j=j,
            shift=tuple(truth[j] - truth[i] + (0.1 * (i % 2), -0.2 * (j % 3))),
            expected_shift=tuple(stage[j] - stage[i]),
            pearson_r=0.9,
            peak_ratio=20.0,
        )
        for i, j in edges
    ]
    return tiles, stage, measurements


def test_report_data_agrees_with_positions_json() -> None:
    tiles, stage, measurements = grid()
    rejected = [None] * len(measurements)
    rejected[3] = "quality"
    layout = place_tiles(stage, measurements, np.array([r is None for r in rejected]))
    data = report_data(
        title="scan",
        tiles=tiles,
        layout=layout,
        measurements=measurements,
        rejected=rejected,
        stage_positions=stage,
        position_noun="the grid positions",
        start_error=None,
        thresholds={},
        timings={},
        messages=[],
        preview_jpeg=None,
        correlations_png=None,
    )
    document = positions_document(tiles, layout.positions, measurements, rejected, layout.residuals)
    for tile, entry in zip(data.tiles, document["tiles"], strict=True):
        assert tile.residual_rms_px == entry["residual_rms_px"]
        assert tile.accepted_pairs == entry["accepted_pairs"]
        offset = entry["offset_from_stage_px"]
        assert tile.offset_px == pytest.approx(math.hypot(offset["row"], offset["col"]))
    assert [p.rejected for p in data.pairs] == [p["rejected"] for p in document["pairs"]]
    extent = (layout.positions + [480, 640]).max(axis=0)
    assert data.canvas == (math.ceil(extent[0] - 1e-9), math.ceil(extent[1] - 1e-9))


def test_writing_is_atomic_and_leaves_only_the_page(tmp_path: Path) -> None:
    path = write_report_html(tmp_path / report_html.REPORT_NAME, sample_data())
    assert [p.name for p in tmp_path.iterdir()] == [report_html.REPORT_NAME]
    assert path.read_text(encoding="utf-8") == report_html.report_html(sample_data())


def test_sections_drawn_before_the_timings_messages_and_plot_make_the_same_page() -> None:
    # The run draws the map and tables while it waits for the plots, from the data without
    # its timings, messages and correlations plot (those come later).
    data = sample_data()
    early = replace(data, timings={}, messages=(), correlations_png=None)
    page = report_html.report_html(data, draw_sections(early))
    assert page == report_html.report_html(data)
    assert "img &lt;2&gt; &amp; co.jpg" in page and "correlate" in page


# -- what a browser shows ---------------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1200, 1600)) -> np.ndarray:
    command = browser()
    if command is None:
        pytest.skip("no Chromium to draw the page with")
    subprocess.run(
        [
            command,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    with Image.open(png) as image:
        return np.asarray(image.convert("RGB"))


def test_a_browser_draws_the_page_of_a_real_run(tmp_path: Path) -> None:
    pytest.importorskip("skimage")  # the scan is cut from its images
    from ofs_stitch.stitching.pipeline import StitchOptions, stitch
    from ofs_stitch.testing.scans import make_scan

    folder = tmp_path / "scan"
    make_scan(folder, rows=2, cols=3, tile_shape=(240, 320), seed=4, blank_fraction=0.34)
    result = stitch(folder, StitchOptions(output_dir=tmp_path / "out", quiet=True))
    page = tmp_path / "out" / report_html.REPORT_NAME
    assert page in result.written
    pixels = screenshot(page, tmp_path / "page.png")
    assert pixels.shape == (1600, 1200, 3)
    # Not blank: text, the preview and the coloured map, not one flat colour.
    not_white = (pixels < 240).any(axis=2)
    assert not_white.mean() > 0.1
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500
    # The map's good-pair blue is drawn (the lines of the used pairs and the outlines).
    good = np.array(report_html.GOOD_TO_BAD_RGB[0])
    assert (np.abs(pixels.astype(int) - good).max(axis=2) < 8).sum() > 200


def test_map_colours_run_from_good_to_bad_along_the_ramp() -> None:
    # Worked out by hand from GOOD_TO_BAD_RGB ((0, 114, 178), (240, 228, 66), (213, 94, 0)):
    # 0.25 is halfway to yellow (120, 171, 122); at 0.125 green is 142.5, rounded half to even.
    assert report_html._ramp_hexes([0.0, 0.125, 0.25, 0.5, 1.0, -3.0, 7.0]) == [
        "#0072b2",
        "#3c8e96",
        "#78ab7a",
        "#f0e442",
        "#d55e00",
        "#0072b2",
        "#d55e00",
    ]
