"""Replace files and folders in one step, so a crash or a full disk never leaves half an
output behind; failures to write are OutputErrors naming the output."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import OutputError, StitchError, libvips_reason


def temporary_tag() -> str:
    """A tag that makes a temporary file name unique: this process's id and 32 random bits.

    (os.urandom rather than the secrets module, whose import loads OpenSSL: 3-4 ms a run.)
    """
    return f"{os.getpid()}.{os.urandom(4).hex()}"


def write_text_atomic(path: Path | str, text: str, *, sync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder + os.replace.

    The temporary file must live in the target's folder: os.replace is atomic only within one
    file system. Raises OutputError naming the file when it cannot be written.

    ``sync``: the text reaches the disk before it takes the name, so that a power cut leaves
    the old file or the new one. Files replaced soon anyway can skip it: a sync waits for
    whatever else the file system has to write first (after an 8 MP mosaic, 0.07-0.09 s).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{temporary_tag()}.tmp")
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as a plain open() would
        # (tempfile.mkstemp would leave the result readable by its owner only).
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        raise OutputError(
            f"cannot write {path}: {reason}; choose a writable output folder with free space"
        ) from error


@contextlib.contextmanager
def atomic_output(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary name keeps the real suffix because writers such as libvips choose the format
    from it, and starts with a dot so a half-written file never looks like a result.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{temporary_tag()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


def _disk_is_full(folder: Path) -> bool:
    """True when the file system holding ``folder`` has (almost) no room left."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return stats.f_bavail * stats.f_frsize < (1 << 20)


def _is_write_failure(error: BaseException) -> bool:
    """An error of the system or of libvips (which writes most of our image files)."""
    if isinstance(error, OSError):
        return True
    # Only a loaded pyvips can have raised its errors; this module does not load it (the JSON
    # writers that use it never need libvips).
    pyvips = sys.modules.get("pyvips")
    return pyvips is not None and isinstance(error, pyvips.Error)


def _write_failure(path: Path, error: Exception) -> OutputError:
    text = str(error)
    if "ermission denied" in text or "Read-only file system" in text:
        return OutputError(
            f"cannot write {path}: permission denied; choose a writable output folder with -o"
        )
    # libvips does not always pass on the system's reason ("write failed"): look at the disk.
    if "No space left" in text or "ENOSPC" in text or _disk_is_full(path.parent):
        return OutputError(
            f"cannot write {path}: the disk is full; free some space or choose "
            "another output folder with -o"
        )
    reason = text if isinstance(error, OSError) else libvips_reason(error)
    return OutputError(
        f"cannot write {path}: {reason}; check free space and permissions of the output folder"
    )


@contextlib.contextmanager
def write_failures_named(path: Path | str) -> Iterator[None]:
    """Report a failure of the system or of libvips inside the block as a one-line
    OutputError naming ``path`` (the final name, not a temporary one) and the fix."""
    try:
        yield
    except StitchError:
        raise
    except Exception as error:
        if not _is_write_failure(error):
            raise
        raise _write_failure(Path(path), error) from None


@contextlib.contextmanager
def staged_output(path: Path | str) -> Iterator[Path]:
    """`atomic_output` for a writer: a temporary file beside ``path``, renamed to it when the
    block completes; failures are OutputErrors naming ``path``."""
    with write_failures_named(path), atomic_output(path) as temporary:
        yield temporary


@contextlib.contextmanager
def staged_outputs(paths: Sequence[Path | str]) -> Iterator[Path]:
    """A private folder beside ``paths`` (all in one folder) for a writer that makes several
    files and folders at once, each under its own name there.

    When the block completes, each replaces any previous entry of its name, in the order given:
    put last the one that completes the set (a reader that finds it finds the others). The
    folder is removed in any case, with whatever was replaced; failures are OutputErrors naming
    the last path.
    """
    finals = [Path(p) for p in paths]
    last = finals[-1]
    with write_failures_named(last):
        staging = last.with_name(f".{last.stem}.{temporary_tag()}.partial")
        staging.mkdir()
        try:
            yield staging
            for final in finals:
                if final.is_dir():
                    # Folders cannot be replaced in one step: move the old one aside first.
                    final.rename(staging / f"previous.{final.name}")
                os.replace(staging / final.name, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
