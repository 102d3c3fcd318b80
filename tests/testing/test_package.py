"""The testing subpackage is cheap to import. (That nothing in the package imports it is an
import-linter contract: tests/test_architecture.py.)"""

from __future__ import annotations

import subprocess
import sys

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
