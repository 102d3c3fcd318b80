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


def libvips_reason(error: Exception) -> str:
    """The most specific line of a (multi-line) libvips error message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("unable to")]
    return (useful or lines or ["libvips failed"])[0]


def decode_error(path: object, error: Exception) -> ImageReadError:
    """The one-line error for an image that libvips cannot decode."""
    return ImageReadError(
        f"cannot decode {path}: {libvips_reason(error)}; re-copy the file or remove it from "
        "the folder, then run again"
    )
