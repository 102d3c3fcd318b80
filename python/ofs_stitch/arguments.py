"""What every ``ofs`` family's command shares: a bad option or input is one line on stderr.

argparse's own ``error`` prints a usage block and a second line; the house rule for every
user-facing failure is one line that names the problem and the fix, and exit status 2
(`OneLineParser` for options, `run_command` for what the run itself refuses). Like
`errors`, this module sits below every layer, so the families' commands (``ofs drift``,
``ofs stack``, ``ofs fuse``) can all use it without importing each other or the cli package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from .errors import StitchError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused option is ``PROG: MESSAGE; see PROG --help`` and exit 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        print(f"{self.prog}: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def run_command(prog: str, work: Callable[[], int], *, interrupted: str) -> int:
    """``work()``'s exit status; a user's error (`StitchError`) as one line and exit 2, Ctrl-C as
    one line saying what was kept (``interrupted``) and exit 130, never a traceback."""
    try:
        return work()
    except StitchError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
