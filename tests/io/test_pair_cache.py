"""The correlation cache: reuse, invalidation, placement, concurrency and damaged files."""

from __future__ import annotations

import json
import math
import os
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from ofs_stitch.core.matches import PairMeasurement
from ofs_stitch.io import pair_cache as cache_module
from ofs_stitch.io.pair_cache import (
    CACHE_FILE_NAME,
    CorrelationCache,
    FileSignature,
    cached_runs,
    find_cache_file,
    list_cached_settings,
    most_recent_cached_settings,
)

SETTINGS = {"high_pass_sigma": 10.0, "pad": True, "resize": 1.0, "algorithm": "ofs-1"}


def signatures(names: list[str], *, size: int = 1000, mtime_ns: int = 1_700_000_000_000_000_000):
    return [FileSignature(name, size, mtime_ns) for name in names]


def measurement(i: int, j: int, k: float = 0.0) -> PairMeasurement:
    # Values with long binary expansions, to check that floats survive the JSON round trip.
    return PairMeasurement(
        i=i,
        j=j,
        shift=(0.1 + k, -300.3 / 7 + k),
        expected_shift=(0.0 + k, -43.0 + k),
        pearson_r=0.87654321 + k / 1e6,
        peak_ratio=4.25 + k,
    )


def open_cache(folder: Path, names: list[str], settings=SETTINGS, **kwargs) -> CorrelationCache:
    return CorrelationCache.open([folder], settings, signatures(names), **kwargs)


def test_round_trip_returns_identical_measurements(tmp_path):
    names = ["a.jpg", "b.jpg", "c.jpg"]
    with open_cache(tmp_path, names) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        cache.put("b.jpg", "c.jpg", measurement(1, 2, 5.0))
    assert (tmp_path / CACHE_FILE_NAME).is_file()

    reopened = open_cache(tmp_path, names)
    assert reopened.loaded_from == tmp_path / CACHE_FILE_NAME
    assert reopened.warnings == []
    assert len(reopened) == 2
    assert reopened.get("a.jpg", "b.jpg") == measurement(0, 1)
    assert reopened.get("b.jpg", "c.jpg") == measurement(1, 2, 5.0)
    assert reopened.get("a.jpg", "c.jpg") is None


# A cache as ofs-stitch wrote it before pair records had one shared encoder (commit ecdef19):
# a measured pair, one stored the other way round, a failed pair (no evidence) and a blank one
# (NaN correlation), with a second settings set from an older algorithm beside them.
LEGACY_CACHE = """{
 "format": "ofs-stitch correlation cache",
 "version": 1,
 "files": {"img_0.jpg": {"size": 250000, "mtime_ns": 1700000000000000000}, "img_1.jpg": {"size": 250001, "mtime_ns": 1700000000000000001}, "img_2.jpg": {"size": 250002, "mtime_ns": 1700000000000000002}, "img_3.jpg": {"size": 250003, "mtime_ns": 1700000000000000003}},
 "runs": [
  {
   "settings": {"algorithm": "ofs-stitch-2", "high_pass_sigma": 2.0, "pad": true, "resize": 1.0, "search_radius": 120.0, "smoothing_sigma": 1.0, "taper": 16, "whiten": 0.5},
   "last_used": "2026-12-03T11:09:24.596851+00:00",
   "pairs": [
    {"a": "img_0.jpg", "b": "img_1.jpg", "shift": [1.2345678901234567, 447.3], "expected_shift": [0.0, 448.0], "pearson_r": 0.9712, "peak_ratio": 38.5, "quality": 0.9459740259740259},
    {"a": "img_2.jpg", "b": "img_0.jpg", "shift": [-336.25, 0.5], "expected_shift": [-336.0, 0.0], "pearson_r": 0.88, "peak_ratio": 1000000.0, "quality": 0.87999912},
    {"a": "img_1.jpg", "b": "img_3.jpg", "shift": [336.0, 0.0], "expected_shift": [336.0, 0.0], "pearson_r": 0.0, "peak_ratio": 0.0, "quality": 0.0},
    {"a": "img_2.jpg", "b": "img_3.jpg", "shift": [3.0, 450.0], "expected_shift": [0.0, 448.0], "pearson_r": NaN, "peak_ratio": 2.0, "quality": NaN}
   ]
  },
  {
   "settings": {"algorithm": "ofs-stitch-1", "high_pass_sigma": 2.0, "pad": true, "resize": 1.0, "search_radius": 120.0, "smoothing_sigma": 1.0, "taper": 16, "whiten": 0.5},
   "last_used": "2026-11-20T09:00:00.000000+00:00",
   "pairs": [
    {"a": "img_0.jpg", "b": "img_1.jpg", "shift": [1.5, 447.0], "expected_shift": [0.0, 448.0], "pearson_r": 0.5, "peak_ratio": 4.0, "quality": 0.375}
   ]
  }
 ]
}
"""  # noqa: E501 (the file's own lines)
LEGACY_SETTINGS = json.loads(LEGACY_CACHE)["runs"][0]["settings"]
LEGACY_NAMES = ["img_0.jpg", "img_1.jpg", "img_2.jpg", "img_3.jpg"]


def test_a_cache_written_before_the_shared_record_still_loads(tmp_path):
    file = tmp_path / CACHE_FILE_NAME
    file.write_text(LEGACY_CACHE)
    legacy_signatures = [
        FileSignature(name, 250_000 + k, 1_700_000_000_000_000_000 + k)
        for k, name in enumerate(LEGACY_NAMES)
    ]
    cache = CorrelationCache.open([tmp_path], LEGACY_SETTINGS, legacy_signatures)
    assert (cache.loaded_from, cache.warnings, cache.dropped_stale, len(cache)) == (file, [], 0, 4)

    measured = cache.get("img_0.jpg", "img_1.jpg", expected_shift=(0.0, 448.0))
    assert measured == PairMeasurement(
        i=0,
        j=1,
        shift=(1.2345678901234567, 447.3),
        expected_shift=(0.0, 448.0),
        pearson_r=0.9712,
        peak_ratio=38.5,
    )
    assert measured.quality == 0.9459740259740259  # the stored value, to the last bit
    turned = cache.get("img_0.jpg", "img_2.jpg", expected_shift=(336.0, 0.0))
    assert turned is not None and (turned.i, turned.j) == (0, 2)
    assert turned.shift == (336.25, -0.5) and turned.quality == 0.87999912
    failed = cache.get("img_1.jpg", "img_3.jpg")
    assert failed is not None and failed.quality == 0.0 and failed.stage_discrepancy == 0.0
    blank = cache.get("img_2.jpg", "img_3.jpg")
    assert blank is not None and math.isnan(blank.pearson_r) and math.isnan(blank.quality)
    assert blank.shift == (3.0, 450.0) and blank.peak_ratio == 2.0

    # Written again, every record comes out exactly as it went in, the other run's too.
    cache.flush()
    records = [line for line in LEGACY_CACHE.splitlines() if line.startswith('    {"a"')]
    rewritten = [line for line in file.read_text().splitlines() if line.startswith('    {"a"')]
    assert len(records) == 5 and rewritten == records
    assert [run.pair_count for run in cached_runs(file)] == [4, 1]


def test_indices_follow_the_current_file_order(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    # A new image captured earlier shifts every index by one: names keep the entries valid.
    reopened = open_cache(tmp_path, ["new.jpg", "a.jpg", "b.jpg"])
    got = reopened.get("a.jpg", "b.jpg")
    assert got is not None
    assert (got.i, got.j) == (1, 2)
    assert got.shift == measurement(0, 1).shift


def test_swapped_pair_is_turned_around(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg"])
    got = reopened.get("b.jpg", "a.jpg")
    original = measurement(0, 1)
    assert got is not None
    assert (got.i, got.j) == (1, 0)
    assert got.shift == (-original.shift[0], -original.shift[1])
    assert got.expected_shift == (-original.expected_shift[0], -original.expected_shift[1])
    assert (got.pearson_r, got.peak_ratio, got.quality) == (
        original.pearson_r,
        original.peak_ratio,
        original.quality,
    )
    assert got.stage_discrepancy == pytest.approx(original.stage_discrepancy, abs=1e-12)


def test_put_of_the_reverse_pair_replaces_the_entry(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        cache.put("b.jpg", "a.jpg", measurement(1, 0, 2.0))
        assert len(cache) == 1
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg"])
    assert reopened.get("b.jpg", "a.jpg") == measurement(1, 0, 2.0)


def test_put_rejects_indices_that_do_not_match_the_names(tmp_path):
    cache = open_cache(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    with pytest.raises(ValueError, match="tiles"):
        cache.put("a.jpg", "c.jpg", measurement(0, 1))
    with pytest.raises(KeyError, match="zzz.jpg"):
        cache.get("a.jpg", "zzz.jpg")


def test_a_changed_stage_prediction_is_a_miss(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg"])
    expected = measurement(0, 1).expected_shift
    assert reopened.get("a.jpg", "b.jpg", expected_shift=expected) is not None
    assert reopened.get("b.jpg", "a.jpg", expected_shift=(-expected[0], -expected[1])) is not None
    assert reopened.get("a.jpg", "b.jpg", expected_shift=(expected[0] + 3.0, expected[1])) is None


@pytest.mark.parametrize("change", ["size", "mtime"])
def test_a_changed_file_drops_its_pairs_in_every_settings_set(tmp_path, change):
    names = ["a.jpg", "b.jpg", "c.jpg"]
    other_settings = {**SETTINGS, "high_pass_sigma": 3.0}
    for settings in (SETTINGS, other_settings):
        with open_cache(tmp_path, names, settings) as cache:
            cache.put("a.jpg", "b.jpg", measurement(0, 1))
            cache.put("b.jpg", "c.jpg", measurement(1, 2))
            cache.put("a.jpg", "c.jpg", measurement(0, 2))

    new_signatures = signatures(names)
    old = new_signatures[2]
    new_signatures[2] = FileSignature(
        "c.jpg",
        old.size + (1 if change == "size" else 0),
        old.mtime_ns + (1 if change == "mtime" else 0),
    )
    with CorrelationCache.open([tmp_path], SETTINGS, new_signatures) as cache:
        assert cache.dropped_stale == 4  # two pairs with c.jpg, in each of the two settings sets
        assert cache.get("a.jpg", "b.jpg") == measurement(0, 1)
        assert cache.get("b.jpg", "c.jpg") is None
        assert cache.get("a.jpg", "c.jpg") is None
    # The new signature was recorded: the next run keeps what is measured now.
    again = CorrelationCache.open([tmp_path], other_settings, new_signatures)
    assert again.dropped_stale == 0
    assert len(again) == 1


def test_files_missing_from_this_run_keep_their_pairs(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg", "c.jpg"]) as cache:
        cache.put("b.jpg", "c.jpg", measurement(1, 2))
    # e.g. --image_count 2: c.jpg is not part of this run, but may be in the next one.
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        assert cache.dropped_stale == 0
    assert open_cache(tmp_path, ["a.jpg", "b.jpg", "c.jpg"]).get("b.jpg", "c.jpg") is not None


def test_different_settings_are_kept_apart(tmp_path):
    names = ["a.jpg", "b.jpg"]
    other = {**SETTINGS, "pad": False}
    with open_cache(tmp_path, names, SETTINGS) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    with open_cache(tmp_path, names, other) as cache:
        assert cache.get("a.jpg", "b.jpg") is None
        cache.put("a.jpg", "b.jpg", measurement(0, 1, 9.0))

    assert open_cache(tmp_path, names, SETTINGS).get("a.jpg", "b.jpg") == measurement(0, 1)
    assert open_cache(tmp_path, names, other).get("a.jpg", "b.jpg") == measurement(0, 1, 9.0)
    # Key order and tuple-vs-list do not make a different settings set.
    reordered = {k: SETTINGS[k] for k in reversed(list(SETTINGS))}
    assert open_cache(tmp_path, names, reordered).get("a.jpg", "b.jpg") == measurement(0, 1)


def test_cached_settings_are_listed_most_recent_first(tmp_path):
    names = ["a.jpg", "b.jpg", "c.jpg"]
    other = {**SETTINGS, "resize": 0.5}
    with open_cache(tmp_path, names, SETTINGS) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        cache.put("b.jpg", "c.jpg", measurement(1, 2))
    with open_cache(tmp_path, names, other) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))

    assert list_cached_settings(tmp_path) == [other, SETTINGS]
    assert list_cached_settings(tmp_path / CACHE_FILE_NAME) == [other, SETTINGS]
    assert most_recent_cached_settings(tmp_path) == other
    runs = cached_runs(tmp_path)
    assert [(r.pair_count, r.image_count) for r in runs] == [(1, 2), (2, 3)]
    assert all(isinstance(r.last_used, datetime) for r in runs)

    # Using the older settings again makes them the most recent.
    with open_cache(tmp_path, names, SETTINGS):
        pass
    assert most_recent_cached_settings(tmp_path) == SETTINGS


def test_no_cache_means_no_settings(tmp_path):
    assert list_cached_settings(tmp_path) == []
    assert most_recent_cached_settings(tmp_path) is None
    assert find_cache_file([tmp_path]) is None


def _make_read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` refuse new files; root ignores permissions, so then fake the refusal."""
    folder.chmod(0o555)
    probe = folder / "probe"
    try:
        probe.touch()
    except PermissionError:
        return
    probe.unlink()
    real = cache_module._can_create_files_in
    monkeypatch.setattr(
        cache_module,
        "_can_create_files_in",
        lambda d: False if Path(d).resolve() == folder.resolve() else real(d),
    )


def test_read_only_input_folder_puts_the_cache_with_the_outputs(tmp_path, monkeypatch):
    input_dir, output_dir = tmp_path / "scan", tmp_path / "out"
    input_dir.mkdir()
    names = ["a.jpg", "b.jpg"]
    # An earlier run (while the folder was writable) left a cache in the input folder.
    with open_cache(input_dir, names) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    before = (input_dir / CACHE_FILE_NAME).read_bytes()
    _make_read_only(input_dir, monkeypatch)
    try:
        with CorrelationCache.open([input_dir, output_dir], SETTINGS, signatures(names)) as cache:
            assert cache.path == output_dir / CACHE_FILE_NAME  # output folder created
            assert cache.loaded_from == input_dir / CACHE_FILE_NAME
            assert cache.get("a.jpg", "b.jpg") == measurement(0, 1)  # old work reused
        assert (input_dir / CACHE_FILE_NAME).read_bytes() == before
        assert open_cache(output_dir, names).get("a.jpg", "b.jpg") == measurement(0, 1)
    finally:
        input_dir.chmod(0o755)


def test_output_dir_cache_is_found_on_the_next_run(tmp_path):
    input_dir, output_dir = tmp_path / "scan", tmp_path / "out"
    input_dir.mkdir()
    names = ["a.jpg", "b.jpg"]
    # With -o the pipeline lists the output folder first: everything is written there.
    with CorrelationCache.open([output_dir, input_dir], SETTINGS, signatures(names)) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    assert not (input_dir / CACHE_FILE_NAME).exists()
    assert find_cache_file([output_dir, input_dir]) == output_dir / CACHE_FILE_NAME
    again = CorrelationCache.open([output_dir, input_dir], SETTINGS, signatures(names))
    assert again.loaded_from == output_dir / CACHE_FILE_NAME
    assert again.get("a.jpg", "b.jpg") == measurement(0, 1)


def test_no_writable_folder_works_in_memory_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "_can_create_files_in", lambda d: False)
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        assert cache.get("a.jpg", "b.jpg") == measurement(0, 1)
        assert cache.path is None
        assert len(cache.warnings) == 1 and "not be saved" in cache.warnings[0]
    assert not (tmp_path / CACHE_FILE_NAME).exists()


def test_concurrent_puts_are_all_persisted(tmp_path):
    names = [f"img_{k:03d}.jpg" for k in range(41)]
    pairs = [(a, b) for a in range(41) for b in range(a + 1, 41)][:800]
    cache = open_cache(tmp_path, names, flush_interval_s=0.0, flush_every=5)

    def worker(chunk):
        for a, b in chunk:
            cache.put(names[a], names[b], measurement(a, b, float(a * 100 + b)))

    threads = [threading.Thread(target=worker, args=(pairs[t::8],)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.flush()
    assert cache.warnings == []

    reopened = open_cache(tmp_path, names)
    assert len(reopened) == 800
    for a, b in pairs:
        assert reopened.get(names[a], names[b]) == measurement(a, b, float(a * 100 + b))
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_FILE_NAME]  # no temporary files left


@pytest.fixture
def writes(monkeypatch) -> list[int]:
    """One entry per write of a cache file, appended as it happens."""
    written: list[int] = []
    real = cache_module.write_text_atomic
    monkeypatch.setattr(
        cache_module, "write_text_atomic", lambda path, text: (written.append(1), real(path, text))
    )
    return written


def test_writes_are_throttled_by_count(tmp_path, writes):
    names = [f"img_{k:02d}.jpg" for k in range(30)]
    pairs = [(a, b) for a in range(30) for b in range(a + 1, 30)][:200]
    with open_cache(tmp_path, names, flush_interval_s=3600.0, flush_every=64) as cache:
        for a, b in pairs:
            cache.put(names[a], names[b], measurement(a, b))
        assert len(writes) == 3  # after pairs 64, 128 and 192
    assert len(writes) == 4  # the final flush writes the last 8
    with open_cache(tmp_path, names, flush_interval_s=3600.0) as cache:
        pass
    assert len(writes) == 5  # nothing new, but "last_used" changed: one write per run


def test_without_writes_in_put_the_owner_writes_when_due(tmp_path, writes, monkeypatch):
    names = [f"img_{k:02d}.jpg" for k in range(12)]
    cache = open_cache(tmp_path, names, flush_interval_s=0.0, flush_every=2, write_in_put=False)
    for a in range(5):
        cache.put(names[a], names[a + 1], measurement(a, a + 1))
    assert writes == []  # due five times over, but put leaves it to the owner
    cache.write_if_due()
    assert len(writes) == 1
    assert open_cache(tmp_path, names).get(names[4], names[5]) == measurement(4, 5)
    cache.write_if_due()
    assert len(writes) == 1  # nothing changed since

    # The cache's clock, moved by hand (a slow machine must not make a write due early).
    now = [1000.0]
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    patient = open_cache(tmp_path, names, flush_interval_s=10.0, write_in_put=False)
    patient.put(names[6], names[7], measurement(6, 7))
    written = len(writes)
    patient.write_if_due()
    assert len(writes) == written  # not due yet
    now[0] += 12.0
    patient.write_if_due(patience=100.0)
    assert len(writes) == written  # due, but not a hundred times over
    patient.write_if_due()
    assert len(writes) == written + 1


def test_a_background_flush_is_complete_once_flush_returns(tmp_path, monkeypatch):
    real = cache_module.write_text_atomic
    writing = threading.Event()
    release = threading.Event()

    def slow_write(path, text):
        writing.set()
        release.wait(10)
        real(path, text)

    monkeypatch.setattr(cache_module, "write_text_atomic", slow_write)
    names = [f"img_{k}.jpg" for k in range(4)]
    cache = open_cache(tmp_path, names, flush_interval_s=3600.0)
    cache.put(names[0], names[1], measurement(0, 1))
    cache.flush_in_background()
    assert writing.wait(10)  # on its own thread: this one goes on
    assert not (tmp_path / CACHE_FILE_NAME).exists()
    threading.Timer(0.05, release.set).start()
    cache.flush()  # waits for the background write
    assert open_cache(tmp_path, names).get(names[0], names[1]) == measurement(0, 1)


def test_an_interrupted_run_keeps_the_flushed_pairs(tmp_path):
    names = [f"img_{k}.jpg" for k in range(6)]
    pairs = [(a, b) for a in range(6) for b in range(a + 1, 6)][:12]
    cache = open_cache(tmp_path, names, flush_interval_s=3600.0, flush_every=5)
    for a, b in pairs:
        cache.put(names[a], names[b], measurement(a, b))
    del cache  # the run dies here: no final flush

    reopened = open_cache(tmp_path, names)
    assert len(reopened) == 10
    for a, b in pairs[:10]:
        assert reopened.get(names[a], names[b]) == measurement(a, b)


@pytest.mark.parametrize(
    "content, expected_words",
    [
        (b'{"format": "ofs-stitch correlation cache", "version": 1, "files": {', "not valid JSON"),
        (b"\x00\xff garbage", "not valid JSON"),
        (b"[1, 2, 3]", "not a correlation cache"),
        (b'{"format": "ofs-stitch correlation cache", "version": 1, "files": []}', "damaged"),
        (b'{"format": "ofs-stitch correlation cache", "version": 99}', "version 99"),
    ],
)
def test_a_damaged_cache_is_replaced_with_a_warning(tmp_path, content, expected_words):
    (tmp_path / CACHE_FILE_NAME).write_bytes(content)
    assert list_cached_settings(tmp_path) == []
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        assert cache.loaded_from is None
        assert len(cache.warnings) == 1
        assert expected_words in cache.warnings[0] and "replaced" in cache.warnings[0]
        assert str(tmp_path / CACHE_FILE_NAME) in cache.warnings[0]
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg"])
    assert reopened.warnings == []
    assert reopened.get("a.jpg", "b.jpg") == measurement(0, 1)


def test_malformed_entries_are_skipped_and_counted(tmp_path):
    with open_cache(tmp_path, ["a.jpg", "b.jpg", "c.jpg"]) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        cache.put("a.jpg", "c.jpg", measurement(0, 2))
    file = tmp_path / CACHE_FILE_NAME
    document = json.loads(file.read_text())
    document["runs"][0]["pairs"][1]["shift"] = ["x", 1]
    file.write_text(json.dumps(document))
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    assert len(reopened) == 1
    assert reopened.get("a.jpg", "b.jpg") == measurement(0, 1)
    assert len(reopened.warnings) == 1 and "1 malformed" in reopened.warnings[0]
    # The warning says which entry is damaged, and how.
    assert "a.jpg/c.jpg: 'shift' must be a list of two numbers" in reopened.warnings[0]


def test_an_upstream_cache_is_replaced_with_a_warning(tmp_path):
    # The shape openflexure-stitching 0.3.1 writes (pydantic model of images + correlations).
    upstream = {
        "images": {
            "a.jpg": {"filename": "a.jpg", "width": 640, "height": 480, "stage_position": [0, 0]}
        },
        "correlations": [
            [
                {"pad": True, "resize": 1.0, "high_pass_sigma": 10.0, "minimum_overlap": 0.2},
                [
                    {
                        "keys": ["a.jpg", "b.jpg"],
                        "image_displacement": [1.0, 300.0],
                        "stage_displacement": [0.0, 298.0],
                        "fraction_under_threshold": {"0.9": 0.99},
                    }
                ],
            ]
        ],
    }
    (tmp_path / CACHE_FILE_NAME).write_text(json.dumps(upstream, indent=4))
    assert list_cached_settings(tmp_path) == []
    with open_cache(tmp_path, ["a.jpg", "b.jpg"]) as cache:
        assert cache.get("a.jpg", "b.jpg") is None
        assert len(cache.warnings) == 1 and "openflexure-stitching" in cache.warnings[0]
    document = json.loads((tmp_path / CACHE_FILE_NAME).read_text())
    assert document["format"] == "ofs-stitch correlation cache" and document["version"] == 1


def test_an_upstream_cache_in_a_folder_we_do_not_write_is_left_alone_quietly(tmp_path):
    # openflexure-stitch ran in the input folder before; ofs-stitch now writes with -o.
    inputs, outputs = tmp_path / "scan", tmp_path / "out"
    inputs.mkdir()
    foreign = '{"images": {}, "correlations": []}'
    (inputs / CACHE_FILE_NAME).write_text(foreign)
    with CorrelationCache.open(
        [outputs, inputs], SETTINGS, signatures(["a.jpg", "b.jpg"])
    ) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        assert cache.warnings == []
    assert (inputs / CACHE_FILE_NAME).read_text() == foreign
    assert (outputs / CACHE_FILE_NAME).is_file()


def test_file_signature_reads_size_and_mtime(tmp_path):
    file = tmp_path / "a.jpg"
    file.write_bytes(b"12345")
    os.utime(file, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    assert FileSignature.of(file) == FileSignature("a.jpg", 5, 1_600_000_000_123_456_789)


def test_a_failing_write_becomes_a_warning(tmp_path, monkeypatch):
    from ofs_stitch.errors import OutputError

    def full_disk(path, text):
        raise OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(cache_module, "write_text_atomic", full_disk)
    with open_cache(tmp_path, ["a.jpg", "b.jpg"], flush_every=1) as cache:
        cache.put("a.jpg", "b.jpg", measurement(0, 1))  # triggers the write: must not raise
        assert cache.get("a.jpg", "b.jpg") == measurement(0, 1)
        assert cache.path is None
    assert len(cache.warnings) == 1 and "No space left" in cache.warnings[0]


def test_files_added_after_opening_take_the_next_indices(tmp_path):
    """Live stitching: the cache grows with the scan, one file at a time."""
    with open_cache(tmp_path, ["old.jpg", "gone.jpg", "a.jpg"]) as cache:
        cache.put("old.jpg", "gone.jpg", measurement(0, 1))
        cache.put("gone.jpg", "a.jpg", measurement(1, 2, 1.0))
    with open_cache(tmp_path, []) as cache:
        cache.add_files(signatures(["a.jpg"]))
        cache.add_files(signatures(["b.jpg"]))
        cache.put("a.jpg", "b.jpg", measurement(0, 1, 2.0))
        cache.add_files(signatures(["gone.jpg"]))
        # A file cached by an earlier run comes back with its pairs, numbered as now.
        again = cache.get("gone.jpg", "a.jpg")
        assert again is not None and (again.i, again.j) == (2, 0)
        assert again.shift == measurement(1, 2, 1.0).shift
    reopened = open_cache(tmp_path, ["a.jpg", "b.jpg", "old.jpg", "gone.jpg"])
    assert reopened.get("a.jpg", "b.jpg").shift == measurement(0, 1, 2.0).shift
    assert reopened.get("old.jpg", "gone.jpg") is not None


def test_a_file_added_again_with_another_signature_loses_its_pairs(tmp_path):
    with open_cache(tmp_path, []) as cache:
        cache.add_files(signatures(["a.jpg", "b.jpg"]))
        cache.put("a.jpg", "b.jpg", measurement(0, 1))
        assert cache.add_files(signatures(["b.jpg"])) == 0  # the same file: kept
        assert cache.get("a.jpg", "b.jpg") is not None
        assert cache.add_files(signatures(["b.jpg"], size=1234)) == 1  # re-captured
        assert cache.get("a.jpg", "b.jpg") is None


def test_a_write_encodes_only_the_pairs_that_changed(tmp_path, monkeypatch):
    """Each pair's line is reused while its measurement is the same; a replaced one is
    encoded again, and the file says what a fresh encoding would."""
    names = ["a.jpg", "b.jpg", "c.jpg"]
    encoded: list[dict] = []
    record_text = cache_module.json_text.record_text

    def counting(record, **kwargs):
        encoded.append(record)
        return record_text(record, **kwargs)

    monkeypatch.setattr(cache_module.json_text, "record_text", counting)
    cache = open_cache(tmp_path, names, write_in_put=False)
    cache.put("a.jpg", "b.jpg", measurement(0, 1))
    cache.put("b.jpg", "c.jpg", measurement(1, 2))
    cache.flush()
    assert len(encoded) == 2
    cache.put("a.jpg", "c.jpg", measurement(0, 2))
    cache.put("b.jpg", "c.jpg", measurement(1, 2, 5.0))  # measured again
    cache.flush()
    assert [(r["a"], r["b"]) for r in encoded[2:]] == [("b.jpg", "c.jpg"), ("a.jpg", "c.jpg")]
    text = (tmp_path / CACHE_FILE_NAME).read_text()
    monkeypatch.setattr(cache_module.json_text, "record_text", record_text)
    fresh = open_cache(tmp_path / "fresh", names)
    for i, j, k in ((0, 1, 0.0), (1, 2, 5.0), (0, 2, 0.0)):
        fresh.put(names[i], names[j], measurement(i, j, k))
    fresh.flush()

    def without_dates(text: str) -> list[str]:
        return [line for line in text.splitlines() if '"last_used"' not in line]

    assert without_dates(text) == without_dates((tmp_path / "fresh" / CACHE_FILE_NAME).read_text())
