"""The binary wheel, installed as a user installs it: FFTW inside, the example scan stitched.

Runs on a wheel that scripts/build_wheel.sh left in dist/ (or the one named by OFS_TEST_WHEEL),
and skips when there is none: building one takes minutes (FFTW from source), more than the test
suite's budget. `bash scripts/build_wheel.sh --check` builds the wheel and runs this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_WHEEL_BYTES = 5 * 1024 * 1024
PYTHON_TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"

pytestmark = pytest.mark.slow


def built_wheel() -> Path | None:
    named = os.environ.get("OFS_TEST_WHEEL")
    if named:
        return Path(named)
    candidates = sorted(
        (ROOT / "dist").glob(f"ofs_stitch-*-{PYTHON_TAG}-{PYTHON_TAG}-*.whl"),
        key=lambda path: path.stat().st_mtime,
    )
    return candidates[-1] if candidates else None


@pytest.fixture(scope="module")
def wheel() -> Path:
    found = built_wheel()
    if found is None:
        pytest.skip(
            f"no wheel for {PYTHON_TAG} in dist/: build one with `bash scripts/build_wheel.sh`"
        )
    if not found.is_file():
        pytest.fail(f"OFS_TEST_WHEEL names {found}, which does not exist")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its test extras; returns its python."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the wheel check reads ELF headers and /proc: Linux only")
    if shutil.which("readelf") is None:
        pytest.skip("readelf is missing (Debian: apt-get install binutils)")
    environment = tmp_path_factory.mktemp("wheel-venv") / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{wheel}[test]"],
        check=True,
        env=clean_environment(),
    )
    return python


def clean_environment() -> dict[str, str]:
    """The caller's environment without anything that could point Python or the dynamic loader
    at this checkout, its development build or a system FFTW."""
    dropped = {"PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "VIRTUAL_ENV", "PYTHONHOME"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


def run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, *args], cwd=cwd, env=clean_environment(), capture_output=True, text=True
    )


def test_wheel_is_small_and_carries_both_licences(wheel: Path) -> None:
    assert wheel.stat().st_size <= MAX_WHEEL_BYTES, f"{wheel.stat().st_size} bytes"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    licences = [name for name in names if ".dist-info/licenses/" in name]
    assert any(name.endswith("/licenses/LICENSE") for name in licences), licences
    assert any(name.endswith("/licenses/fftw/COPYING") for name in licences), licences
    # One extension file and nothing vendored beside it: FFTW is linked in.
    assert [name for name in names if ".libs/" in name] == []


def test_extension_needs_no_fftw_library(installed: Path, tmp_path: Path) -> None:
    located = run(installed, "-c", "import ofs_stitch._core as c; print(c.__file__)", cwd=tmp_path)
    assert located.returncode == 0, located.stderr
    extension = Path(located.stdout.strip())
    assert extension.is_relative_to(installed.parents[1]), extension  # the venv's, not ours
    dynamic = subprocess.run(
        ["readelf", "--dynamic", "--wide", str(extension)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed, dynamic
    assert not [line for line in needed if "fftw" in line], needed
    # FFTW's symbols stay inside the extension (--exclude-libs): none is exported.
    symbols = subprocess.run(
        ["readelf", "--dyn-syms", "--wide", str(extension)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "fftwf_" not in symbols


def test_commands_and_example_run_without_any_fftw_library(installed: Path, tmp_path: Path) -> None:
    version = run(installed, "-m", "ofs_stitch", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert "0." in version.stdout + version.stderr
    command = installed.parent / "ofs-stitch"
    helped = subprocess.run(
        [command, "--help"], cwd=tmp_path, env=clean_environment(), capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert "usage" in helped.stdout.lower()

    example = run(installed, "-m", "ofs_stitch.testing.example", str(tmp_path / "ex"), cwd=tmp_path)
    assert example.returncode == 0, example.stdout + example.stderr
    assert "RMS position error" in example.stdout
    rms = float(example.stdout.split("RMS position error:")[1].split("px")[0])
    assert rms < 0.5, example.stdout
    assert (tmp_path / "ex" / "stitched" / "OFMTileConfiguration.txt").is_file()

    # After FFTs of several sizes, the process has mapped no FFTW library from anywhere: the one
    # the wheel runs is the copy inside the extension, whatever the machine has installed.
    probe = (
        "import numpy as np, ofs_stitch\n"
        "from scipy.ndimage import gaussian_filter\n"
        "rng = np.random.default_rng(1)\n"
        "a = gaussian_filter(rng.random((240, 320)), 3).astype(np.float32)\n"
        "r = ofs_stitch.register_pair(a[:200, :280], a[7:207, 3:283])\n"
        "print(round(r.shift[0], 3), round(r.shift[1], 3))\n"
        "print([l for l in open('/proc/self/maps') if 'fftw' in l])\n"
    )
    probed = run(installed, "-c", probe, cwd=tmp_path)
    assert probed.returncode == 0, probed.stderr
    shift_line, mapped_line = probed.stdout.splitlines()
    assert [float(v) for v in shift_line.split()] == pytest.approx([7.0, 3.0], abs=0.05)
    assert mapped_line == "[]"
