"""Replace a file in one step, so a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


def temporary_tag() -> str:
    """A tag that makes a temporary file name unique: this process's id and 32 random bits.

    (os.urandom rather than the secrets module, whose import loads OpenSSL: 3-4 ms a run.)
    """
    return f"{os.getpid()}.{os.urandom(4).hex()}"


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder + os.replace.

    The temporary file must live in the target's folder: os.replace is atomic only within one
    file system. Raises OutputError naming the file when it cannot be written.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{temporary_tag()}.tmp")
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as a plain open() would
        # (tempfile.mkstemp would leave the result readable by its owner only).
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
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
