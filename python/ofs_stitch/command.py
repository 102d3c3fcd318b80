"""The ``ofs-stitch`` command's entry point, which runs before numpy is imported.

numpy's OpenBLAS starts a worker thread per core when numpy loads, and each spins for about
0.1 s of CPU before it sleeps: measured, importing numpy cost 0.19 CPU-s instead of 0.07. A run
does its heavy numerics in the compiled core and only tiny matrix work in numpy, so BLAS
threads buy nothing there, while that CPU is taken from the run and from its plot helper
(which inherits the setting). A value the user set is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli import main as run_command

    return run_command(argv)
