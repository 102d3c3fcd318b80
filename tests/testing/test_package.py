"""The testing subpackage: cheap to import, and never a dependency of the package itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ofs_stitch

GENERATORS = ("scene", "camera", "scans", "grids", "pairs", "mosaics", "files")


def test_importing_the_generators_loads_no_images_and_no_heavy_libraries() -> None:
    modules = "; ".join(f"import ofs_stitch.testing.{name}" for name in GENERATORS)
    code = (
        f"import sys; {modules}; "
        "print(sorted(m for m in ('skimage', 'scipy', 'pyvips', 'matplotlib') if m in sys.modules))"
    )
    # The installed package (with its compiled core), in a fresh interpreter.
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def imported_modules(path: Path, package_root: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    parts = ["ofs_stitch", *path.relative_to(package_root).with_suffix("").parts]
    package = parts[:-1]  # a module's package; an __init__'s own
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_outside_the_testing_subpackage_imports_it() -> None:
    root = Path(ofs_stitch.__file__).parent
    offenders = {
        str(path.relative_to(root)): sorted(
            name
            for name in imported_modules(path, root)
            if name == "ofs_stitch.testing" or name.startswith("ofs_stitch.testing.")
        )
        for path in root.rglob("*.py")
        if path.relative_to(root).parts[0] != "testing"
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    # The check sees relative imports: the example, inside testing, imports its siblings so.
    example = imported_modules(root / "testing" / "example.py", root)
    assert "ofs_stitch.testing.scans.make_scan" in example
    assert "ofs_stitch.stitch.pipeline" in example
