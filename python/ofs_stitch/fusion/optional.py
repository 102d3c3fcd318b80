"""The optional extra behind chunked fusion: dask, distributed and zarr.

They are imported only when a feature needs them, and a missing one is one line for the user
saying what to install (the rest of the package works without them).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InputError

INSTALL_HINT = "pip install 'ofs-stitch[dask]'"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise InputError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise InputError(
            f"{feature} needs the Python package {top}, which is not installed: {INSTALL_HINT}"
        ) from None
