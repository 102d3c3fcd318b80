"""Is an image file completely written? A file being written must not be read half-way.

A file is complete when the writer closed it (inotify's close-after-write, or a rename into
the folder, which is how careful writers publish files), or else when its size and mtime have
not changed for ``settle_s``; and, for a JPEG, when it also ends with the End Of Image marker
(a JPEG cut short has none). A JPEG that never gets its marker is given up on, as corrupt,
once it has not changed for ``give_up_s``: the decoder then says what is wrong with it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_END_OF_IMAGE = b"\xff\xd9"


def ends_like_a_jpeg(path: Path) -> bool:
    """Whether the file ends with the JPEG End Of Image marker (some writers pad after it
    with a few zero bytes: those are allowed)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read().rstrip(b"\x00")
    except OSError:
        return False
    return tail.endswith(JPEG_END_OF_IMAGE)


@dataclass
class _Seen:
    signature: tuple[int, int]  # (size, mtime_ns) when last looked at
    since: float  # when that signature was first seen
    closed: bool = False


@dataclass
class CompletenessTracker:
    """Files reported as changed, until they are complete (then `ready` hands them over)."""

    settle_s: float = 0.3
    give_up_s: float = 5.0
    _pending: dict[Path, _Seen] = field(default_factory=dict)

    def changed(self, path: Path, *, closed: bool = False) -> None:
        """The file was created, modified (``closed``: closed after writing, or renamed into
        place: complete as far as the writer is concerned)."""
        seen = self._pending.get(path)
        signature = file_signature(path)
        if signature is None:
            self._pending.pop(path, None)
            return
        if seen is None or seen.signature != signature:
            seen = _Seen(signature, time.monotonic())
            self._pending[path] = seen
        seen.closed = seen.closed or closed

    def forget(self, path: Path) -> None:
        self._pending.pop(path, None)

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: Path) -> bool:
        return path in self._pending

    def pending(self) -> list[Path]:
        """The files not complete yet, oldest first."""
        return [path for path, _ in sorted(self._pending.items(), key=lambda kv: kv[1].since)]

    def ready(self) -> list[Path]:
        """The pending files that are now complete (oldest first), taken off the list."""
        now = time.monotonic()
        done = []
        for path, seen in list(self._pending.items()):
            signature = file_signature(path)
            if signature is None:  # deleted before it was complete
                del self._pending[path]
                continue
            if signature != seen.signature:
                self._pending[path] = _Seen(signature, now, seen.closed)
                continue
            if signature[0] == 0:
                continue
            settled = now - seen.since >= self.settle_s
            if not (seen.closed or settled):
                continue
            if path.suffix.lower() in JPEG_SUFFIXES and not ends_like_a_jpeg(path):
                if now - seen.since < self.give_up_s:
                    continue
            del self._pending[path]
            done.append((seen.since, path))
        return [path for _, path in sorted(done)]


def file_signature(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of a file, or None when it cannot be read (gone)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
