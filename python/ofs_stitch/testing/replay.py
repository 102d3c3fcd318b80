"""A scan replayed into a folder as a microscope writes it: one tile at a time, at a set pace,
each file written in pieces and then closed (a reader watching the folder can catch a file
half-written), in capture order.

    python -m ofs_stitch.testing.replay SOURCE TARGET [--interval SECONDS]

replays the images of SOURCE (oldest first) into TARGET.

Truth: the moment each file became complete (``ReplayedTile.complete_at``, `time.monotonic`),
from which a live stitcher's latency is measured, and the scan's own truth (`scans`).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .scans import SyntheticScan


@dataclass(frozen=True)
class ReplayedTile:
    name: str
    complete_at: float  # time.monotonic() right after the file was closed


def replay_scan(
    scan: SyntheticScan | Sequence[Path],
    folder: Path | str,
    *,
    interval_s: float = 0.3,
    pieces: int = 3,
    piece_pause_s: float = 0.005,
    on_complete: Callable[[ReplayedTile], None] | None = None,
    stop: threading.Event | None = None,
) -> list[ReplayedTile]:
    """Write the tiles of ``scan`` (a generated scan, in its capture order, or files in the
    order given) into ``folder``, one every ``interval_s`` seconds; each file goes down in
    ``pieces`` writes ``piece_pause_s`` apart before it is closed. Files are read into memory
    first, so the pace is the writer's alone. ``stop``: ends the replay early when set."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = scan.paths if isinstance(scan, SyntheticScan) else [Path(p) for p in scan]
    contents = [(path.name, path.read_bytes()) for path in paths]
    written: list[ReplayedTile] = []
    next_at = time.monotonic()
    for name, data in contents:
        if stop is not None and stop.is_set():
            break
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at += interval_s
        step = max(1, -(-len(data) // max(1, pieces)))
        with open(folder / name, "wb") as handle:
            for start in range(0, len(data), step):
                handle.write(data[start : start + step])
                handle.flush()
                if start + step < len(data):
                    time.sleep(piece_pause_s)
        tile = ReplayedTile(name, time.monotonic())
        written.append(tile)
        if on_complete is not None:
            on_complete(tile)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ofs_stitch.testing.replay",
        description="Write the images of SOURCE into TARGET one at a time, as a microscope would.",
    )
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between tiles")
    args = parser.parse_args(argv)
    images = [
        p for p in args.source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif")
    ]
    images.sort(key=lambda p: (os.stat(p).st_mtime, p.name))
    replay_scan(images, args.target, interval_s=args.interval)
    print(f"replayed {len(images)} images into {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
