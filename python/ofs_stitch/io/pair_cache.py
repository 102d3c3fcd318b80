"""The correlation cache: pair measurements kept on disk so that a re-run only measures new pairs.

One JSON file, ``openflexure_stitching_cache.json`` (upstream's name, our own schema):

.. code-block:: json

    {
      "format": "ofs-stitch correlation cache",
      "version": 1,
      "files": {"a.jpg": {"size": 1234, "mtime_ns": 1700000000123456789}, ...},
      "runs": [
        {
          "settings": {"high_pass_sigma": 10.0, "pad": true, ...},
          "last_used": "2025-01-31T12:00:00.000000+00:00",
          "pairs": [
            {"a": "a.jpg", "b": "b.jpg", "shift": [dr, dc], "expected_shift": [dr, dc],
             "pearson_r": 0.9, "peak_ratio": 5.1, "quality": 0.8},
            ...
          ]
        }
      ]
    }

Each pair is ``PairMeasurement.to_json``'s record after the names of its two files: pairs are
stored by file NAME, not by index, because indices change when images are added to a scan.
``files`` holds each file's (size, mtime_ns) as it was when its pairs were measured: when a
file's signature differs on a later run, every pair that involves it is dropped (in all runs), so
a re-captured image is always measured again. Each ``runs`` entry belongs to one set of
correlation settings (only the settings that change results: the caller decides which), so
several settings sets live side by side, as in upstream's cache.

Writes are atomic (temporary file in the same folder, then ``os.replace``) and happen while the
run progresses, throttled, so an interrupted run keeps the pairs it had finished. Unreadable,
corrupt or foreign (upstream openflexure-stitching) cache files never stop a run: they produce a
warning in ``CorrelationCache.warnings`` and are replaced by a fresh cache.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.matches import MeasurementRecordError, PairMeasurement
from . import json_text
from .atomic import write_text_atomic

CACHE_FILE_NAME = "openflexure_stitching_cache.json"
FORMAT_NAME = "ofs-stitch correlation cache"
FORMAT_VERSION = 1

# A cached pair is reused only if the stage still predicts the same shift: the measurement may
# depend on the prediction (e.g. a correlation mask centred on it), and a changed camera-stage
# matrix or positions file would otherwise silently reuse shifts measured under other premises.
EXPECTED_SHIFT_TOLERANCE_PX = 0.01


@dataclass(frozen=True)
class FileSignature:
    """What identifies one version of an input file: its name, size and modification time."""

    name: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileSignature:
        """Read the signature of the file at ``path`` (one ``stat`` call)."""
        st = os.stat(path)
        return cls(Path(path).name, int(st.st_size), int(st.st_mtime_ns))


@dataclass(frozen=True)
class CachedRun:
    """A summary of one settings set held in a cache file (for ``--show_cached_settings``)."""

    settings: dict[str, Any]
    last_used: datetime | None
    pair_count: int
    image_count: int  # distinct images referenced by the cached pairs


@dataclass
class _Document:
    """A parsed cache file.

    Its measurements number the files as the run that opened it does: ``names[k]`` is the file
    of tile k, and the files the run does not have follow, so ``get`` returns cached
    measurements as they are, and pairs of absent files are kept for later runs.
    """

    files: dict[str, tuple[int, int]]
    names: list[str]
    # Each run: {"settings": dict, "last_used": str | None,
    #            "pairs": dict[(i, j), PairMeasurement]}, a pair stored once, either way round
    runs: list[dict[str, Any]]
    malformed_pairs: int = 0
    first_malformed: str = ""  # why the first malformed pair was ignored


class CacheFormatError(ValueError):
    """The file is not a cache this version of ofs-stitch can read (message says why)."""


class CorrelationCache:
    """Cached pair measurements for one set of correlation settings and one set of files.

    Create it with :meth:`open`. ``get``/``put`` are thread-safe; ``put`` writes the file now and
    then (at most every ``flush_interval_s`` unless ``flush_every`` new pairs are waiting; with
    ``write_in_put=False`` the owner calls :meth:`write_if_due` instead, when a write suits it),
    and :meth:`flush` (or leaving a ``with`` block) writes whatever is left.

    Attributes: ``path`` (the file written, or None when no candidate folder is writable),
    ``loaded_from`` (the file read, or None), ``warnings`` (one-line messages for the user),
    ``dropped_stale`` (cached pairs discarded because a file changed).
    """

    def __init__(
        self,
        *,
        settings: dict[str, Any],
        file_signatures: Sequence[FileSignature],
        document: _Document,
        path: Path | None,
        loaded_from: Path | None,
        warnings: list[str],
        dropped_stale: int,
        flush_interval_s: float,
        flush_every: int,
        write_in_put: bool,
    ) -> None:
        # Use CorrelationCache.open(); this constructor only assembles the parts.
        self.path = path
        self.loaded_from = loaded_from
        self.warnings = warnings
        self.dropped_stale = dropped_stale
        self._settings = settings
        self._index = {sig.name: k for k, sig in enumerate(file_signatures)}
        # Changed only by add_files, under the data lock.
        self._names = document.names
        self._files = document.files
        self._runs = document.runs
        run = _find_run(self._runs, settings)
        if run is None:
            run = {"settings": settings, "last_used": None, "pairs": {}}
            self._runs.append(run)
        run["last_used"] = _now_iso()
        self._pairs: dict[tuple[int, int], PairMeasurement] = run["pairs"]
        self._flush_interval_s = flush_interval_s
        self._flush_every = flush_every
        self._write_in_put = write_in_put
        self._data_lock = threading.Lock()
        # Held for snapshot + write together, so files reach the disk in snapshot order.
        self._write_lock = threading.Lock()
        self._background_write: threading.Thread | None = None
        self._lines: _PairLines = {}  # used and replaced by each write, under the write lock
        # Opening changed "last_used" (and maybe dropped stale pairs): the file needs a write.
        self._dirty = True
        self._pairs_since_write = 0
        self._last_flush = time.monotonic()

    # ----------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        cache_dir_candidates: Sequence[Path],
        settings: Mapping[str, Any],
        file_signatures: Sequence[FileSignature],
        *,
        flush_interval_s: float = 0.5,
        flush_every: int = 1024,
        write_in_put: bool = True,
    ) -> CorrelationCache:
        """Open (or start) the cache for these settings and these files.

        ``cache_dir_candidates``: folders in order of preference, e.g. ``[input_folder,
        output_folder]`` without ``-o`` and ``[output_dir, input_folder]`` with it. The cache is
        written in the first candidate where a file can be created (a missing folder is
        created); it is read from that folder's cache file if there is a valid one, else from
        the first other candidate that has one (so a read-only input folder's cache is reused and
        carried over to the output folder). No writable candidate: the cache works in memory
        only, with a warning.

        ``settings``: JSON-serialisable values of every setting that changes measurements
        (filter sigma, padding, resize, mask radius, algorithm version, ...), never settings
        that only change speed or memory. Cached pairs are reused only under equal settings.

        ``file_signatures``: one per tile, in tile order: position k is the tile index that
        measurements use for that file.

        ``flush_interval_s`` bounds the measurements an interruption can lose; ``flush_every``
        writes sooner when that many pairs are waiting. Its default is high: each write encodes
        the whole growing file, and a fast run (400 pairs a second) rewrote it after every 64
        pairs, seven times a second, with no less lost when interrupted than the interval allows.
        ``write_in_put=False``: ``put`` never writes; the owner calls :meth:`write_if_due` when
        a write delays nothing (live stitching: once a tile's update is out).

        Never raises for the cache file's content or location: problems become ``warnings``.
        """
        canonical_settings = _canonical_settings(settings)
        names = [sig.name for sig in file_signatures]
        if len(set(names)) != len(names):
            raise ValueError("file_signatures: file names must be unique")
        warnings: list[str] = []
        candidates = [Path(c) for c in cache_dir_candidates]

        write_dir = next((d for d in candidates if _can_create_files_in(d)), None)
        if write_dir is None:
            warnings.append(
                "The correlation cache will not be saved: none of "
                + ", ".join(str(d) for d in candidates)
                + " is writable; give a writable folder with -o to keep measurements for re-runs."
            )
        read_order = ([write_dir] if write_dir is not None else []) + [
            d for d in candidates if d != write_dir
        ]
        document: _Document | None = None
        loaded_from: Path | None = None
        for folder in read_order:
            file = folder / CACHE_FILE_NAME
            if not file.is_file():
                continue
            try:
                document = _read_document(file, names)
            except CacheFormatError as error:
                # A foreign cache elsewhere (e.g. openflexure-stitch's in the input folder when
                # -o writes ours elsewhere) is left alone, and not worth a warning on every run.
                if folder == write_dir:
                    warnings.append(f"{file}: {error}; it will be replaced by a fresh cache.")
                continue
            loaded_from = file
            if document.malformed_pairs:
                warnings.append(
                    f"{file}: {document.malformed_pairs} malformed cache entries were ignored "
                    f"(the first: {document.first_malformed}); those pairs will be measured "
                    "again."
                )
            break
        if document is None:
            document = _Document(files={}, names=names, runs=[])

        dropped = _drop_stale_pairs(document, file_signatures)
        return cls(
            settings=canonical_settings,
            file_signatures=file_signatures,
            document=document,
            path=None if write_dir is None else write_dir / CACHE_FILE_NAME,
            loaded_from=loaded_from,
            warnings=warnings,
            dropped_stale=dropped,
            flush_interval_s=flush_interval_s,
            flush_every=flush_every,
            write_in_put=write_in_put,
        )

    # ----------------------------------------------------------------------------------------
    def __enter__(self) -> CorrelationCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Also on errors and Ctrl-C: whatever was measured is worth keeping.
        self.flush()

    def __len__(self) -> int:
        """Number of pairs cached for these settings."""
        with self._data_lock:
            return len(self._pairs)

    def get(
        self,
        name_i: str,
        name_j: str,
        *,
        expected_shift: tuple[float, float] | None = None,
    ) -> PairMeasurement | None:
        """The cached measurement of tile ``name_j`` relative to tile ``name_i``, or None.

        The result carries the current indices of the two names. A pair cached the other way
        round is returned turned around (shifts negated, indices swapped). When
        ``expected_shift`` is given (pass it), a cached pair whose stage prediction differs by
        more than ``EXPECTED_SHIFT_TOLERANCE_PX`` is a miss.
        """
        i, j = self._index_of(name_i), self._index_of(name_j)
        with self._data_lock:
            cached = self._pairs.get((i, j))
            reverse = None if cached is not None else self._pairs.get((j, i))
        if reverse is not None:
            cached = reverse.swapped()
        if cached is None:
            return None
        expected = cached.expected_shift
        if expected_shift is not None and (
            abs(expected[0] - expected_shift[0]) > EXPECTED_SHIFT_TOLERANCE_PX
            or abs(expected[1] - expected_shift[1]) > EXPECTED_SHIFT_TOLERANCE_PX
        ):
            return None
        return cached

    def put(self, name_i: str, name_j: str, measurement: PairMeasurement) -> None:
        """Cache ``measurement`` (whose ``i``/``j`` must be the indices of the two names).

        May write the file (throttled); call :meth:`flush` when the run ends.
        """
        i, j = self._index_of(name_i), self._index_of(name_j)
        if (measurement.i, measurement.j) != (i, j):
            raise ValueError(
                f"put({name_i!r}, {name_j!r}): the measurement is for tiles "
                f"({measurement.i}, {measurement.j}), not ({i}, {j})"
            )
        with self._data_lock:
            self._pairs.pop((j, i), None)
            self._pairs[(i, j)] = measurement
            self._dirty = True
            self._pairs_since_write += 1
            due = self._write_in_put and self._due()
        if due:
            # Another thread already writing will be followed by a later flush: don't queue.
            self._write(blocking=False)

    def write_if_due(self, patience: float = 1.0) -> None:
        """Write the file if changes have waited ``patience`` times ``flush_interval_s`` (or
        ``flush_every`` pairs are waiting), as ``put`` does at 1 (see ``write_in_put``)."""
        with self._data_lock:
            due = self._dirty and self._due(patience)
        if due:
            self._write(blocking=False)

    def seconds_until_due(self) -> float | None:
        """How long until `write_if_due` would write (0: now); None when nothing is waiting."""
        with self._data_lock:
            if not self._dirty or self.path is None:
                return None
            return self._wait_left()

    def _due(self, patience: float = 1.0) -> bool:
        """(Under the data lock) whether the pending changes should be written now."""
        return self._wait_left(patience) == 0.0

    def _wait_left(self, patience: float = 1.0) -> float:
        """(Under the data lock) seconds until the pending changes are due: they have waited
        ``patience`` times ``flush_interval_s``, or ``flush_every`` pairs are waiting (0)."""
        if self._pairs_since_write >= self._flush_every:
            return 0.0
        return max(0.0, self._last_flush + patience * self._flush_interval_s - time.monotonic())

    def flush(self) -> None:
        """Write every pending change to the cache file now (no-op without a writable folder),
        after a write `flush_in_background` started."""
        writing = self._background_write
        if writing is not None:
            writing.join()
            self._background_write = None
        self._write(blocking=True)

    def flush_in_background(self) -> None:
        """Start writing every pending change on a thread and return (a live finish writes
        its cache while it waits for the plot helper). `flush` waits for it."""
        if self.path is None or self._background_write is not None:
            return
        self._background_write = threading.Thread(
            target=self._write, kwargs={"blocking": True}, name="ofs-cache-write"
        )
        self._background_write.start()

    def add_files(self, file_signatures: Sequence[FileSignature]) -> int:
        """Take in files that appeared after :meth:`open` (live stitching): each new name
        becomes the next tile index, after those given so far. A name already among the tiles
        is a re-captured file when its signature changed: its pairs are dropped, as they are for
        a name cached with another signature. Returns how many cached pairs were dropped."""
        dropped = 0
        with self._data_lock:
            for sig in file_signatures:
                signature = (sig.size, sig.mtime_ns)
                known = self._files.get(sig.name)
                if sig.name not in self._index:
                    self._append_tile(sig.name)
                if known is not None and known != signature:
                    dropped += self._drop_pairs_of(self._index[sig.name])
                self._files[sig.name] = signature
                self._dirty = True
        return dropped

    def _append_tile(self, name: str) -> None:
        """Number ``name`` as the next tile; the cached names of absent files, which follow the
        tiles, move up by one (their pairs renumbered)."""
        tile = len(self._index)
        if len(self._names) == tile:  # no cached names of absent files follow the tiles
            self._names.append(name)
            self._index[name] = tile
            return
        others = [n for n in self._names[tile:] if n != name]
        names = self._names[:tile] + [name] + others
        if names != self._names:
            new_index = {n: k for k, n in enumerate(names)}
            renumber = {k: new_index[n] for k, n in enumerate(self._names)}
            for run in self._runs:
                current = run["pairs"] is self._pairs
                run["pairs"] = {
                    (renumber[i], renumber[j]): m.renumbered(renumber[i], renumber[j])
                    for (i, j), m in run["pairs"].items()
                }
                if current:
                    self._pairs = run["pairs"]
            self._names[:] = names
        self._index[name] = tile

    def _drop_pairs_of(self, tile: int) -> int:
        dropped = 0
        for run in self._runs:
            stale = [key for key in run["pairs"] if tile in key]
            for key in stale:
                del run["pairs"][key]
            dropped += len(stale)
        return dropped

    def tile_number(self, name: str) -> int:
        """The index this cache numbers file ``name`` by (what `put` expects and `get`
        returns); KeyError for a file it was not given."""
        return self._index_of(name)

    # ----------------------------------------------------------------------------------------
    def _index_of(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not one of the files this cache was opened for") from None

    def _write(self, *, blocking: bool) -> None:
        if self.path is None:
            return
        if not self._write_lock.acquire(blocking=blocking):
            return
        try:
            with self._data_lock:
                if not self._dirty:
                    return
                # Shallow copies (measurements are immutable) so workers wait microseconds,
                # not for the JSON encoding.
                files = dict(self._files)
                names = list(self._names)
                runs = [{**run, "pairs": dict(run["pairs"])} for run in self._runs]
                self._dirty = False
                self._pairs_since_write = 0
            started = time.monotonic()
            try:
                write_text_atomic(self.path, _serialise(files, names, runs, self._lines))
            except OSError as error:
                # OutputError (an OSError) names the file: a full disk must not stop the run.
                self.warnings.append(
                    f"The correlation cache was not saved ({error}); measurements made from "
                    "now on will not be reused by the next run."
                )
                self.path = None
                return
            except BaseException:
                # Interrupted mid-write (Ctrl-C): the final flush must try again.
                with self._data_lock:
                    self._dirty = True
                raise
            finally:
                self._last_flush = time.monotonic()
                # A big cache takes a while to write: keep writing at most ~10 % of the time.
                self._flush_interval_s = max(
                    self._flush_interval_s, 10.0 * (self._last_flush - started)
                )
        finally:
            self._write_lock.release()


# ------------------------------------------------------------------------------------------------
# Reading cache files without opening a cache (for --show_cached_settings / --use_cached_settings)


def find_cache_file(folders: Iterable[Path]) -> Path | None:
    """The first cache file in ``folders`` (in order) that this version can read, or None."""
    for folder in folders:
        file = Path(folder) / CACHE_FILE_NAME
        if file.is_file():
            try:
                _read_document(file)
            except CacheFormatError:
                continue
            return file
    return None


def cached_runs(path: Path) -> list[CachedRun]:
    """Summaries of the settings sets cached in ``path`` (a cache file or its folder).

    Most recently used first. Empty when there is no readable cache there.
    """
    file = _as_cache_file(path)
    try:
        document = _read_document(file)
    except CacheFormatError:
        return []
    runs = []
    for run in document.runs:
        names = {tile for pair in run["pairs"] for tile in pair}
        runs.append(
            CachedRun(
                settings=run["settings"],
                last_used=_parse_iso(run["last_used"]),
                pair_count=len(run["pairs"]),
                image_count=len(names),
            )
        )
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    runs.sort(key=lambda r: r.last_used or oldest, reverse=True)
    return runs


def list_cached_settings(path: Path) -> list[dict[str, Any]]:
    """The settings dicts cached in ``path`` (a cache file or its folder), most recent first."""
    return [run.settings for run in cached_runs(path)]


def most_recent_cached_settings(path: Path) -> dict[str, Any] | None:
    """The settings of the most recently used run cached in ``path``, or None when none is."""
    runs = cached_runs(path)
    return runs[0].settings if runs else None


# ------------------------------------------------------------------------------------------------


def _as_cache_file(path: Path) -> Path:
    path = Path(path)
    return path / CACHE_FILE_NAME if path.is_dir() else path


def _canonical_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    # Through JSON and back: tuples become lists and numpy scalars fail loudly here rather than
    # at the first write, so the in-memory key compares equal to what a later run reads back.
    result = json.loads(json.dumps(dict(settings), sort_keys=True))
    assert isinstance(result, dict)
    return result


def _find_run(runs: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any] | None:
    return next((run for run in runs if run["settings"] == settings), None)


def _can_create_files_in(folder: Path) -> bool:
    # Try it: os.access ignores ACLs, read-only mounts and root's rights.
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".ofs_stitch_probe_", suffix=".tmp")
    except OSError:
        return False
    os.close(handle)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return True


def _drop_stale_pairs(document: _Document, signatures: Sequence[FileSignature]) -> int:
    """Forget pairs of files whose size or mtime changed; record the current signatures."""
    changed = {
        sig.name
        for sig in signatures
        if sig.name in document.files and document.files[sig.name] != (sig.size, sig.mtime_ns)
    }
    for sig in signatures:
        document.files[sig.name] = (sig.size, sig.mtime_ns)
    # A name missing from the table cannot be checked, so it is treated as changed.
    unusable = {
        k for k, name in enumerate(document.names) if name in changed or name not in document.files
    }
    dropped = 0
    for run in document.runs:
        pairs = run["pairs"]
        stale = [key for key in pairs if key[0] in unusable or key[1] in unusable]
        for key in stale:
            del pairs[key]
        dropped += len(stale)
    return dropped


def _read_document(file: Path, names: Sequence[str] = ()) -> _Document:
    """Parse a cache file; raise CacheFormatError saying why it cannot be used.

    ``names``: the files of the run, in tile order (see ``_Document``).
    """
    try:
        raw = json.loads(file.read_bytes())
    except OSError as error:
        raise CacheFormatError(f"cannot be read ({error.strerror or error})") from None
    except (ValueError, RecursionError):
        raise CacheFormatError("is not valid JSON (corrupt or truncated)") from None
    if not isinstance(raw, dict):
        raise CacheFormatError("is not a correlation cache")
    if raw.get("format") != FORMAT_NAME:
        if "correlations" in raw and "images" in raw:
            raise CacheFormatError("is an openflexure-stitching cache, which ofs-stitch cannot use")
        raise CacheFormatError("is not an ofs-stitch correlation cache")
    if raw.get("version") != FORMAT_VERSION:
        raise CacheFormatError(
            f"has cache format version {raw.get('version')!r}; this ofs-stitch reads version "
            f"{FORMAT_VERSION}"
        )
    tile_of = {name: k for k, name in enumerate(names)}
    try:
        files = {
            str(name): (_as_int(sig["size"]), _as_int(sig["mtime_ns"]))
            for name, sig in raw["files"].items()
        }
        runs = []
        malformed = 0
        first_malformed = ""
        for raw_run in raw["runs"]:
            if not isinstance(raw_run["settings"], dict):
                raise TypeError("settings")
            pairs: dict[tuple[int, int], PairMeasurement] = {}
            for raw_pair in raw_run["pairs"]:
                try:
                    measurement = _parse_pair(raw_pair, tile_of)
                except MeasurementRecordError as error:
                    malformed += 1
                    first_malformed = first_malformed or _pair_label(raw_pair) + str(error)
                    continue
                pairs[(measurement.i, measurement.j)] = measurement
            last_used = raw_run.get("last_used")
            runs.append(
                {
                    "settings": raw_run["settings"],
                    "last_used": last_used if isinstance(last_used, str) else None,
                    "pairs": pairs,
                }
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CacheFormatError("has a damaged structure") from None
    return _Document(
        files=files,
        names=list(tile_of),
        runs=runs,
        malformed_pairs=malformed,
        first_malformed=first_malformed,
    )


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _parse_pair(raw: Any, tile_of: dict[str, int]) -> PairMeasurement:
    """The measurement in one ``pairs`` entry, numbering new file names as they come."""
    if not isinstance(raw, dict):
        raise MeasurementRecordError(
            f"a pair entry must be a JSON object, not {type(raw).__name__}"
        )
    a, b = raw.get("a"), raw.get("b")
    if type(a) is not str or type(b) is not str or a == b:
        raise MeasurementRecordError(
            f"'a' and 'b' must name two different files, not {a!r} and {b!r}"
        )
    i = tile_of.setdefault(a, len(tile_of))
    j = tile_of.setdefault(b, len(tile_of))
    return PairMeasurement.from_json(raw, i=i, j=j)


def _pair_label(raw: Any) -> str:
    """The "a.jpg/b.jpg: " that says which pair an entry is, when it names its files."""
    if isinstance(raw, dict) and type(raw.get("a")) is str and type(raw.get("b")) is str:
        return f"{raw['a']}/{raw['b']}: "
    return ""


# Each cached pair's line of the file, by its run's place in the file and its two file names,
# with the measurement it encodes.
_PairLines = dict[tuple[int, str, str], tuple[PairMeasurement, str]]


def _serialise(
    files: dict[str, tuple[int, int]],
    names: Sequence[str],
    runs: list[dict[str, Any]],
    lines: _PairLines,
) -> str:
    """The file's text. ``lines``: the pair lines of the last write, reused where the
    measurement is the same object, and replaced by this write's: the file is rewritten every
    few seconds during a run, and encoding every pair each time was most of a write (40 ms at
    3,000 pairs)."""
    earlier = dict(lines)
    lines.clear()

    def line(run: int, a: str, b: str, measurement: PairMeasurement) -> str:
        known = earlier.get((run, a, b))
        if known is not None and known[0] is measurement:
            text = known[1]
        else:
            text = json_text.record_text(measurement.to_json(a=a, b=b))
        lines[(run, a, b)] = (measurement, text)
        return text

    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "files": {name: {"size": s, "mtime_ns": m} for name, (s, m) in files.items()},
        "runs": [
            {
                "settings": run["settings"],
                "last_used": run["last_used"],
                "pairs": json_text.EncodedRecords(
                    line(k, names[i], names[j], measurement)
                    for (i, j), measurement in run["pairs"].items()
                ),
            }
            for k, run in enumerate(runs)
        ],
    }
    # NaN/inf (e.g. the correlation of a blank tile) are kept as Python's JSON extension: this
    # file is only read back by ofs-stitch.
    return json_text.dumps(document)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _parse_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
