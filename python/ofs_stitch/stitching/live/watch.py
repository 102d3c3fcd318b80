"""``ofs-stitch FOLDER --watch``: stitch what the folder holds, then each new tile as it lands.

The folder is watched with watchdog (inotify on Linux, the native service elsewhere); on a
network share, where no change notifications arrive, or when inotify cannot start (its watch
limit reached), the folder is polled instead (``--watch_poll``). A file is handed to the
`LiveStitcher` once completely written (`completeness`). The watch ends on Ctrl-C, after
``--watch_idle`` seconds without a new tile, or when the folder disappears; the final outputs
are then written as a batch run writes them (unless the folder went, first taking in the
tiles that landed but were not handed over yet: `_Watch.last_look`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError, StitchError
from ...io.discovery import earlier_output_marker, is_image_name, natural_sort_key
from ..pipeline import StitchOptions
from ..plot_worker import PlotProcess
from .completeness import CompletenessTracker, file_signature
from .stitcher import LiveStitcher, check_live_options

# How often the main loop looks at pending files when no event wakes it, and at the folder
# when no file is pending.
TICK_S = 0.02
IDLE_TICK_S = 0.25
# A deleted tile is taken out after this long, if its folder is still there.
DELETION_GRACE_S = 0.2


@dataclass(frozen=True)
class WatchSettings:
    idle_s: float | None = None  # end after this long without a new tile; None: until Ctrl-C
    poll_s: float | None = None  # poll every this many seconds instead of inotify
    settle_s: float = 0.3  # unchanged this long = complete, when no close event says so


class _Events:
    """watchdog's callbacks -> a list of (path, what) the main loop takes; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Path, str]] = []
        self.wake = threading.Event()

    def put(self, path: str | bytes, what: str) -> None:
        name = path.decode() if isinstance(path, bytes) else path
        with self._lock:
            self._items.append((Path(name), what))
        self.wake.set()

    def take(self) -> list[tuple[Path, str]]:
        with self._lock:
            items, self._items = self._items, []
        self.wake.clear()
        return items


def _handler(events: _Events) -> Any:
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):  # type: ignore[misc]
        def on_created(self, event: Any) -> None:
            if not event.is_directory:
                events.put(event.src_path, "changed")

        def on_modified(self, event: Any) -> None:
            if not event.is_directory:
                events.put(event.src_path, "changed")

        def on_closed(self, event: Any) -> None:
            if not event.is_directory:
                events.put(event.src_path, "closed")

        def on_moved(self, event: Any) -> None:
            if not event.is_directory:
                events.put(event.src_path, "deleted")
                events.put(event.dest_path, "closed")

        def on_deleted(self, event: Any) -> None:
            if not event.is_directory:
                events.put(event.src_path, "deleted")

    return Handler()


def start_observer(
    folder: Path, events: _Events, poll_s: float | None, warn: Callable[[str], None]
) -> Any:
    """A started watchdog observer of ``folder``: native notifications, else polling."""
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    handler = _handler(events)
    if poll_s is None:
        observer = Observer()
        try:
            observer.schedule(handler, str(folder), recursive=False)
            observer.start()
            return observer
        except OSError as error:
            warn(
                f"cannot watch {folder} for changes ({error.strerror or error}); polling it "
                "every second instead (--watch_poll sets how often)"
            )
            poll_s = 1.0
    observer = PollingObserver(timeout=poll_s)
    observer.schedule(handler, str(folder), recursive=False)
    observer.start()
    return observer


def watch_folder(
    folder: Path | str,
    options: StitchOptions,
    settings: WatchSettings,
    *,
    stop: threading.Event | None = None,
    stitcher_hook: Callable[[LiveStitcher], None] | None = None,
    plot_helper: PlotProcess | None = None,
) -> int:
    """Run the watch; returns the command's exit status. ``stop``: ends the watch when set
    (tests; the command ends on Ctrl-C). ``stitcher_hook``: sees the stitcher once made."""
    folder = Path(folder)
    check_live_options(options)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: give the folder the scan is written into")
    output_dir = options.output_dir or folder
    say = _Say(options.quiet)
    stitcher = LiveStitcher(
        output_dir,
        folder=folder,
        quiet=options.quiet,
        warn=say.warn,
        stitch_options=options,
        plot_helper=plot_helper,
    )
    if stitcher_hook is not None:
        stitcher_hook(stitcher)
    events = _Events()
    if stop is not None:
        # The loop sleeps on the events between looks at the folder: ``stop`` wakes it, so
        # the final outputs start at once rather than at the next look.
        def wake_on_stop(stop: threading.Event = stop) -> None:
            stop.wait()
            events.wake.set()

        threading.Thread(target=wake_on_stop, name="ofs-watch-stop", daemon=True).start()
    tracker = CompletenessTracker(settle_s=settings.settle_s)
    watch = _Watch(folder, stitcher, events, tracker, settings, say)
    observer = None
    interrupted = vanished = False
    try:
        try:
            observer = start_observer(folder, events, settings.poll_s, say.warn)
            # Files already there, in modification order; those untouched for a while are
            # whole.
            for path, age in _images_in(folder):
                tracker.changed(path, closed=age > settings.settle_s)
            how = "polling" if settings.poll_s else "change notifications"
            ends = ""
            if settings.idle_s:
                ends = f"ends after {settings.idle_s:g} s without a new tile; "
            say.info(
                f"watching {folder} ({how}); {ends}Ctrl-C ends the watch and writes the final "
                "mosaic"
            )
            vanished = not watch.run(stop)
        except KeyboardInterrupt:
            interrupted = True
            say.info("interrupted: writing the final outputs (Ctrl-C again to stop now)")
        if observer is not None and not vanished:
            try:
                watch.last_look()
            except KeyboardInterrupt:
                stitcher.close()
                say.warn("interrupted again: the final outputs were not written")
                return 130
    finally:
        if observer is not None:
            observer.stop()
    status = _finish(stitcher, say, interrupted)
    return 2 if vanished and status == 0 else status


class _Watch:
    """What the watch knows between its looks at the folder: the files waiting to be
    complete (``tracker``), those handed to the stitcher, and deletions waiting out their
    grace."""

    def __init__(
        self,
        folder: Path,
        stitcher: LiveStitcher,
        events: _Events,
        tracker: CompletenessTracker,
        settings: WatchSettings,
        say: _Say,
    ) -> None:
        self.folder = folder
        self.stitcher = stitcher
        self.events = events
        self.tracker = tracker
        self.settings = settings
        self.say = say
        self.handed: dict[Path, tuple[int, int]] = {}  # file -> (size, mtime_ns) handed over
        # Deletions wait a moment: a folder being deleted loses its files first, and a file
        # replaced by deleting and writing it again comes back.
        self.deleted: dict[Path, float] = {}
        self.last_tile = time.monotonic()

    def run(self, stop: threading.Event | None) -> bool:
        """Hand each complete file to the stitcher until the watch ends; False when it
        ended because the folder disappeared."""
        settings, tracker = self.settings, self.tracker
        while stop is None or not stop.is_set():
            # Files waiting to settle are looked at often; otherwise only events wake the
            # loop (and a look now and then: is the folder still there, has the watch gone
            # idle?).
            busy = len(tracker) or self.deleted
            wait = TICK_S if busy else IDLE_TICK_S
            if settings.idle_s is not None and not busy:
                # Wake when the watch goes idle, not up to a look later.
                wait = min(wait, max(0.0, self.last_tile + settings.idle_s - time.monotonic()))
            self.events.wake.wait(wait)
            if not self.folder.is_dir():
                # Before its deletion events: the tiles stitched so far stay in the mosaic.
                self.say.warn(
                    f"{self.folder} disappeared: the watch ends with the tiles stitched so far"
                )
                return False
            self._take_events()
            for path, when in list(self.deleted.items()):
                if time.monotonic() - when >= DELETION_GRACE_S:
                    self._deletion_done(path)
            self._hand_over_ready()
            if settings.idle_s is not None and not len(tracker):
                if time.monotonic() - self.last_tile >= settings.idle_s:
                    self.say.info(f"no new tile for {settings.idle_s:g} s: the watch ends")
                    return True
        return True

    def last_look(self) -> None:
        """As the watch ends (Ctrl-C, ``stop``, idle): the tiles that landed but were not
        handed over yet go into the final mosaic too: those whose events had not come (a
        polled folder between polls), those still settling (waited for, up to the settle
        time). A file still being written after that is left out, with a warning."""
        self._take_events()
        handed_names = {path.name for path in self.handed}
        try:
            names = [name for name in os.listdir(self.folder) if _is_tile_name(name)]
        except OSError:
            return  # the folder is gone: the tiles stitched so far stay in the mosaic
        for name in names:
            path = self.folder / name
            if name not in handed_names and path not in self.tracker and path.is_file():
                self.tracker.changed(path)
        for path in list(self.deleted):
            self._deletion_done(path)
        deadline = time.monotonic() + self.settings.settle_s + 2 * TICK_S
        while True:
            self._hand_over_ready()
            if not len(self.tracker) or time.monotonic() >= deadline:
                break
            self.events.wake.wait(TICK_S)
            self._take_events()
        for path in self.tracker.pending():
            self.say.warn(f"{path} was still being written as the watch ended: left out")

    def _take_events(self) -> None:
        for path, what in self.events.take():
            if path.parent != self.folder or not _is_tile_name(path.name):
                continue
            if what == "deleted":
                self.tracker.forget(path)
                if path in self.handed:
                    self.deleted.setdefault(path, time.monotonic())
            else:
                self.deleted.pop(path, None)
                self.tracker.changed(path, closed=what == "closed")

    def _deletion_done(self, path: Path) -> None:
        """The grace of a deleted file is over: its tile is taken out, unless it is back."""
        del self.deleted[path]
        if not path.exists() and self.handed.pop(path, None) is not None:
            self.stitcher.remove(path)

    def _hand_over_ready(self) -> None:
        for path in self.tracker.ready():
            signature = file_signature(path)
            if signature is None or self.handed.get(path) == signature:
                continue  # gone again, or an event about a file handed over unchanged
            self.handed[path] = signature
            self.stitcher.add(path, ready_at=time.monotonic())
            self.last_tile = time.monotonic()


def _finish(stitcher: LiveStitcher, say: _Say, interrupted: bool) -> int:
    try:
        result = stitcher.finish()
    except StitchError as error:
        say.warn(f"the final outputs were not written: {error}")
        return 2
    except KeyboardInterrupt:
        stitcher.close()
        say.warn("interrupted again: the final outputs were not written")
        return 130
    except Exception as error:  # a bug, or a file vanishing under the renderer: one line
        say.warn(f"the final outputs were not written: {type(error).__name__}: {error}")
        return 2
    if result is None:
        return 130 if interrupted else 0
    if not say.quiet:
        for path in result.written:
            say.info(f"wrote {path}")
    return 130 if interrupted else 0


def _images_in(folder: Path) -> list[tuple[Path, float]]:
    """The folder's tiles now, oldest first (then in name order), with their age in s."""
    found = []
    now = time.time()
    try:
        for path in folder.iterdir():
            if _is_tile_name(path.name) and path.is_file():
                found.append((path.stat().st_mtime, natural_sort_key(path.name), path))
    except OSError:
        return []
    return [(path, now - mtime) for mtime, _, path in sorted(found)]


def _is_tile_name(name: str) -> bool:
    return is_image_name(name) and earlier_output_marker(name) is None and not name.startswith(".")


class _Say:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)
