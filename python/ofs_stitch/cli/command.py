"""The ``ofs-stitch`` command's entry point, which runs before numpy is imported.

Two things must happen before the heavy imports:

- numpy's OpenBLAS starts a worker thread per core when numpy loads, and each spins for about
  0.1 s of CPU before it sleeps: measured, importing numpy cost 0.19 CPU-s instead of 0.07. A
  run does its heavy numerics in the compiled core and only tiny matrix work in numpy, so BLAS
  threads buy nothing there, while that CPU is taken from the run and from its plot helper
  (which inherits the setting). A value the user set is kept.
- The plot helper's own start-up (Python, numpy and matplotlib: about half a CPU-second)
  overlaps best with this process's imports, which leave the other core idle. So it starts
  first when the command line looks like a run that draws plots. A wrong guess only costs
  time: the pipeline stops a helper it does not need and starts one it lacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

# Options that end the command before any stitching.
_NO_RUN_OPTIONS = ("--help", "--version", "--show_cached_settings")


def run() -> NoReturn:
    """The ``ofs-stitch`` command (console script and ``python -m ofs_stitch``): `main`, then
    leave without the interpreter's shutdown.

    Tearing down numpy, pyvips and the rest takes about 30 ms after the work is done, on every
    run; every file is already complete and renamed into place by then. Errors still leave the
    ordinary way (SystemExit from argparse, exceptions).
    """
    leave(main())


def leave(status: int) -> NoReturn:
    """Flush what the command printed and end the process without the interpreter's shutdown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (``| head``): there is nobody left to tell
    os._exit(status)


def main(argv: Sequence[str] | None = None, *, prog: str = "ofs-stitch") -> int:
    """Stitch as ``ofs-stitch`` does (``prog``: the name errors and help call the command by)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    arguments = list(sys.argv[1:] if argv is None else argv)
    plot_helper = None
    if draws_plots(arguments):
        from ..stitching.plot_worker import PlotProcess

        plot_helper = PlotProcess()
    try:
        from .stitch import main as run_command

        return run_command(arguments, plot_helper=plot_helper, prog=prog)
    finally:
        if plot_helper is not None:
            plot_helper.abort()  # a no-op once the run has finished it


def draws_plots(arguments: Sequence[str]) -> bool:
    """Whether this command line is likely to run a stitch that draws the plots."""
    # Light: no numpy, no matplotlib (this runs before either loads).
    from ..stitching.plot_worker import MODES_WITHOUT_PLOTS

    for argument in arguments:
        if argument == "-h" or argument.endswith(MODES_WITHOUT_PLOTS):
            return False
        # argparse accepts any unambiguous prefix of a long option (--vers for --version).
        if len(argument) > 3 and any(option.startswith(argument) for option in _NO_RUN_OPTIONS):
            return False
    return True
