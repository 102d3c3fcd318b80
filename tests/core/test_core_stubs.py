"""The compiled core's submodules, one per area of cpp/, and their stubs stay in step.

mypy checks every caller of ``ofs_stitch._core`` against python/ofs_stitch/_core/<area>.pyi,
so a function bound in C++ but missing from its stub (or the reverse) would be an error mypy
cannot see.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from ofs_stitch import _core

STUBS = Path(__file__).resolve().parents[2] / "python" / "ofs_stitch" / "_core"
AREAS = ["compose", "fft", "focus", "image", "register", "resample", "solve", "spots"]


def stub_names(area: str) -> set[str]:
    tree = ast.parse((STUBS / f"{area}.pyi").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def test_the_package_stub_lists_every_area() -> None:
    tree = ast.parse((STUBS / "__init__.pyi").read_text())
    imported = {
        alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert imported == set(AREAS) == {p.stem for p in STUBS.glob("*.pyi")} - {"__init__"}
    assert {name for name in dir(_core) if not name.startswith("_")} == set(AREAS)


@pytest.mark.parametrize("area", AREAS)
def test_each_submodule_binds_what_its_stub_declares(area: str) -> None:
    module = getattr(_core, area)
    bound = {name for name in dir(module) if not name.startswith("_")}
    assert bound == stub_names(area)


@pytest.mark.parametrize("area", AREAS)
def test_each_submodule_imports_by_its_full_name(area: str) -> None:
    # As the stub package promises: `import ofs_stitch._core.<area>` and `from ... import`.
    assert importlib.import_module(f"ofs_stitch._core.{area}") is getattr(_core, area)
    assert getattr(_core, area).__name__ == f"ofs_stitch._core.{area}"
