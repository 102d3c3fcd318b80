"""The command's entry point: numpy loads after it, with one BLAS thread, the plot helper
starts before the heavy imports when the command line will draw plots, and a finished run
leaves complete outputs although it skips the interpreter's shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pyvips

import ofs_stitch
from ofs_stitch.cli import command

# Run in fresh interpreters: this test process has long imported numpy.
from ofs_stitch.stitching import pipeline, plot_worker
from ofs_stitch.stitching.pipeline import StitchOptions
from ofs_stitch.stitching.plot_worker import PlotProcess

ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=ENVIRONMENT,
        check=True,
    )
    return done.stdout.strip()


def test_importing_the_package_does_not_load_numpy_until_the_api_is_used() -> None:
    out = _python(
        """
        import sys
        import ofs_stitch
        before = "numpy" in sys.modules
        from ofs_stitch import register_pair, solve_positions
        print(before, "numpy" in sys.modules, callable(register_pair), callable(solve_positions))
        """
    )
    assert out == "False True True True"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_the_command_runs_numpy_with_one_blas_thread() -> None:
    # OpenBLAS would start a spinning worker per further core when numpy loads.
    out = _python(
        """
        import os
        from ofs_stitch.cli import command
        try:
            command.main(["--help"])
        except SystemExit:
            pass
        import numpy
        print(os.environ["OPENBLAS_NUM_THREADS"], len(os.listdir("/proc/self/task")))
        """
    )
    assert out.splitlines()[-1] == "1 1"


def test_version_is_printed_without_a_folder() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ofs_stitch", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ofs-stitch {ofs_stitch.__version__}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["scan"], True),
        (["scan", "-o", "out", "--high_pass_sigma", "2"], True),
        (["scan", "--stitching_mode", "preview_stitch"], True),
        (["scan", "--help"], False),
        (["-h"], False),
        (["--vers"], False),  # argparse's abbreviation of --version
        (["scan", "--show_cached_settings"], False),
        (["scan", "--stitching_mode", "only_correlate"], False),
        (["scan", "--stitching_mode=stage_stitch"], False),
    ],
)
def test_the_plot_helper_starts_early_only_for_runs_that_plot(
    argv: list[str], expected: bool
) -> None:
    assert command.draws_plots(argv) is expected


def test_the_modes_without_plots_are_real_modes_and_the_others_plot() -> None:
    # One list, read by the command (before numpy loads) and by the pipeline.
    without = set(plot_worker.MODES_WITHOUT_PLOTS)
    assert without < set(pipeline.STITCHING_MODES)
    assert set(pipeline.STITCHING_MODES) - without == {"all", "preview_stitch"}


@pytest.fixture(scope="module")
def small_scan(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("skimage")
    from ofs_stitch.testing.scans import make_scan

    folder = tmp_path_factory.mktemp("scan") / "scan"
    return make_scan(folder, rows=1, cols=2, tile_shape=(240, 320), seed=3)


def test_the_command_hands_its_early_helper_to_the_run(
    small_scan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_helper() -> None:
        raise AssertionError("the pipeline started a second plot helper")

    monkeypatch.setattr(pipeline, "PlotProcess", second_helper)
    out = tmp_path / "out"
    assert command.main([str(small_scan.folder), "-o", str(out), "-q"]) == 0
    for name in ("stitching_inputs.png", "stitching_correlations.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_helper_the_mode_does_not_need_is_stopped(small_scan, tmp_path: Path) -> None:
    helper = PlotProcess()
    options = StitchOptions(
        output_dir=tmp_path / "out", stitching_mode="only_correlate", quiet=True
    )
    pipeline.stitch(small_scan.folder, options, plot_helper=helper)
    assert helper._process.poll() is not None  # stopped, not left running
    assert not list((tmp_path / "out").glob("*.png"))


def test_an_early_helper_is_stopped_when_the_command_line_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[FakeHelper] = []

    class FakeHelper:
        def __init__(self) -> None:
            self.stopped = False
            started.append(self)

        def abort(self) -> None:
            self.stopped = True

    monkeypatch.setattr(plot_worker, "PlotProcess", FakeHelper)
    with pytest.raises(SystemExit) as exited:
        command.main(["scan", "--no_such_option"])
    assert exited.value.code == 2
    assert len(started) == 1 and started[0].stopped


def test_a_real_run_leaves_complete_outputs_and_all_its_messages(
    small_scan, tmp_path: Path
) -> None:
    # `run` skips the interpreter's shutdown: whatever was printed or written must be complete
    # before it leaves. stdout is a pipe here, so Python buffers it.
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "ofs_stitch", str(small_scan.folder), "-o", str(out)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2 tiles from") and len(lines) >= 3
    assert "Traceback" not in done.stderr
    mosaic = pyvips.Image.new_from_file(str(out / "scan_stitched.jpg"), fail_on="truncated")
    assert mosaic.avg() > 0  # decodes to the end
    for name in ("stitching_inputs.png", "stitching_correlations.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "positions.json").read_text())["tiles"]
