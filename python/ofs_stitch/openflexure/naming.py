"""The names of a stitch's output files, as openflexure-stitch gives them.

Other OpenFlexure tools look for these names: keep them as upstream spells them.
"""

from __future__ import annotations

import os
from pathlib import Path

PREVIEW = "preview.jpg"
THUMBNAIL = "stitched_thumbnail.jpg"
STAGE_PREVIEW = "stitched_from_stage.jpg"  # upstream's name for --stitching_mode stage_stitch


def output_prefix(folder: Path | str) -> str:
    """Name stem of the stitched files, as upstream chooses it.

    The input folder's name; trailing ``images`` and ``use`` parts (which the OpenFlexure
    server creates inside a scan folder) are skipped, and ``scan`` is used if nothing is left.
    Like upstream, the path is made absolute without resolving links, and the test is
    case-sensitive.
    """
    _, path = os.path.splitdrive(os.path.abspath(folder))
    for part in reversed(path.split(os.sep)):
        if part and part not in ("images", "use"):
            return part
    return "scan"


def stitched_name(prefix: str, suffix: str) -> str:
    """The full-size mosaic's file name: ``<prefix>_stitched<suffix>`` (suffix with its dot)."""
    return f"{prefix}_stitched{suffix}"
