"""The package without its optional extras: every module imports with dask, distributed and
zarr hidden, and none of them is imported behind the user's back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_without_the_extra_the_commands_say_what_to_install(tmp_path: Path) -> None:
    """ofs fuse and ofs-stitch --stitch_zarr: one line naming the extra, exit status 2."""
    code = f"""
        import importlib.abc, sys

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed", "zarr"):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, Hide())
        from ofs_stitch.cli import command, ofs
        print(ofs.main(["fuse", {str(tmp_path)!r}]))
        print(command.main([{str(tmp_path)!r}, "--stitch_zarr"]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.stdout.split() == ["2", "2"], done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all("pip install 'ofs-stitch[dask]'" in line for line in lines)
