"""The order tiles were captured in, and one tile per stage position (z-stacks).

Capture order matters to later stages only as a tie-break and for ``--image_count`` (which keeps
the first N tiles, as upstream does), but it must be the same from run to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..io.header import ImageHeader

EXIF_DATE_TIME_FORMAT = "%Y:%m:%d %H:%M:%S"


def capture_time(header: ImageHeader) -> datetime | None:
    """The EXIF DateTime of ``header``, None when it has no readable one."""
    text = header.exif.date_time
    if not text:
        return None
    try:
        return datetime.strptime(text, EXIF_DATE_TIME_FORMAT)
    except ValueError:
        return None


def capture_order(
    headers: Sequence[ImageHeader], times: Sequence[datetime | None] | None = None
) -> list[int]:
    """Indexes of ``headers`` in capture order.

    EXIF DateTime when every image has a readable one (it survives copying, unlike mtime);
    otherwise file modification time. The sort is stable, so equal times (DateTime has 1 s
    resolution) keep the incoming order, which is natural name order from discovery.
    ``times``: each header's `capture_time`, where made already (a live session makes them as
    the tiles come: parsing 1,600 dates took 40-90 ms of its finish).
    """
    if times is None:
        times = [capture_time(h) for h in headers]
    known = [t for t in times if t is not None]
    if len(known) == len(headers):
        return sorted(range(len(known)), key=known.__getitem__)
    return sorted(range(len(headers)), key=lambda i: headers[i].mtime)


def drop_z_stack_duplicates(
    stage_xy: Sequence[tuple[float, float]], headers: Sequence[ImageHeader]
) -> tuple[list[int], list[tuple[Path, str]]]:
    """Keep one image per integer stage (x, y): the largest file, as upstream does.

    A z-stack holds several focus planes at one (x, y); the largest JPEG is the one with the
    most detail, i.e. the sharpest. Ties go to the earliest image. Returns the indexes kept
    (in the incoming order) and the dropped files with the reason.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for index, (x, y) in enumerate(stage_xy):
        groups.setdefault((round(x), round(y)), []).append(index)
    kept: list[int] = []
    dropped: list[tuple[Path, str]] = []
    for members in groups.values():
        best = max(members, key=lambda i: (headers[i].file_size, -i))
        kept.append(best)
        for other in members:
            if other != best:
                reason = (
                    f"same stage position as {headers[best].path.name} (z-stack); kept the largest"
                )
                dropped.append((headers[other].path, reason))
    kept.sort()
    return kept, dropped
