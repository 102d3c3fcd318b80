"""Wiring the stages of ``ofs-stitch FOLDER``: inputs -> pairs -> measurements -> selection ->
layout -> outputs. Each stage lives in its own module; this one only passes typed data along
and reports progress."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.matches import CandidatePair, PairMeasurement
from ..core.registration import CorrelationSettings
from ..errors import InputError, OutputError
from ..io import pair_cache as correlation_cache
from ..io.discovery import EARLIER_OUTPUT_REASON
from ..io.memory import TileStore, hand_back_large_blocks
from ..io.pixel_format import pixel_format_of
from ..io.positions_file import write_ofm_tile_configuration
from .affine_place import AffinePlacement, place_affine
from .candidates import (
    candidate_pairs,
    derived_minimum_overlap,
    isolated_tiles,
    neighbour_overlaps,
    neighbours_left_out,
    overlapping_pairs,
)
from .inputs import InputOptions, load_scan
from .measure import MeasureSettings, measure_pairs
from .outputs import PREVIEW, write_mosaics, write_stage_preview, write_zarr
from .place import (
    PlacedTiles,
    StartingPositionError,
    place_tiles,
    rejection_reasons,
    starting_position_error,
)
from .plot_worker import MODES_WITHOUT_PLOTS, PlotProcess
from .positions_text import write_positions_json
from .progress import Progress
from .report import fit_camera_stage_matrix, format_camera_stage_matrix
from .report_html import (
    REPORT_NAME,
    DrawnSections,
    ReportData,
    draw_sections,
    report_data,
    write_report_html,
)
from .scan import Scan
from .thresholds import (
    CONVINCING_QUALITY,
    REJECTION_REASONS,
    PairSelection,
    ThresholdSettings,
    select_pairs,
)

INPUTS_PLOT = "stitching_inputs.png"
CORRELATIONS_PLOT = "stitching_correlations.png"
# Bumped whenever a change to the measuring code changes results, so old cache entries are not
# reused.
ALGORITHM_VERSION = 2
StitchingMode = Literal["all", "preview_stitch", "stage_stitch", "only_correlate"]
Priority = Literal["time", "memory"]
Transform = Literal["translation", "affine"]
STITCHING_MODES: tuple[str, ...] = ("all", "preview_stitch", "stage_stitch", "only_correlate")
# The placement's conjugate-gradient tolerance (relative residual) in a batch run: used only
# where a scan's pairs form no narrow band (core.solve), since the direct solve is exact.
BATCH_PLACEMENT_TOLERANCE = 1e-12
# Default search radius around the stage prediction, as a fraction of the tile's shorter side.
DEFAULT_SEARCH_FRACTION = 0.25
# The camera-stage matrix the registration implies is printed when it differs from the one
# used by more than this (relative Frobenius norm): below, it is noise, not advice.
CSM_CHANGE_WORTH_TELLING = 0.01


@dataclass(frozen=True)
class StitchOptions:
    inputs: InputOptions = field(default_factory=InputOptions)
    output_dir: Path | None = None  # None: the input folder
    stitching_mode: StitchingMode = "all"
    correlation: CorrelationSettings = field(default_factory=CorrelationSettings)
    resize: float = 1.0
    pad: bool = True
    # None: upstream's 0.2, or half the scan's neighbour overlap when that is thinner
    minimum_overlap: float | None = None
    search_radius: float | None = None  # --corr_mask_radius, input pixels
    thresholds: ThresholdSettings = field(default_factory=ThresholdSettings)
    use_cache: bool = True
    threads: int = 0
    # memory: hold no decoded tiles for the renderer and measure pairs holding less at once
    # (measure.py), for small machines; time: hold what speeds the run up
    priority: Priority = "time"
    stitch_tiff: bool = False
    stitch_dzi: bool = False
    tiff_layout: str = "subifd"  # see render.writers.TIFF_LAYOUTS
    stitch_zarr: bool = False  # an OME-Zarr beside the other outputs (the fusion family)
    # A Dask scheduler (tcp://HOST:PORT): pairs are measured (and the OME-Zarr painted) there.
    dask_scheduler: str | None = None
    blend: str = "nearest"
    # affine: per-tile affine maps on top of the translation placement (affine_place)
    transform: Transform = "translation"
    quiet: bool = False
    progress: bool = True


@dataclass
class StitchResult:
    scan: Scan
    output_dir: Path
    measurements: list[PairMeasurement] = field(default_factory=list)
    selection: PairSelection | None = None
    layout: PlacedTiles | None = None
    affine: AffinePlacement | None = None  # with --transform affine
    # Per measurement: None where the placement used it, else why not (REJECTION_REASONS).
    rejected: tuple[str | None, ...] = ()
    written: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class _Reporter:
    """Messages for the user on stdout (not when quiet); warnings always go to stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        # Every message and warning, printed or not (for the HTML report).
        self.said: list[str] = []

    def info(self, message: str) -> None:
        self.said.append(message)
        if self.quiet:
            return
        try:
            print(message, flush=True)
        except BrokenPipeError:
            # stdout was closed early (piped into head, say): keep working, stop talking.
            self.quiet = True

    def warn(self, message: str) -> None:
        self.said.append(f"warning: {message}")
        print(f"warning: {message}", file=sys.stderr, flush=True)


def stitch(
    folder: Path | str,
    options: StitchOptions | None = None,
    *,
    plot_helper: PlotProcess | None = None,
    scan: Scan | None = None,
    tiles_held: TileStore | None = None,
    cache: correlation_cache.CorrelationCache | None = None,
    placement_tolerance: float = BATCH_PLACEMENT_TOLERANCE,
) -> StitchResult:
    """Run the whole job on ``folder`` and write the outputs the mode asks for.

    ``plot_helper``: a plot process the caller already started (the command does, before its
    own imports); it is stopped if the mode draws no plots. ``scan``: the folder's tiles as
    the input stage would find them, when the caller has them already (live stitching), and
    ``tiles_held``: decoded tiles it holds, by index in ``scan`` (not decoded again).
    ``cache``: the correlation cache the caller has open (live stitching: the one its pairs
    went into), used instead of reading the file again; its tile numbers may differ from
    ``scan``'s. ``placement_tolerance``: the placement solves' conjugate-gradient tolerance.
    """
    options = options or StitchOptions()
    draws_plots = options.stitching_mode not in MODES_WITHOUT_PLOTS
    if plot_helper is not None and not draws_plots:
        plot_helper.abort()
        plot_helper = None
    # The helper process that draws the diagnostic plots starts first, so that its slow
    # matplotlib import overlaps with reading the scan (see plot_process).
    plots = plot_helper or (PlotProcess() if draws_plots else None)
    try:
        return _stitch(Path(folder), options, plots, scan, tiles_held, cache, placement_tolerance)
    except BaseException:
        if plots is not None:
            plots.abort()
        raise


def _stitch(
    folder: Path,
    options: StitchOptions,
    plots: PlotProcess | None,
    scan: Scan | None = None,
    tiles_held: TileStore | None = None,
    cache: correlation_cache.CorrelationCache | None = None,
    placement_tolerance: float = BATCH_PLACEMENT_TOLERANCE,
) -> StitchResult:
    say = _Reporter(options.quiet)
    clock = _Stopwatch()
    progress = Progress.on_terminal(quiet=options.quiet or not options.progress)

    if scan is None:
        scan = load_scan(folder, options.inputs, progress=progress)
    clock.lap("inputs")
    _report_skipped(scan.skipped, say)
    say.info(f"{len(scan.tiles)} tiles from {folder} (positions from {scan.position_source})")
    if scan.zstack_note is not None:
        say.info(scan.zstack_note)
    if options.stitching_mode != "only_correlate":
        # A tile the renderer cannot hold (float samples, say) fails now, not after the
        # correlation work.
        pixel_format_of(scan.tiles)
    output_dir = _prepare_output_dir(options.output_dir or folder)
    result = StitchResult(scan=scan, output_dir=output_dir, timings=clock.laps)

    if options.stitching_mode == "stage_stitch":
        result.written += write_stage_preview(scan, output_dir, blend=options.blend)
        clock.lap("render")
        return result

    settings = MeasureSettings(
        correlation=options.correlation,
        search_radius=_search_radius(options, scan.tiles[0].shape),
        resize=options.resize,
        pad=options.pad,
        threads=options.threads,
        low_memory=options.priority == "memory",
    )
    if options.priority == "memory":
        hand_back_large_blocks()
    if options.stitching_mode == "only_correlate":
        pairs = _candidate_pairs(scan, options, say)
        result.measurements = _measure_with_cache(
            scan, pairs, settings, options, output_dir, say, progress
        )
        clock.lap("correlate")
        return result

    # The plots are drawn under draft names that become final only when the whole run
    # succeeds: a failed run leaves nothing that looks like a result (and keeps the plots of
    # an earlier run).
    assert plots is not None
    plot_paths = {
        name: (output_dir / name, output_dir / f".{name}.{os.getpid()}.partial.png")
        for name in (INPUTS_PLOT, CORRELATIONS_PLOT)
    }
    inputs_draft = plot_paths[INPUTS_PLOT][1]
    correlations_draft = plot_paths[CORRELATIONS_PLOT][1]
    try:
        # The map needs only the scan: sent before the candidate search, it is drawn while the
        # pairs are found, measured and placed. A live session's final run measures nothing
        # (every pair is cached), so that is all the time the helper has before the render
        # takes both cores.
        plots.inputs(
            scan.stage_positions_px, scan.tiles[0].shape, [t.name for t in scan.tiles], inputs_draft
        )
        pairs = _candidate_pairs(scan, options, say)
        # Decoded tiles are kept for the renderer when they fit in memory (one decode per
        # tile), never with --priority memory: the renderer then decodes strips from the files.
        budget = 0 if options.priority == "memory" else None
        tile_store = TileStore(len(scan.tiles), scan.tiles[0].decoded_bytes, budget)
        if tiles_held is not None and tile_store.enabled:
            tile_store = tiles_held
        try:
            result.measurements = _measure_with_cache(
                scan, pairs, settings, options, output_dir, say, progress, tile_store, cache
            )
            clock.lap("correlate")
            result.selection, result.layout, result.rejected = _select_and_place(
                scan, result.measurements, options, say, placement_tolerance
            )
            if options.transform == "affine":
                with progress.reporting("matching points", "pair") as matched:
                    result.affine = _place_affine(scan, result, tile_store, say, matched)
            clock.lap("place")
            automatic = options.thresholds.method == "automatic"
            plots.correlations(
                result.measurements,
                result.rejected,
                correlations_draft,
                _plot_thresholds(result.selection, options),
                # Automatic thresholds judge the discrepancy left after the scan's affine stage
                # error: the plot shows that one, so the pairs sit where they were judged.
                result.selection.corrected_discrepancy.tolist() if automatic else None,
            )
            # The position files are written on a thread while the mosaics render (the
            # renderer works in compiled code and libvips, without the GIL): at 1,600 tiles
            # they took 0.3-0.4 s before the render could start.
            positions_written = _write_positions_meanwhile(scan, result, settings, output_dir, say)
            clock.lap("positions")
            if cache is not None:
                # A live session's cache (every pair was in it) is written on a thread while
                # the mosaics render too (each pair's line was encoded when it was measured, so
                # the write is mostly the file's): written after the render, its fsync waited
                # for the mosaic's own pages to reach the disk (0.07 s with 8 MP tiles). The
                # session's `close` waits for it.
                cache.flush_in_background()
            before_mosaics = len(result.written)
            try:
                _render(scan, result, options, output_dir, tile_store, say, progress)
            finally:
                position_files, positions_s = positions_written()
            result.written[before_mosaics:before_mosaics] = position_files
            # The stage's own time, though it ran during the render.
            clock.laps["positions"] = positions_s
        finally:
            # The decoded tiles are freed on a thread: what follows does not need them.
            tile_store.clear_in_background()
        # The report's map and tables are drawn while the plot helper finishes (the run only
        # waits for it there).
        report_drawn = _draw_report_meanwhile(result, options, output_dir)
        plots.finish()
        for final, draft in plot_paths.values():
            os.replace(draft, final)
            result.written.append(final)
    except BaseException:
        # The helper is stopped first: one still drawing could write a draft after it was
        # removed.
        plots.abort()
        for _, draft in plot_paths.values():
            draft.unlink(missing_ok=True)
        raise
    clock.lap("render")
    result.written.append(_write_report(result, say, *report_drawn()))
    return result


def _render(
    scan: Scan,
    result: StitchResult,
    options: StitchOptions,
    output_dir: Path,
    tile_store: TileStore,
    say: _Reporter,
    progress: Progress,
) -> None:
    """The mosaics the options ask for, and the OME-Zarr."""
    assert result.layout is not None
    with progress.reporting("rendering", "row") as rendered:
        result.written += write_mosaics(
            scan,
            result.layout.positions,
            output_dir,
            full=options.stitching_mode == "all",
            tiff=options.stitch_tiff,
            dzi=options.stitch_dzi,
            tiff_layout=options.tiff_layout,
            blend=options.blend,
            affines=None if result.affine is None else result.affine.maps,
            tile_store=tile_store,
            say=say.info,
            progress=rendered,
        )
    if options.stitch_zarr and options.stitching_mode == "all":
        with progress.reporting("writing OME-Zarr", "chunk") as fused:
            result.written.append(
                write_zarr(
                    scan,
                    result.layout.positions,
                    output_dir,
                    blend=options.blend,
                    threads=options.threads,
                    dask_scheduler=options.dask_scheduler,
                    progress=fused,
                )
            )


def _candidate_pairs(scan: Scan, options: StitchOptions, say: _Reporter) -> list[CandidatePair]:
    tile_shape = scan.tiles[0].shape
    stage = scan.stage_positions_px
    overlapping = overlapping_pairs(stage, tile_shape)
    neighbours = neighbour_overlaps(stage, tile_shape, overlapping)
    minimum_overlap = options.minimum_overlap
    if minimum_overlap is None:
        minimum_overlap = derived_minimum_overlap(neighbours)
    pairs = candidate_pairs(stage, tile_shape, minimum_overlap, overlapping)
    left_out = neighbours_left_out(neighbours, pairs)
    if left_out:
        say.info(
            f"{left_out} of {len(neighbours.pairs)} neighbour pairs overlap by less than "
            f"--minimum_overlap {minimum_overlap:g} and are not measured"
        )
    lonely = isolated_tiles(len(scan.tiles), pairs)
    if lonely:
        names = ", ".join(scan.tiles[t].name for t in lonely[:5])
        more = f" and {len(lonely) - 5} more" if len(lonely) > 5 else ""
        raise InputError(
            f"{names}{more} overlap no other tile according to their positions "
            f"(--minimum_overlap {minimum_overlap:g}); check the positions, lower "
            "--minimum_overlap, or remove those files"
        )
    say.info(f"{len(pairs)} overlapping pairs to correlate")
    return pairs


def _select_and_place(
    scan: Scan,
    measurements: list[PairMeasurement],
    options: StitchOptions,
    say: _Reporter,
    tolerance: float,
) -> tuple[PairSelection, PlacedTiles, tuple[str | None, ...]]:
    """The pairs to trust, the tiles placed on them, and why each other pair was left out."""
    selection = select_pairs(measurements, options.thresholds)
    layout = place_tiles(
        scan.stage_positions_px,
        measurements,
        selection.accepted,
        # Manual thresholds are the user's decision: no pair they accept is dropped later.
        reject_inconsistent=options.thresholds.method == "automatic",
        tolerance=tolerance,
    )
    rejected = rejection_reasons(selection, layout)
    used = int(layout.accepted.sum())
    unplaced = _tiles_without_pairs(len(scan.tiles), measurements, layout.accepted)
    say.info(
        f"using {used} of {len(measurements)} pairs ({_rejections_text(rejected)})"
        + _starting_position_error(scan, layout, unplaced)
    )
    if unplaced:
        say.info(
            f"{len(unplaced)} tiles had no trustworthy pair and sit at their stage position: "
            + ", ".join(scan.tiles[t].name for t in unplaced[:5])
            + (" ..." if len(unplaced) > 5 else "")
        )
    return selection, layout, rejected


def _write_positions_meanwhile(
    scan: Scan, result: StitchResult, settings: MeasureSettings, output_dir: Path, say: _Reporter
) -> Callable[[], tuple[list[Path], float]]:
    """Start writing OFMTileConfiguration.txt and positions.json on a thread (what they say
    to the user is said now, on this one). Returns the call that waits for them: the files
    and the seconds they took, or what writing them raised."""
    extra = _positions_extra(scan, result, settings, say)
    outcome: dict[str, Any] = {}

    def write() -> None:
        started = time.perf_counter()
        try:
            outcome["files"] = _write_positions(scan, result, output_dir, extra)
        except BaseException as error:  # raised again on the waiting thread
            outcome["error"] = error
        outcome["seconds"] = time.perf_counter() - started

    writer = threading.Thread(target=write, name="ofs-positions-files", daemon=True)
    writer.start()

    def wait() -> tuple[list[Path], float]:
        writer.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["files"], outcome["seconds"]

    return wait


def _write_positions(
    scan: Scan, result: StitchResult, output_dir: Path, extra: dict[str, object]
) -> list[Path]:
    """OFMTileConfiguration.txt (as upstream) and positions.json (everything we know)."""
    layout = result.layout
    assert layout is not None
    # Paths from the output folder, so that Fiji run on it finds the tiles (bare names when
    # the output folder is the scan's).
    tiles = [t.path.absolute() for t in scan.tiles]
    ofm = write_ofm_tile_configuration(output_dir, tiles, layout.positions)
    positions_json = output_dir / "positions.json"
    write_positions_json(
        positions_json,
        scan.tiles,
        layout.positions,
        result.measurements,
        result.rejected,
        layout.residuals,
        csm_matrix=scan.csm_matrix,
        pixel_size_um=scan.pixel_size_um,
        extra=extra,
    )
    return [ofm, positions_json]


def _positions_extra(
    scan: Scan, result: StitchResult, settings: MeasureSettings, say: _Reporter
) -> dict[str, object]:
    """positions.json's entries beyond the layout: thresholds, search radius, stage spread,
    the camera-stage matrix the positions imply (said to the user when worth it), affines."""
    layout, selection = result.layout, result.selection
    assert layout is not None and selection is not None
    unplaced = _tiles_without_pairs(len(scan.tiles), result.measurements, layout.accepted)
    improved = _improved_camera_stage_matrix(scan, layout, unplaced, say)
    extra: dict[str, object] = {
        "thresholds": {
            "min_quality": selection.min_quality,
            "max_discrepancy_px": selection.max_discrepancy
            if np.isfinite(selection.max_discrepancy)
            else None,
        },
        "search_radius_px": settings.search_radius,
        "stage_sigma_px": layout.stage_sigma_px,
    }
    if improved is not None:
        extra["improved_camera_stage_matrix"] = improved.tolist()
    if result.affine is not None:
        # Each tile's map, as the align API writes it: mosaic (x, y) = A @ (x, y, 1), the
        # mosaic frame that of "positions"; and how the maps were measured.
        extra["transform"] = "affine"
        extra["tile_affines_xy"] = {
            tile.name: (_SWAP_XY @ m @ _SWAP_XY)[:2].tolist()
            for tile, m in zip(scan.tiles, result.affine.maps, strict=True)
        }
        extra["affine_placement"] = {
            "matched_pairs": result.affine.matched_pairs,
            "matches": result.affine.matches,
            "rms_residual_px": result.affine.rms_residual_px,
        }
    return extra


# Swaps (row, col) and (x, y) in a 3x3 homogeneous map.
_SWAP_XY = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _place_affine(
    scan: Scan,
    result: StitchResult,
    tile_store: TileStore,
    say: _Reporter,
    progress: Callable[[int, int], None],
) -> AffinePlacement:
    """Per-tile affines on the translation layout (affine_place), and a line about them."""
    layout = result.layout
    assert layout is not None
    placed = place_affine(
        scan.tiles,
        layout.positions,
        result.measurements,
        # Pairs the translation loops contradicted are matched too: a scan whose tiles turn is
        # exactly where translations around a loop disagree; the robust solve judges them.
        layout.accepted | layout.loop_inconsistent,
        pixels=tile_store.get if tile_store.enabled else None,
        progress=progress,
    )
    turns = [
        float(np.degrees(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))) for m in placed.maps
    ]
    scales = [float(np.sqrt(abs(np.linalg.det(m[:2, :2])))) for m in placed.maps]
    say.info(
        f"affine maps from {placed.matches} matches in {placed.matched_pairs} overlaps "
        f"(RMS residual {placed.rms_residual_px:.2f} px): tiles turned by "
        f"{min(turns):+.2f} to {max(turns):+.2f} degrees, scaled by "
        f"{min(scales):.4f} to {max(scales):.4f}"
    )
    return placed


def _draw_report_meanwhile(
    result: StitchResult, options: StitchOptions, output_dir: Path
) -> Callable[[], tuple[ReportData, DrawnSections]]:
    """Start gathering the report's content and drawing its map and tables on a thread,
    from what is known once the mosaics are written (the timings, the messages and the
    correlations plot come later). Returns the call that waits for them, or raises what
    drawing them raised. (At 1,600 tiles: 0.08-0.3 CPU-s, which the run would otherwise
    spend after the plots.)"""
    scan, layout, selection = result.scan, result.layout, result.selection
    assert layout is not None and selection is not None
    outcome: dict[str, Any] = {}

    def draw() -> None:
        try:
            unplaced = _tiles_without_pairs(len(scan.tiles), result.measurements, layout.accepted)
            data = report_data(
                title=scan.folder.name,
                tiles=scan.tiles,
                layout=layout,
                measurements=result.measurements,
                rejected=result.rejected,
                stage_positions=scan.stage_positions_px,
                position_noun=position_noun(scan),
                start_error=_start_error(scan, layout, unplaced),
                thresholds=_plot_thresholds(selection, options),
                timings={},
                messages=(),
                preview_jpeg=(output_dir / PREVIEW).read_bytes(),
                correlations_png=None,
            )
            outcome["drawn"] = data, draw_sections(data)
        except BaseException as error:  # raised again on the waiting thread
            outcome["error"] = error

    drawer = threading.Thread(target=draw, name="ofs-report-page", daemon=True)
    drawer.start()

    def wait() -> tuple[ReportData, DrawnSections]:
        drawer.join()
        if "error" in outcome:
            raise outcome["error"]
        drawn: tuple[ReportData, DrawnSections] = outcome["drawn"]
        return drawn

    return wait


def _write_report(
    result: StitchResult, say: _Reporter, data: ReportData, drawn: DrawnSections
) -> Path:
    """stitching_report.html: ``data`` and its sections ``drawn`` (`_draw_report_meanwhile`)
    with the run's timings, its messages and the correlations plot it has just written."""
    data = replace(
        data,
        timings=dict(result.timings),
        messages=tuple(say.said),
        correlations_png=(result.output_dir / CORRELATIONS_PLOT).read_bytes(),
    )
    return write_report_html(result.output_dir / REPORT_NAME, data, drawn)


def _plot_thresholds(selection: PairSelection, options: StitchOptions) -> dict[str, float | None]:
    automatic = options.thresholds.method == "automatic"
    limited = bool(np.isfinite(selection.max_discrepancy))
    return {
        "min_peak_quality": selection.min_quality,
        "max_stage_discrepancy": selection.max_discrepancy if limited else None,
        "convincing_quality": CONVINCING_QUALITY if automatic else None,
    }


def _rejections_text(rejected: tuple[str | None, ...]) -> str:
    """ "3 rejected: 2 for quality, 1 for loop inconsistency", or "0 rejected"."""
    counts = Counter(reason for reason in rejected if reason is not None)
    total = sum(counts.values())
    if not total:
        return "0 rejected"
    return f"{total} rejected: " + ", ".join(
        f"{counts[reason]} for {reason}" for reason in REJECTION_REASONS if counts[reason]
    )


def _search_radius(options: StitchOptions, tile_shape: tuple[int, int]) -> float:
    """How far from the stage prediction to look for each match (input pixels)."""
    if options.search_radius is not None:
        return float(options.search_radius)
    automatic = DEFAULT_SEARCH_FRACTION * min(tile_shape)
    if options.thresholds.max_stage_discrepancy is not None:
        # A match further off than the user's limit would be rejected anyway.
        return float(min(automatic, options.thresholds.max_stage_discrepancy + 2.0))
    return automatic


def _measure_with_cache(
    scan: Scan,
    pairs: list[CandidatePair],
    settings: MeasureSettings,
    options: StitchOptions,
    output_dir: Path,
    say: _Reporter,
    progress: Progress,
    tile_store: TileStore | None = None,
    cache: correlation_cache.CorrelationCache | None = None,
) -> list[PairMeasurement]:
    cache_settings = cache_key(settings)
    names = [t.name for t in scan.tiles]
    candidates = [output_dir] if options.output_dir is not None else [scan.folder, output_dir]
    if options.output_dir is not None and output_dir != scan.folder:
        candidates.append(scan.folder)
    # A cache handed over numbers the tiles its own way: measurements go in and come out
    # under its numbers, renumbered to the scan's here.
    renumber = cache is not None
    if cache is None and options.use_cache:
        signatures = [correlation_cache.FileSignature.of(t.path) for t in scan.tiles]
        cache = correlation_cache.CorrelationCache.open(candidates, cache_settings, signatures)
        for message in cache.warnings:
            say.warn(message)

    known: dict[int, PairMeasurement] = {}
    if cache is not None:
        for k, pair in enumerate(pairs):
            hit = cache.get(names[pair.i], names[pair.j], expected_shift=pair.expected_shift)
            if hit is not None:
                if renumber and (hit.i, hit.j) != (pair.i, pair.j):
                    hit = hit.renumbered(pair.i, pair.j)
                known[k] = hit
    todo = [p for k, p in enumerate(pairs) if k not in known]
    if known:
        say.info(f"{len(known)} pairs reused from the cache, {len(todo)} to measure")

    with progress.counting("correlating", len(todo), "pair") as advance:

        def measured(_index: int, measurement: PairMeasurement) -> None:
            if cache is not None:
                name_i, name_j = names[measurement.i], names[measurement.j]
                if renumber:
                    measurement = measurement.renumbered(
                        cache.tile_number(name_i), cache.tile_number(name_j)
                    )
                cache.put(name_i, name_j, measurement)
            advance(1)

        try:
            if todo and options.dask_scheduler is not None:
                fresh = _measure_on_cluster(scan, todo, settings, options.dask_scheduler, measured)
            else:
                fresh = (
                    measure_pairs(
                        scan.tiles, todo, settings, on_measured=measured, keep_tiles=tile_store
                    )
                    if todo
                    else []
                )
        finally:
            # A live session's cache is written by the run once the mosaics are (`_stitch`),
            # and by the session when it closes.
            if cache is not None and not renumber:
                cache.flush()
    fresh_iter = iter(fresh)
    return [known[k] if k in known else next(fresh_iter) for k in range(len(pairs))]


def _measure_on_cluster(
    scan: Scan,
    pairs: list[CandidatePair],
    settings: MeasureSettings,
    address: str,
    measured: Callable[[int, PairMeasurement], None],
) -> list[PairMeasurement]:
    """The pairs measured as Dask tasks on the cluster at ``address`` (the fusion family's
    `measure_pairs_on_dask`: the same kernels, so the same results as `measure_pairs`)."""
    from ..fusion.api import scheduler_client
    from ..fusion.measure import PairJob, measure_pairs_on_dask

    job = PairJob(settings.correlation, settings.search_radius, settings.resize, settings.pad)
    with scheduler_client(address) as client:
        return measure_pairs_on_dask(scan.tiles, pairs, job, client=client, on_measured=measured)


def cache_key(settings: MeasureSettings) -> dict[str, object]:
    """The settings that change measurements (never those that change only speed or memory)."""
    c = settings.correlation
    return {
        "algorithm": f"ofs-stitch-{ALGORITHM_VERSION}",
        "high_pass_sigma": c.high_pass_sigma,
        "smoothing_sigma": c.smoothing_sigma,
        "whiten": c.whiten,
        "taper": c.taper,
        "pad": settings.pad,
        "resize": settings.resize,
        "search_radius": settings.search_radius,
    }


# What the starting positions were, by where they came from (Scan.position_source).
_POSITION_NOUNS = {
    "openflexure-metadata": "the stage positions",
    "file-name": "the stage positions in the file names",
    "grid": "the grid positions",
    "positions-file": "the positions from the file",
}


def _starting_position_error(scan: Scan, layout: PlacedTiles, unplaced: list[int]) -> str:
    """How far the registered positions are from the starting ones (see
    `place.starting_position_error`), as the end of the summary line."""
    error = _start_error(scan, layout, unplaced)
    if error is None:
        return ""
    noun = position_noun(scan)
    text = f"; {noun} were off by {error.rms_px:.1f} px RMS ({error.max_px:.1f} px at most)"
    if error.affine_rms_px is not None:
        affine = "a common scale, rotation and shear"
        text += f", {error.affine_rms_px:.1f} px RMS after removing {affine}"
    return text


def _start_error(
    scan: Scan, layout: PlacedTiles, unplaced: list[int]
) -> StartingPositionError | None:
    placed = np.ones(len(scan.tiles), dtype=bool)
    placed[unplaced] = False
    return starting_position_error(scan.stage_positions_px, layout, placed)


def position_noun(scan: Scan) -> str:
    """What the scan's starting positions were, in words ("the grid positions")."""
    return _POSITION_NOUNS.get(scan.position_source, "the starting positions")


def _tiles_without_pairs(
    n: int, measurements: list[PairMeasurement], accepted: np.ndarray
) -> list[int]:
    linked = np.zeros(n, dtype=bool)
    for pair, keep in zip(measurements, accepted, strict=True):
        if keep:
            linked[pair.i] = linked[pair.j] = True
    return [int(t) for t in np.flatnonzero(~linked)]


def _improved_camera_stage_matrix(
    scan: Scan, layout: PlacedTiles, unplaced: list[int], say: _Reporter
) -> np.ndarray | None:
    """The camera-stage matrix the registered positions imply (printed as upstream does, but
    only when it says something: fitted on the tiles that pairs placed, and different enough
    from the one used to be worth acting on)."""
    if scan.csm_matrix is None or any(t.stage_xyz is None for t in scan.tiles):
        return None
    placed = np.ones(len(scan.tiles), dtype=bool)
    placed[unplaced] = False
    stage_xy = np.array([t.stage_xyz[:2] for t in scan.tiles if t.stage_xyz is not None])
    improved = fit_camera_stage_matrix(stage_xy[placed], layout.positions[placed])
    if improved is None:
        return None
    change = np.linalg.norm(improved - scan.csm_matrix) / np.linalg.norm(scan.csm_matrix)
    if change > CSM_CHANGE_WORTH_TELLING:
        say.info(f"camera-stage matrix used: {format_camera_stage_matrix(scan.csm_matrix)}")
        say.info(
            f"the registered positions imply one {100 * change:.1f} % different (recalibrate "
            "the camera-stage mapping, or start later scans of these image widths with "
            f"--csm_matrix): {format_camera_stage_matrix(improved)}"
        )
    return improved


def _report_skipped(skipped: list[tuple[Path, str]], say: _Reporter) -> None:
    """One line per file left out, but one line in all for earlier outputs: a re-run into the
    input folder finds the tool's own outputs there every time."""
    earlier = [path.name for path, why in skipped if why.endswith(EARLIER_OUTPUT_REASON)]
    for path, reason in skipped:
        if len(earlier) < 2 or not reason.endswith(EARLIER_OUTPUT_REASON):
            say.info(f"skipped {path.name}: {reason}")
    if len(earlier) >= 2:
        say.info(f"skipped {len(earlier)} earlier outputs: {', '.join(earlier)}")


def _prepare_output_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise OutputError(f"output folder {path} is a file, not a folder; give a folder with -o")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create output folder {path}: {error.strerror}; choose another with -o"
        ) from None
    probe = path / ".ofs-stitch-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(
            f"cannot write in output folder {path}: {error.strerror}; "
            "choose a writable folder with -o"
        ) from None
    return path


class _Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now
