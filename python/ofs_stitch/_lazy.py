"""Names a package exports but loads only when first used.

The package root and ``ofs_stitch.align`` name classes whose modules import numpy and the
compiled core; importing the package must not (the commands settle numpy's threading first, and
``ofs --help`` should cost no more than Python). A package hands its ``{name: submodule}`` table
to `lazy_exports` and uses the two functions it returns as its module ``__getattr__`` and
``__dir__`` (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map each exported name
    to the submodule (relative to the package) that defines it."""

    def getattr_(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        vars(sys.modules[package])[name] = value  # later lookups skip this function
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return getattr_, dir_
