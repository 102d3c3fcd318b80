"""Progress bars for the long stages of a run: reading headers, correlating, rendering.

Bars go to stderr, and only when stderr is a terminal and the run is not quiet: a log file or a
pipe gets no carriage-return noise. A stage that ends within ``SHOW_AFTER_S`` shows no bar at
all, so a small scan's run looks as it did. The stages report through plain callbacks, so the
layers below (io, render) never see a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

# Seconds a stage runs before its bar appears.
SHOW_AFTER_S = 0.5

# Called with how many more items are done.
Advance = Callable[[int], None]
# Called with how much of how much is done (for a stage that learns its total as it goes).
Report = Callable[[int, int], None]


class Progress:
    """Makes the bars of one run's stages; with ``enabled`` False, callbacks that do nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def on_terminal(cls, *, quiet: bool) -> Progress:
        """Bars when stderr is a terminal and the run is not quiet."""
        stream = sys.stderr
        return cls(not quiet and stream is not None and stream.isatty())

    @contextmanager
    def counting(self, description: str, total: int, unit: str) -> Iterator[Advance]:
        """A bar of ``total`` ``unit``s; the block advances it. Closed (and erased) on exit."""
        if not self.enabled or total <= 0:
            yield _ignore_count
            return
        bar = _bar(description, unit, total)
        try:
            yield bar.update
        finally:
            bar.close()

    @contextmanager
    def reporting(self, description: str, unit: str) -> Iterator[Report]:
        """A bar the block sets with ``report(done, total)``, made at the first report (a block
        that reports nothing shows nothing). Closed (and erased) on exit."""
        if not self.enabled:
            yield _ignore_report
            return
        bars: list[tqdm] = []

        def report(done: int, total: int) -> None:
            if not bars:
                bars.append(_bar(description, unit, total))
            bar = bars[0]
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            yield report
        finally:
            for bar in bars:
                bar.close()


def _bar(description: str, unit: str, total: int | None) -> tqdm:
    from tqdm import tqdm  # the standard, thread-safe terminal progress bar

    # stderr as it is now (a test, or a caller, may have replaced it since the run started).
    return tqdm(
        total=total,
        unit=unit,
        desc=description,
        leave=False,
        delay=SHOW_AFTER_S,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _ignore_count(_count: int) -> None:
    pass


def _ignore_report(_done: int, _total: int) -> None:
    pass
