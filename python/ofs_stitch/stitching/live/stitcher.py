"""`LiveStitcher`: tiles handed over one at a time while a scan runs; the mosaic grows on a
worker thread; `finish` writes the batch run's outputs.

The acquisition thread only queues: `add` copies an array (the caller may reuse its buffer)
and returns. One worker thread takes the tiles in order; for each: read its metadata and
pixels (`arrival`), measure its new pairs into the correlation cache and place all tiles again
(`layout`), repaint the preview where it changed (`canvas`), then replace ``positions.json``
and ``preview.jpg`` (each written under a temporary name and renamed). Between tiles the
worker sleeps on its queue: nothing runs.

`finish` is the batch pipeline itself on the tiles of the folder, handed the live cache with
every pair already in it: the final files are those ``ofs-stitch FOLDER`` writes, positions
included (the placement is solved as the batch run solves it).
"""

from __future__ import annotations

import gc
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, StitchError
from ...io.atomic import atomic_output
from ...io.decode import read_pixels
from ...io.discovery import earlier_outputs, is_image_name, natural_sort_key
from ...io.memory import TileStore
from ...io.pair_cache import CorrelationCache
from ...openflexure.naming import output_prefix, stitched_name
from ...openflexure.scan_order import capture_order, capture_time
from ...render.preview import PREVIEW_QUALITY, PREVIEW_WIDTH
from ..api import Stitched, _as_argv
from ..measure import MeasureSettings
from ..options import build_parser, options_from_args
from ..pipeline import (
    BATCH_PLACEMENT_TOLERANCE,
    StitchOptions,
    _search_radius,
    cache_key,
    stitch,
)
from ..plot_worker import MODES_WITHOUT_PLOTS, PlotProcess
from ..scan import Scan
from .arrival import (
    ArrayTiles,
    Arrival,
    ScanFrame,
    TileRejected,
    read_arrival,
)
from .canvas import LiveCanvas, to_8bit_rgb_or_grey
from .deep_zoom import LiveDeepZoom
from .layout import LayoutUpdate, LiveLayout
from .positions_file import LivePositionsFile
from .recent import RecentTiles

POSITIONS = "positions.json"
PREVIEW = "preview.jpg"
# The final placement's solve tolerance: the batch run's own, so a live run's final positions
# are the batch run's exactly. (It was looser, 1e-8, while the solves ran conjugate gradients:
# 0.31 CPU-s against 0.96 s at 1,600 tiles. They now factor each round's matrix directly, exact
# whatever the tolerance, at 0.17 s.) A warm start from the live layout would not do: the
# robust loss (Cauchy) is not convex, and from the live layout's down-weighted pairs the solves
# settled elsewhere (tiles up to 36 px off).
FINAL_PLACEMENT_TOLERANCE = BATCH_PLACEMENT_TOLERANCE
# How often the live cache file is written (at most): it bounds the pairs an interruption
# loses, and a write encodes the whole file (0.1 s at 1,600 tiles). It is written once the
# worker has had nothing to do for CACHE_WRITE_AFTER_IDLE_S (`_next_job`), or, when tiles keep
# it busy, once three intervals have passed (`_publish`).
CACHE_WRITE_INTERVAL_S = 10.0
CACHE_WRITE_AFTER_IDLE_S = 0.05
# Modes whose outputs a live run can finish with (the others place nothing).
LIVE_MODES = ("all", "preview_stitch")


@dataclass(frozen=True)
class TileReport:
    """What one tile's update did, for the status line and the benchmark."""

    name: str
    tiles: int  # in play after it
    pairs: int  # measured pairs in play
    new_pairs: int  # measured for this tile (the rest came from the cache)
    rms_residual_px: float
    ready_at: float  # time.monotonic() when the tile was known complete (or handed to add)
    # time.monotonic() when positions.json and preview.jpg showed it (when it was placed, for
    # a tile not ``shown``)
    written_at: float
    cpu_s: float  # process CPU time the update took (all threads)
    repainted_px: int  # preview pixels painted again
    # False for a tile that was still queued when `finish` was called: it was measured and
    # placed, but only the final outputs show it (the live ones were not written again).
    shown: bool = True

    @property
    def latency_s(self) -> float:
        return self.written_at - self.ready_at

    def status_line(self) -> str:
        done = f"{1000 * self.latency_s:.0f} ms" if self.shown else "for the final outputs"
        return (
            f"{self.tiles} tiles, {self.pairs} pairs, RMS residual {self.rms_residual_px:.2f} px, "
            f"{done}: {self.name}"
        )


_STOP = object()


class LiveStitcher:
    """Stitch a scan while it is acquired.

    ``output_dir``: where ``positions.json``, ``preview.jpg`` and, after `finish`, the batch
    run's outputs go. ``folder``: where the tiles are (default ``output_dir``): paths given to
    `add` must be in it, and array tiles are saved there (as ``tile_<x>_<y>_<n>.tif``), so that
    the folder is a scan ``ofs-stitch`` can stitch again. ``options``: those of
    ``ofs_stitch.stitch`` (the command's, without dashes: ``csm_matrix="[[0, 1], [1, 0]]"``,
    ``stitch_dzi=True``, ``minimum_overlap=0.1``...). ``quiet``: no status line per tile (they
    go to stdout). ``on_update(report)``: called on the worker thread after each tile;
    ``warn(message)``: where the one-line warnings go (default: stderr).
    """

    def __init__(
        self,
        output_dir: Path | str,
        *,
        folder: Path | str | None = None,
        quiet: bool = True,
        preview_width: int = PREVIEW_WIDTH,
        on_update: Callable[[TileReport], None] | None = None,
        warn: Callable[[str], None] | None = None,
        stitch_options: StitchOptions | None = None,
        plot_helper: PlotProcess | None = None,
        **options: Any,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.folder = Path(folder) if folder is not None else self.output_dir
        if stitch_options is not None:  # the command's, parsed already
            check_live_options(stitch_options)
            self.options = replace(stitch_options, output_dir=self.output_dir, quiet=quiet)
        else:
            self.options = _live_options(self.folder, self.output_dir, quiet, options)
        self.quiet = quiet
        self.on_update = on_update
        self._warn = warn or _warn_on_stderr
        self.reports: list[TileReport] = []
        self.warnings: list[str] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)

        self._frame = ScanFrame()
        self._array_tiles = ArrayTiles(self.folder)
        self._canvas = LiveCanvas(preview_width)
        self._recent = RecentTiles()
        self._headers: dict[str, Any] = {}
        # Each tile name's natural sort key, made as it came: the final scan orders them by it.
        self._sort_keys: dict[str, Any] = {}
        self._capture_times: dict[str, Any] = {}  # and its EXIF capture time
        self._positions_file = LivePositionsFile(self.output_dir / POSITIONS)
        self._deep_zoom = None
        if self.options.stitch_dzi:
            self._deep_zoom = LiveDeepZoom(
                self.output_dir / stitched_name(output_prefix(self.folder), ".dzi")
            )
        # Integer stage (x, y) -> names of the tiles there (z-stacks: one is kept).
        self._at_xy: dict[tuple[int, int], set[str]] = {}
        self._layout: LiveLayout | None = None
        self._cache: CorrelationCache | None = None
        self._update: LayoutUpdate | None = None
        self._lock = threading.Lock()  # guards _update and the canvas between threads
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        # Set by `finish`: the tiles still queued are measured and placed for the final
        # outputs, without writing the live ones, which the final outputs replace at once.
        self._finishing = False
        # The helper that draws the final plots starts now, so that its imports are done
        # long before `finish` needs it (then it waits, idle).
        self._plots = None
        if self.options.stitching_mode not in MODES_WITHOUT_PLOTS:
            self._plots = plot_helper or PlotProcess()
        elif plot_helper is not None:
            plot_helper.abort()
        self._worker = threading.Thread(target=self._work, name="ofs-live-stitcher", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- the acquisition side
    def add(
        self,
        image_or_path: np.ndarray | Path | str,
        stage_position: tuple[float, ...] | None = None,
        *,
        ready_at: float | None = None,
    ) -> None:
        """Queue a tile and return at once. A path: a complete image file in ``folder``, whose
        position is read as the batch run reads it (OpenFlexure metadata, else the numbers at
        the end of its name). An array (rows x cols [x bands], uint8 or uint16):
        ``stage_position`` (x, y[, z]) is required, in stage units (pixels, x = column,
        unless ``csm_matrix`` says otherwise); it is copied, then saved in ``folder``.
        A path added again is a re-captured file: its tile is measured again."""
        if self._closed:
            raise InputError("this LiveStitcher has finished; start a new one for another scan")
        ready = time.monotonic() if ready_at is None else ready_at
        if isinstance(image_or_path, np.ndarray):
            if stage_position is None or len(stage_position) < 2:
                raise InputError(
                    "add(array) needs stage_position=(x, y): where the stage was for this tile"
                )
            if image_or_path.ndim not in (2, 3) or image_or_path.dtype not in (
                np.uint8,
                np.uint16,
            ):
                raise InputError(
                    f"add(array): a {image_or_path.dtype} array of shape "
                    f"{image_or_path.shape}; give rows x cols [x bands] of uint8 or uint16"
                )
            self._queue.put(("array", np.array(image_or_path), tuple(stage_position), ready))
        else:
            self._queue.put(("path", Path(image_or_path), None, ready))

    def remove(self, path: Path | str) -> None:
        """Queue taking out the tile of ``path`` (its file was deleted)."""
        self._queue.put(("remove", Path(path), None, time.monotonic()))

    # ---------------------------------------------------------------- what is there now
    @property
    def positions(self) -> dict[str, tuple[float, float]]:
        """Each placed tile's file name -> its (row, col) top-left corner in pixels, minimum
        at (0, 0), as positions.json says now."""
        with self._lock:
            update = self._update
        if update is None:
            return {}
        return {
            tile.name: (float(p[0]), float(p[1]))
            for tile, p in zip(update.tiles, update.positions, strict=True)
        }

    def preview(self, size: int | None = None, *, jpeg: bool = False) -> np.ndarray | bytes:
        """The current mosaic, ``size`` pixels wide at most (default: the live preview's
        width) as a (rows, cols, bands) uint8 array, or as JPEG bytes."""
        with self._lock:
            if size is None or size == self._canvas.width or self._update is None:
                pixels = self._canvas.pixels()
            else:
                pixels = self._canvas.render(self._update.slots, self._update.frame_positions, size)
        return _jpeg_bytes(pixels) if jpeg else pixels

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every tile queued so far is on the preview (True), or ``timeout``."""
        done = threading.Event()
        self._queue.put(("mark", done, None, 0.0))
        return done.wait(timeout)

    # ---------------------------------------------------------------- the end
    def finish(self) -> Stitched | None:
        """Process what is queued, then write the final outputs as ``ofs-stitch FOLDER``
        would (every pair measured so far comes from the cache). None, with a warning, when
        fewer than two tiles could be used (the live outputs then show what was placed).
        Raises StitchError as the batch run does. Tiles still queued are measured and placed
        without writing the live outputs again, which the final outputs replace (at 1,600
        tiles positions.json and preview.jpg take 0.03-0.05 s of the time to the final
        mosaic), and without a thumbnail in the live preview (36 ms for an 8 MP tile):
        `preview` shows the mosaic as it was when `finish` was called."""
        self._finishing = True
        self._stop_worker()
        try:
            scan = self._final_scan()
            if scan is None:
                behind = bool(self.reports) and not self.reports[-1].shown
                if behind and self._update is not None:
                    self._catch_up_preview(self._update)
                    self._write_live_outputs(self._update)
                return None
            with _without_cyclic_gc():
                result = stitch(
                    self.folder,
                    self.options,
                    plot_helper=self._plots,
                    scan=scan,
                    tiles_held=self._tiles_held(scan),
                    # Every pair is in this cache already: not read back from its file (the
                    # run starts writing it once its pairs are gathered; `close` waits for it).
                    cache=self._cache,
                    placement_tolerance=FINAL_PLACEMENT_TOLERANCE,
                )
            self._plots = None
        finally:
            self.close()
        assert result.layout is not None
        return Stitched(
            output_dir=result.output_dir,
            names=tuple(tile.name for tile in result.scan.tiles),
            positions=result.layout.positions.copy(),
            written=tuple(result.written),
        )

    def close(self) -> None:
        """Stop without final outputs (what is written stays: positions.json, preview.jpg
        and the cache)."""
        self._stop_worker()
        if self._cache is not None:
            self._cache.flush()
        if self._plots is not None:
            self._plots.abort()
            self._plots = None

    def __enter__(self) -> LiveStitcher:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.finish()
        else:
            self.close()

    # ---------------------------------------------------------------- the worker
    def _stop_worker(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join()

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is _STOP:
                return
            kind, item, stage_position, ready_at = job
            if kind == "mark":
                item.set()
                continue
            try:
                self._do(kind, item, stage_position, ready_at)
            except TileRejected as rejected:
                self._say_warning(str(rejected))
            except StitchError as error:
                self._say_warning(str(error))
            except Exception as error:  # never let one tile end the scan
                self._say_warning(f"{item}: {type(error).__name__}: {error}: left out")

    def _next_job(self) -> Any:
        """The next job; the cache file is written, when due, once the worker has been idle
        for `CACHE_WRITE_AFTER_IDLE_S` (or later, once it falls due, if no job has come):
        between tiles, and not when the session is ending (a microscope server calls
        `finish` right after adding the last tile, or after its update; the final run writes
        the cache while the mosaics render)."""
        if self._cache is None:
            return self._queue.get()
        wait = CACHE_WRITE_AFTER_IDLE_S
        while True:
            try:
                return self._queue.get(timeout=wait)
            except queue.Empty:
                self._cache.write_if_due()
            # Changes that are not due yet (a write that took long stretches the interval) are
            # written once they are, also when no tile comes meanwhile: a scan that pauses
            # must not leave them unsaved.
            due_in = self._cache.seconds_until_due()
            if due_in is None:
                return self._queue.get()
            wait = max(due_in, CACHE_WRITE_AFTER_IDLE_S)

    def _do(self, kind: str, item: Any, stage_position: Any, ready_at: float) -> None:
        started_cpu = time.process_time()
        if kind == "remove":
            self._take_out(item, ready_at, started_cpu, f"{item} was deleted")
            return
        pixels = None
        if kind == "array":
            pixels = item
            path = self._array_tiles.save(pixels, stage_position)
        else:
            path = item
            if path.parent.resolve() != self.folder.resolve():
                raise TileRejected(f"{path} is not in {self.folder}: left out")
            if not is_image_name(path.name):
                raise TileRejected(f"{path} is not an image file ofs-stitch reads: left out")
        try:
            arrival = read_arrival(path, self._frame, self.options.inputs, ready_at, pixels)
        except TileRejected:
            # A tile replaced by an unusable file: the old picture is gone, take it out.
            self._take_out(path, ready_at, started_cpu, None)
            raise
        layout = self._layout or self._start(arrival)
        self._headers[arrival.tile.name] = arrival.header
        self._sort_keys[arrival.tile.name] = natural_sort_key(arrival.tile.name)
        self._capture_times[arrival.tile.name] = capture_time(arrival.header)
        duplicate = self._same_stage_position(layout, arrival)
        if duplicate is not None:
            return
        update = layout.add(arrival.tile, arrival.pixels)
        slot = layout.slot_of(arrival.tile.name)
        assert slot is not None
        if not self._finishing:
            # Once `finish` is called the final outputs show the tile, not the live preview
            # (its thumbnail took 36 ms of an 8 MP tile's update).
            with self._lock:
                self._canvas.set_tile(slot, arrival.pixels)
        self._publish(update, arrival.tile.name, ready_at, started_cpu)

    def _take_out(self, path: Path, ready_at: float, started_cpu: float, why: str | None) -> None:
        """Take the tile of ``path`` out of the mosaic, if it is in (saying ``why``)."""
        layout = self._layout
        slot = None if layout is None else layout.slot_of(path.name)
        update = None if layout is None else layout.remove(path.name)
        if update is None or slot is None:
            return
        if why is not None:
            self._say_warning(f"{why}: taken out of the mosaic")
        with self._lock:
            self._canvas.drop(slot)
        self._publish(update, path.name, ready_at, started_cpu)

    def _start(self, first: Arrival) -> LiveLayout:
        """The layout, once the first tile says the tile size (the search radius needs it)."""
        options = self.options
        settings = MeasureSettings(
            correlation=options.correlation,
            search_radius=_search_radius(options, first.tile.shape),
            resize=options.resize,
            pad=options.pad,
            threads=options.threads,
        )
        if options.use_cache:
            candidates = [self.output_dir]
            if self.folder.resolve() != self.output_dir.resolve():
                candidates.append(self.folder)
            # Written between tiles (`_next_job`), not inside a tile's update: at 1,600 tiles
            # a write takes 0.1 s, which a tile's latency would carry.
            self._cache = CorrelationCache.open(
                candidates,
                cache_key(settings),
                [],
                flush_interval_s=CACHE_WRITE_INTERVAL_S,
                write_in_put=False,
            )
            for message in self._cache.warnings:
                self._say_warning(message)
        self._layout = LiveLayout(
            settings, options.thresholds, options.minimum_overlap, self._cache, self._recent
        )
        return self._layout

    def _same_stage_position(self, layout: LiveLayout, arrival: Arrival) -> str | None:
        """A z-stack: one tile per integer stage (x, y), the largest file (as the batch run
        keeps). Returns the name of the tile kept when it is not the new one."""
        xy = _integer_xy(arrival.tile)
        if xy is None:
            return None
        there = self._at_xy.setdefault(xy, set())
        for name in sorted(there):
            slot = layout.slot_of(name)
            if name == arrival.tile.name or slot is None or not layout.active[slot]:
                continue
            tile = layout.tiles[slot]
            if self._headers[tile.name].file_size >= arrival.header.file_size:
                self._say_info(f"{arrival.tile.name}: same stage position as {tile.name}, kept")
                return tile.name
            layout.take_out(int(slot))
            with self._lock:
                self._canvas.drop(int(slot))
            self._say_info(f"{tile.name}: same stage position as {arrival.tile.name}, replaced")
        there.add(arrival.tile.name)
        return None

    def _publish(self, update: LayoutUpdate, name: str, ready_at: float, cpu: float) -> None:
        # Once `finish` is called, the final outputs, made next, show the tile: the live
        # preview is neither repainted nor written (`_catch_up_preview` if they are not made).
        shown = not self._finishing
        with self._lock:
            if shown:
                self._canvas.update(update.slots, update.frame_positions, update.changed_slots)
            self._update = update
            repainted = self._canvas.painted_pixels if shown else 0
        if shown:
            self._write_live_outputs(update)
        report = TileReport(
            name=name,
            tiles=len(update.tiles),
            pairs=len(update.pair_rows),
            new_pairs=update.new_pairs,
            rms_residual_px=update.rms_residual_px,
            ready_at=ready_at,
            written_at=time.monotonic(),
            cpu_s=time.process_time() - cpu,
            repainted_px=repainted,
            shown=shown,
        )
        self.reports.append(report)
        self._say_info(report.status_line())
        if self.on_update is not None:
            self.on_update(report)
        if self._cache is not None and shown and not self._queue.empty():
            # Tiles waiting (the worker is behind): the cache is written between them only
            # once the write is well overdue, which still bounds what an interruption loses.
            # (Not once `finish` is called: the final run writes it.)
            self._cache.write_if_due(patience=3.0)

    def _write_live_outputs(self, update: LayoutUpdate) -> None:
        """positions.json, preview.jpg and the live Deep Zoom image as ``update`` has it."""
        with self._lock:
            preview = self._canvas.pixels()
        self._write_positions(update)
        with atomic_output(self.output_dir / PREVIEW) as temporary:
            temporary.write_bytes(_jpeg_bytes(preview))
        if self._deep_zoom is not None:
            shapes = np.array([tile.shape for tile in update.tiles]).reshape(-1, 2)
            # In the solve's frame: counted from the mosaic's minimum, every tile would move
            # whenever the top-left one did (`deep_zoom`).
            self._deep_zoom.update(
                update.slots, update.frame_positions, shapes, self._display_pixels
            )

    def _write_positions(self, update: LayoutUpdate) -> None:
        extra: dict[str, object] = {
            "live": True,
            "thresholds": {
                "min_quality": update.min_quality,
                "max_discrepancy_px": update.max_discrepancy
                if np.isfinite(update.max_discrepancy)
                else None,
            },
            "stage_sigma_px": update.stage_sigma_px,
        }
        self._positions_file.write(
            update,
            csm_matrix=self._frame.matrix,
            pixel_size_um=self._frame.pixel_size_um,
            extra=extra,
        )

    def _catch_up_preview(self, update: LayoutUpdate) -> None:
        """Paint the preview as ``update`` has it, with the thumbnails of the tiles placed
        after `finish` was called (they are the latest, so still held)."""
        with self._lock:
            for slot in update.slots.tolist():
                pixels = None if self._canvas.has_thumbnail(slot) else self._recent.get(slot)
                if pixels is not None:
                    self._canvas.set_tile(slot, pixels)
            self._canvas.update(update.slots, update.frame_positions)

    def _display_pixels(self, slot: int) -> np.ndarray:
        """A tile's pixels as the 8-bit Deep Zoom tiles show them: held, else decoded."""
        assert self._layout is not None
        pixels = self._recent.get(slot)
        if pixels is None:
            pixels = read_pixels(self._layout.tiles[slot].path)
        return to_8bit_rgb_or_grey(pixels, self._canvas.white)

    def _tiles_held(self, scan: Scan) -> TileStore:
        """The decoded tiles still held, by index in the final scan: the renderer does not
        decode them again (a batch run renders from the tiles its measuring decoded)."""
        held = TileStore(len(scan.tiles), scan.tiles[0].decoded_bytes)
        layout = self._layout
        if held.enabled and layout is not None:
            for index, tile in enumerate(scan.tiles):
                slot = layout.slot_of(tile.name)
                pixels = None if slot is None else self._recent.get(slot)
                if pixels is not None:
                    held.keep(index, pixels)
        self._recent.clear()  # from here on the final run holds them
        return held

    def _final_scan(self) -> Scan | None:
        """The tiles in play as the batch input stage orders them (by name, then capture
        time), from what was read as they came: no header is read again. Files left out live
        (a corrupt one, say) stay out."""
        update = self._update
        # Files deleted since (a folder gone) cannot be rendered. Every tile is in the folder
        # (`_do`): one listing of it, not a look at each file (1,600 of them took 13-25 ms).
        present = _file_names_in(self.folder)
        live = [] if update is None else [t for t in update.tiles if t.path.name in present]
        if len(live) < 2:
            self._say_warning(
                f"{len(live)} tile(s) to stitch: at least 2 are needed, so no final mosaic "
                "was written"
            )
            return None
        keys = self._sort_keys
        live.sort(key=lambda tile: keys.get(tile.name) or natural_sort_key(tile.name))
        order = capture_order(
            [self._headers[t.name] for t in live], [self._capture_times[t.name] for t in live]
        )
        # The tiles came through `add`; what the batch run would report as skipped (earlier
        # outputs) is looked up by name alone.
        skipped = earlier_outputs(self.folder, present)
        return Scan(
            folder=self.folder,
            tiles=[live[k] for k in order],
            position_source=self._frame.position_source or "file-name",
            csm_matrix=self._frame.matrix,
            pixel_size_um=self._frame.pixel_size_um,
            skipped=skipped,
        )

    def _say_info(self, message: str) -> None:
        if not self.quiet:
            try:
                print(message, flush=True)
            except (BrokenPipeError, ValueError):
                self.quiet = True

    def _say_warning(self, message: str) -> None:
        self.warnings.append(message)
        self._warn(message)


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The final run without the cyclic garbage collector. Its objects are freed by their
    reference counts as usual; only garbage in reference cycles waits for the collector,
    which runs again (at its usual thresholds) once the run is over. At 1,600 tiles the run
    makes enough objects (a record per tile and per pair, several times over) for about 150
    collections, 0.02 s of the finish, and a full collection would also walk every object of
    the session (a header, a report, a path... per tile), which are not garbage (0.03-0.04 s).
    A host application that has turned the collector off keeps it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _file_names_in(folder: Path) -> set[str]:
    """The names of the files (or links to files) in ``folder``; none when it is gone."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except OSError:
        return set()


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _integer_xy(tile: Any) -> tuple[int, int] | None:
    if tile.stage_xyz is None:
        return None
    return round(tile.stage_xyz[0]), round(tile.stage_xyz[1])


def _jpeg_bytes(pixels: np.ndarray) -> bytes:
    import pyvips

    if pixels.size == 0:
        pixels = np.zeros((1, 1, 3), np.uint8)
    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels))
    image = image.copy(interpretation="srgb" if pixels.shape[2] == 3 else "b-w")
    return bytes(image.jpegsave_buffer(Q=PREVIEW_QUALITY))


def _live_options(
    folder: Path, output_dir: Path, quiet: bool, options: dict[str, Any]
) -> StitchOptions:
    """The batch options for ``options`` (keyword names as `ofs_stitch.stitch` takes them),
    checked by the command's own parser."""
    parser = build_parser("LiveStitcher", help_hint="see ofs-stitch --help for each option")
    args = parser.parse_args([str(folder), *_as_argv(parser, dict(options))])
    stitch_options = options_from_args(args)
    check_live_options(stitch_options)
    return replace(stitch_options, output_dir=output_dir, quiet=quiet)


def check_live_options(options: StitchOptions) -> None:
    """Options a live run cannot follow, refused before anything starts."""
    if options.inputs.grid is not None or options.inputs.positions_file is not None:
        raise InputError(
            "--watch reads each tile's position from its metadata or file name: --grid and "
            "--positions need the whole scan first; drop them, or stitch once the scan is done"
        )
    if options.inputs.image_count is not None:
        raise InputError("--image_count cannot be used with --watch: every new tile is stitched")
    if options.stitching_mode not in LIVE_MODES:
        raise InputError(
            f"--stitching_mode {options.stitching_mode} cannot be used with --watch: use "
            + " or ".join(LIVE_MODES)
        )
