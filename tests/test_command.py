"""The command's entry point: numpy loads after it, with one BLAS thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import ofs_stitch

# Run in fresh interpreters: this test process has long imported numpy.
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
        from ofs_stitch import command
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
