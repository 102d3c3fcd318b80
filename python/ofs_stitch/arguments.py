"""The command line parser every ``ofs`` family shares: a bad option is one line on stderr.

argparse's own ``error`` prints a usage block and a second line; the house rule for every
user-facing failure is one line that names the problem and the fix, and exit status 2. Like
`errors`, this module sits below every layer, so the families' commands (``ofs drift``,
``ofs stack``, ``ofs fuse``) can all use it without importing each other or the cli package.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused option is ``PROG: MESSAGE; see PROG --help`` and exit 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        print(f"{self.prog}: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)
