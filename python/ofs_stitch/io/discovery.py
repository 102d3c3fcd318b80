"""Find the input images in a scan folder.

Only the top level of the folder is searched: OpenFlexure writes every tile of a scan into one
folder, and sub-folders usually hold earlier runs or unrelated data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

JPEG_EXTENSIONS = (".jpg", ".jpeg")
IMAGE_EXTENSIONS = (".png", *JPEG_EXTENSIONS, ".tiff", ".tif", ".bmp", ".gif")

# Names that openflexure-stitching (and Fiji) give their own outputs. Re-reading a mosaic as a
# tile would wreck the registration, so such files are skipped. The rule is upstream's, case
# included ("Stage1.jpg" is a tile, "Fused.jpg" an output); unlike upstream we say which files
# were left out.
EARLIER_OUTPUT_MARKERS = ("stitched", "comparison", "Fused", "stage", "stitching", "preview")
EARLIER_OUTPUT_REASON = "looks like an earlier output"

_DIGIT_RUNS = re.compile(r"(\d+)")


def natural_sort_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value, so ``p2`` comes before ``p10``."""
    parts = _DIGIT_RUNS.split(name)
    # (0, number) and (1, text) keep ints and strs from ever being compared with each other.
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in parts if part)


def is_image_name(name: str) -> bool:
    """True when the file name has one of the image extensions we read."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def earlier_output_marker(name: str) -> str | None:
    """The output marker contained in ``name`` (case-sensitively, as upstream), or None."""
    for marker in EARLIER_OUTPUT_MARKERS:
        if marker in name:
            return marker
    return None


@dataclass
class Discovery:
    """The images found in a folder, in natural name order, and the image files left out."""

    folder: Path
    images: list[Path]
    # Image files that were not used, with the reason. Non-image files are ignored silently.
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def discover_images(folder: Path | str, *, minimum: int = 2) -> Discovery:
    """List the image files at the top level of ``folder``, skipping earlier stitching outputs.

    Raises InputError when the folder does not exist, is not a folder, or holds fewer than
    ``minimum`` usable images.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"input folder {folder} does not exist: check the path")
    if not folder.is_dir():
        raise InputError(f"input {folder} is not a folder: give the folder that holds the images")

    images: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(folder.iterdir(), key=lambda p: natural_sort_key(p.name)):
        if not is_image_name(path.name) or not path.is_file():
            continue
        reason = _earlier_output_reason(path.name)
        if reason is not None:
            skipped.append((path, reason))
            continue
        images.append(path)

    if len(images) < minimum:
        found = f"found {len(images)} image{'s' if len(images) != 1 else ''}"
        hint = (
            f" ({len(skipped)} more skipped because their names contain one of "
            f"{', '.join(EARLIER_OUTPUT_MARKERS)}: rename them)"
            if skipped
            else ""
        )
        raise InputError(
            f"input folder {folder}: {found}{hint}; at least {minimum} images "
            f"({', '.join(IMAGE_EXTENSIONS)}) are needed to stitch"
        )
    return Discovery(folder=folder, images=images, skipped=skipped)


def earlier_outputs(
    folder: Path | str, file_names: Iterable[str] | None = None
) -> list[tuple[Path, str]]:
    """The image files of ``folder`` that `discover_images` skips as earlier outputs, with its
    reasons, in its order; [] for a folder that is gone. The names alone are looked at (no sort
    key, no stat for the others): a live session, which saw every tile, asks only for these.
    ``file_names``: the folder's listing, when the caller has made it already."""
    folder = Path(folder)
    try:
        listed = file_names if file_names is not None else os.listdir(folder)
    except OSError:
        return []
    names = [
        name for name in listed if is_image_name(name) and earlier_output_marker(name) is not None
    ]
    skipped = []
    for name in sorted(names, key=natural_sort_key):
        path = folder / name
        reason = _earlier_output_reason(name)
        if reason is not None and path.is_file():
            skipped.append((path, reason))
    return skipped


def _earlier_output_reason(name: str) -> str | None:
    marker = earlier_output_marker(name)
    return None if marker is None else f"name contains '{marker}': {EARLIER_OUTPUT_REASON}"
