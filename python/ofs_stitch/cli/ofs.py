"""The ``ofs`` command: one subcommand per family (``ofs stitch`` is ``ofs-stitch``).

``ofs-stitch`` stays the drop-in for ``openflexure-stitch`` and never takes subcommands (a scan
folder called ``drift`` must still stitch); ``ofs`` is where every family gets a verb. Dispatch
happens before anything heavy is imported: each family's parser imports its own stages, so
``ofs --help`` and ``ofs --version`` cost no more than Python itself, and the stitch
subcommand keeps the early start of the plot helper that ``ofs-stitch`` has.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from .._version import __version__
from .command import leave

EXIT_USER_ERROR = 2


@dataclass(frozen=True)
class Subcommand:
    """A family's verb: the module whose ``main(argv, prog=...)`` runs it, and one line of help."""

    module: str
    summary: str

    def load(self) -> Callable[..., int]:
        main: Callable[..., int] = importlib.import_module(self.module, __package__).main
        return main


SUBCOMMANDS: dict[str, Subcommand] = {
    "stitch": Subcommand(
        ".command", "stitch a folder of overlapping tiles (the same as ofs-stitch)"
    ),
    "drift": Subcommand("..drift.cli", "correct the drift of an image time series"),
    "stack": Subcommand("..stack.command", "fuse a focus stack into one image sharp everywhere"),
    "fuse": Subcommand(
        ".fuse", "fuse tiles with known positions into an OME-Zarr, chunk by chunk on Dask"
    ),
}


def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    verbs = "\n".join(f"  {name:<{width}}  {sub.summary}" for name, sub in SUBCOMMANDS.items())
    return (
        "usage: ofs [--version] COMMAND [OPTIONS ...]\n\n"
        "Image registration for microscopy: one command per job.\n\n"
        f"commands:\n{verbs}\n\n"
        "'ofs COMMAND --help' describes a command's options."
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help"):
        print(usage())
        return 0 if arguments else EXIT_USER_ERROR
    if arguments[0] == "--version":
        print(f"ofs {__version__}")
        return 0
    name, rest = arguments[0], arguments[1:]
    subcommand = SUBCOMMANDS.get(name)
    if subcommand is None:
        known = ", ".join(SUBCOMMANDS)
        print(
            f"ofs: unknown command {name!r}; choose one of: {known} (see ofs --help)",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    return subcommand.load()(rest, prog=f"ofs {name}")


def run() -> NoReturn:
    """The ``ofs`` console script: `main`, then leave as ``ofs-stitch`` does (see command.run)."""
    leave(main())


if __name__ == "__main__":
    run()
