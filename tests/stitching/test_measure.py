"""Pair measurement: --priority memory measures every pair once, with exactly the results of
--priority time, holding strips compactly and no more pairs at once than there are threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import ofs_stitch.stitching.measure as measure_module
from ofs_stitch import _core
from ofs_stitch.core.grey import grey_float32
from ofs_stitch.core.matches import CandidatePair
from ofs_stitch.core.registration import CorrelationSettings
from ofs_stitch.stitching.candidates import candidate_pairs
from ofs_stitch.stitching.decode_order import least_waiting_order
from ofs_stitch.stitching.inputs import load_scan
from ofs_stitch.stitching.measure import MeasureSettings, _CompactStrip, measure_pairs
from ofs_stitch.stitching.scan import Scan
from ofs_stitch.testing.scans import make_scan

TILE_SHAPE = (240, 320)
WHOLE = (slice(None), slice(None))


def scan_and_pairs(folder: Path, **options) -> tuple[Scan, list[CandidatePair]]:  # type: ignore[no-untyped-def]
    make_scan(folder, tile_shape=TILE_SHAPE, **options)
    scan = load_scan(folder)
    pairs = candidate_pairs(scan.stage_positions_px, TILE_SHAPE, 0.2)
    return scan, pairs


def measure_settings(low_memory: bool, threads: int = 2) -> MeasureSettings:
    return MeasureSettings(
        correlation=CorrelationSettings(),
        search_radius=0.25 * min(TILE_SHAPE),
        threads=threads,
        low_memory=low_memory,
    )


@pytest.fixture(scope="module")
def colour_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scan, list[CandidatePair]]:
    # Captured row by row along the long side: the memory order goes down the columns instead.
    scan, pairs = scan_and_pairs(
        tmp_path_factory.mktemp("colour"), rows=3, cols=5, scan_order="raster"
    )
    order = least_waiting_order(scan.stage_positions_px, TILE_SHAPE, [(p.i, p.j) for p in pairs])
    assert order.tiles != tuple(range(15))
    return scan, pairs


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_memory_priority_measures_the_same(
    colour_scan: tuple[Scan, list[CandidatePair]], threads: int
) -> None:
    scan, pairs = colour_scan
    by_time = measure_pairs(scan.tiles, pairs, measure_settings(False, threads))
    by_memory = measure_pairs(scan.tiles, pairs, measure_settings(True, threads))
    assert by_memory == by_time
    assert all(m.peak_ratio > 0 for m in by_memory)  # all measured, none failed


@pytest.mark.parametrize(
    "options",
    [
        {"rgb": False},  # 8-bit grey: held as it is
        {"file_format": "png", "bit_depth": 16, "rgb": False},  # 16-bit grey
        {"file_format": "png", "bit_depth": 16, "rgb": True},  # 16-bit colour: held as grey
    ],
    ids=["grey8", "grey16", "rgb16"],
)
def test_memory_priority_measures_the_same_in_every_sample_format(
    tmp_path: Path, options: dict
) -> None:
    scan, pairs = scan_and_pairs(tmp_path / "scan", rows=2, cols=3, **options)
    assert measure_pairs(scan.tiles, pairs, measure_settings(True)) == measure_pairs(
        scan.tiles, pairs, measure_settings(False)
    )


class RegistrationSpy:
    """Wraps register_overlap: which strips were registered, and how many at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> None:
        self._original = measure_module.register_overlap
        self._lock = threading.Lock()
        self.shapes: list[tuple[int, ...]] = []
        self.running = 0
        self.most_running = 0
        self.fail_at = fail_at
        monkeypatch.setattr(measure_module, "register_overlap", self._register)

    def _register(self, a, b, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.shapes.append(a.shape)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            fail = len(self.shapes) == self.fail_at
        try:
            if fail:
                raise RuntimeError("registration failed")
            return self._original(a, b, *args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1


def test_memory_priority_measures_each_pair_once_and_at_most_threads_at_a_time(
    colour_scan: tuple[Scan, list[CandidatePair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan, pairs = colour_scan
    spy = RegistrationSpy(monkeypatch)
    measured: list[int] = []
    measure_pairs(
        scan.tiles,
        pairs,
        measure_settings(True, threads=2),
        on_measured=lambda index, _: measured.append(index),
    )
    assert sorted(measured) == list(range(len(pairs)))
    assert len(spy.shapes) == len(pairs)
    assert spy.most_running <= 2


def test_a_failed_measurement_ends_a_memory_priority_run(
    colour_scan: tuple[Scan, list[CandidatePair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan, pairs = colour_scan
    RegistrationSpy(monkeypatch, fail_at=3)
    with pytest.raises(RuntimeError, match="registration failed"):
        measure_pairs(scan.tiles, pairs, measure_settings(True))


def colour_ramp() -> np.ndarray:
    """8-bit RGB pixels whose band sums take every value from 0 to 765."""
    sums = np.arange(766)
    bands = np.stack(
        [np.minimum(sums, 255), np.clip(sums - 255, 0, 255), np.clip(sums - 510, 0, 255)], axis=-1
    )
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (40, 766, 3))
    return np.concatenate([bands[None].astype(np.uint8), noise.astype(np.uint8)])


@pytest.mark.parametrize(
    "pixels, waiting_bytes, ready_bytes",
    [
        (colour_ramp(), 2, 3),  # waiting: sums of three bands; ready: as decoded
        (np.dstack([colour_ramp(), np.full(colour_ramp().shape[:2], 7, np.uint8)]), 2, 4),
        (np.random.default_rng(1).integers(0, 256, (50, 60), dtype=np.uint8), 1, 1),
        (np.random.default_rng(2).integers(0, 256, (50, 60, 2), dtype=np.uint8), 1, 1),
        (np.random.default_rng(3).integers(0, 65536, (50, 60), dtype=np.uint16), 2, 2),
        (np.random.default_rng(4).integers(0, 65536, (50, 60, 3), dtype=np.uint16), 4, 4),
        (np.random.default_rng(5).random((50, 60, 3), dtype=np.float32), 4, 4),
    ],
    ids=["rgb8", "rgba8", "grey8", "grey-alpha8", "grey16", "rgb16", "float"],
)
@pytest.mark.parametrize("waits", [True, False], ids=["waiting", "ready"])
def test_compact_strips_give_exactly_the_float_grey(
    pixels: np.ndarray, waiting_bytes: int, ready_bytes: int, waits: bool
) -> None:
    region = (slice(1, 40), slice(3, 50))
    strip = _CompactStrip.cut(pixels, region, waits)
    rows, cols = 39, 47
    assert strip.samples.nbytes == rows * cols * (waiting_bytes if waits else ready_bytes)
    expected = grey_float32(pixels[region])
    assert strip.grey().dtype == np.float32
    np.testing.assert_array_equal(strip.grey(), expected)  # bit for bit, not approximately
    # The strip owns its pixels: the decoded tile can go.
    assert not np.shares_memory(strip.samples, pixels)


def test_band_sums_reproduce_the_compiled_grey_for_every_sum() -> None:
    pixels = colour_ramp()[:1]
    strip = _CompactStrip.cut(pixels, WHOLE, waits=True)
    assert strip.summed_bands
    np.testing.assert_array_equal(strip.grey(), _core.image.grey_float32(pixels))
