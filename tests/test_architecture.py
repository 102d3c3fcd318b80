"""The import-layer contracts of ARCHITECTURE.md (``[tool.importlinter]`` in pyproject.toml):
kept by the package, and able to catch a module that imports from a layer above its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "ofs_stitch"
LINT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename=sys.argv[2], no_cache=True))"
)


def _lint_imports(search_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT, str(search_path), str(config)],
        capture_output=True,
        text=True,
        cwd=search_path,
    )


def test_the_package_keeps_its_layer_contracts() -> None:
    done = _lint_imports(ROOT / "python", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_module_importing_from_a_higher_layer_breaks_a_contract(tmp_path: Path) -> None:
    # A copy under another name, so that the installed package cannot answer for it.
    copy = tmp_path / "layer_probe"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    overlap = copy / "core" / "overlap.py"
    overlap.write_text(overlap.read_text() + "\nfrom ..stitching import pipeline  # noqa\n")
    config = tmp_path / "pyproject.toml"
    contracts = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config.write_text(contracts.replace("ofs_stitch", "layer_probe"), encoding="utf-8")
    done = _lint_imports(tmp_path, config)
    assert done.returncode != 0
    assert "layer_probe.core.overlap -> layer_probe.stitching.pipeline" in done.stdout
