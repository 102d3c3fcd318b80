"""``--priority memory`` against ``--priority time``: the same outputs, no decoded tiles held for
the renderer, the low-memory measurement, and the run's peak memory in its summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from e2e_support import file_digests, run_cli

import ofs_stitch
from ofs_stitch.io.memory import TileStore
from ofs_stitch.stitching import pipeline
from ofs_stitch.testing.scans import make_scan

SCAN_NAME = "scan"
PEAK_LINE = re.compile(r"^peak memory (\d+) MB \(--priority (time|memory)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def scan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("priority") / SCAN_NAME
    make_scan(folder, rows=3, cols=3, tile_shape=(240, 320), seed=11)
    return folder


class PipelineSpy:
    """Records, without changing them, the tile stores the pipeline makes, the measurement
    settings it uses, and whether it changed how the process hands memory back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stores: list[TileStore] = []
        self.low_memory: list[bool] = []
        self.handed_back = 0
        spy = self

        class SpiedStore(TileStore):
            def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, **kwargs)
                spy.stores.append(self)

        original_measure = pipeline._measure_with_cache

        def measure(scan, pairs, settings, *args, **kwargs):  # type: ignore[no-untyped-def]
            spy.low_memory.append(settings.low_memory)
            return original_measure(scan, pairs, settings, *args, **kwargs)

        def hand_back() -> None:
            # Counted, not done: the setting would last for the rest of the test session.
            spy.handed_back += 1

        monkeypatch.setattr(pipeline, "TileStore", SpiedStore)
        monkeypatch.setattr(pipeline, "_measure_with_cache", measure)
        monkeypatch.setattr(pipeline, "hand_back_large_blocks", hand_back)


@pytest.mark.parametrize("priority", ["time", "memory"])
def test_priority_memory_holds_no_decoded_tiles_and_measures_holding_little(
    scan_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, priority: str
) -> None:
    spy = PipelineSpy(monkeypatch)
    run = run_cli([scan_folder, "-o", tmp_path / "out", "--priority", priority])
    assert run.status == 0, run.stderr
    memory = priority == "memory"
    assert spy.low_memory == [memory]
    assert spy.handed_back == int(memory)
    # A 3x3 scan of small tiles fits the store's budget: only --priority memory refuses it.
    assert [store.enabled for store in spy.stores] == [not memory]


@pytest.mark.parametrize("mode", ["all", "only_correlate"])
def test_both_priorities_say_their_peak_memory_unless_quiet(
    scan_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    PipelineSpy(monkeypatch)
    for priority in ("time", "memory"):
        out = tmp_path / priority
        run = run_cli([scan_folder, "-o", out, "--stitching_mode", mode, "--priority", priority])
        assert run.status == 0, run.stderr
        said = PEAK_LINE.findall(run.stdout)
        assert len(said) == 1 and said[0][1] == priority
        assert 20 < int(said[0][0]) < 100_000  # this process's peak, in MB
        assert run.stdout.rstrip().endswith(f"(--priority {priority})")  # the last word
        quiet = run_cli([scan_folder, "-o", out, "--stitching_mode", mode, "-q"])
        assert quiet.status == 0 and quiet.stdout == ""


def test_both_priorities_write_identical_outputs(
    scan_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    PipelineSpy(monkeypatch)
    written = {}
    for priority in ("time", "memory"):
        result = ofs_stitch.stitch(
            scan_folder, output_dir=tmp_path / priority, priority=priority, stitch_tiff=True
        )
        names = {path.name for path in result.written}
        assert f"{SCAN_NAME}_stitched.jpg" in names
        digests = file_digests(tmp_path / priority)
        # The report page records the run itself (its timings, its peak memory): not compared.
        written[priority] = {
            name: digest
            for name, digest in digests.items()
            if name in names and name != "stitching_report.html"
        }
    assert written["memory"] == written["time"]
    assert len(written["time"]) >= 6
