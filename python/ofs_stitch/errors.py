"""Errors a user can fix.

Every message names the file (or option) at fault and says what to do about it. The CLI prints
``str(error)`` as one line on stderr and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations


class StitchError(Exception):
    """Base class for problems caused by the input, the options or the output location."""


class InputError(StitchError, ValueError):
    """Bad input data or options: wrong shapes, missing positions, malformed option values."""


class ImageReadError(StitchError, OSError):
    """An input image (or positions file) cannot be read or decoded."""


class OutputError(StitchError, OSError):
    """An output cannot be written (unwritable folder, full disk, ...)."""
