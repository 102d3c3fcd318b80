"""A progress bar on stderr for long series: only on a terminal and without ``--quiet``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Seconds before a bar appears: a short run shows none.
SHOW_AFTER_S = 0.5


@contextmanager
def progress_bar(description: str, total: int, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet or sys.stderr is None or not sys.stderr.isatty():
        yield lambda _count: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, unit="frame", desc=description, leave=False, delay=SHOW_AFTER_S)
    try:
        yield bar.update
    finally:
        bar.close()
