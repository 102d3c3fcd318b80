"""The package without its optional extras: every module imports with dask, distributed and
zarr hidden, and none of them is imported behind the user's back."""

from __future__ import annotations

import subprocess
import sys
import textwrap

OPTIONAL = ("dask", "distributed", "zarr")


def test_every_module_imports_with_the_optional_extras_hidden() -> None:
    code = f"""
        import importlib, importlib.abc, pkgutil, sys

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)")
                return None

        sys.meta_path.insert(0, Hide())
        import ofs_stitch
        names = [m.name for m in pkgutil.walk_packages(ofs_stitch.__path__, "ofs_stitch.")]
        for name in names:
            # testing needs scikit-image; __main__ would run the command
            if not name.startswith("ofs_stitch.testing") and not name.endswith("__main__"):
                importlib.import_module(name)
        print(len(names), sorted(m for m in sys.modules if m.split(".")[0] in {OPTIONAL!r}))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    count, imported = done.stdout.split(" ", 1)
    assert int(count) > 40
    assert imported.strip() == "[]"
