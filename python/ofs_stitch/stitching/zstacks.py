"""Scans with a z-stack at each stage position: which image stands for each position.

Images whose stage (x, y) round to the same whole step form one stack, ordered by stage z
(capture order between equal z). ``--zstack`` chooses what stands for it:

- ``fuse`` (the default): the all-in-focus fusion of the stack (``ofs_stitch.stack``: aligned,
  balanced, Laplacian pyramid), written once into ``.ofs_stitch_zstacks/`` beside the
  correlation cache and reused while the stack's files are unchanged (a name made from every
  member's name, size and modification time), so a re-run or a growing scan fuses only new
  stacks. The fused tile keeps the middle image's metadata, so it sits where the stack does.
- ``largest``: the largest file, as openflexure-stitching does (JPEG size follows detail).
- ``sharpest``: the image with the most Tenengrad energy (mean squared Sobel gradient of its
  luminance, decoded at 1/4 size).
- ``index:K``: the K-th image of each stack in z order (0 = lowest z; negative counts from the
  top).

A scan without z-stacks is untouched by any of these.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from ..io.decode import read_pixels
from ..io.header import ImageHeader, read_header
from ..openflexure.scan_order import drop_z_stack_duplicates

CHOICES = ("fuse", "largest", "sharpest", "index:K")
CACHE_FOLDER = ".ofs_stitch_zstacks"
# Bumped whenever the fusion changes its results, so older fused tiles are not reused.
FUSION_VERSION = 2  # 2: fusion in tiles, joint alignment over lags 1 and 2


def check_choice(text: str) -> str:
    """``text`` if it is a --zstack choice; InputError otherwise."""
    if text in ("fuse", "largest", "sharpest"):
        return text
    if text.startswith("index:"):
        try:
            int(text.split(":", 1)[1])
            return text
        except ValueError:
            pass
    raise InputError(
        f"--zstack {text}: choose fuse, largest, sharpest or index:K (K a whole number)"
    )


def _groups(stage_xyz: Sequence[tuple[float, ...]]) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = {}
    for index, position in enumerate(stage_xyz):
        groups.setdefault((round(position[0]), round(position[1])), []).append(index)
    return groups


def _z(position: tuple[float, ...]) -> float:
    return float(position[2]) if len(position) > 2 else 0.0


def resolve_z_stacks(
    stage_xyz: Sequence[tuple[float, ...]],
    headers: Sequence[ImageHeader],
    choice: str,
    cache_folder: Path,
) -> tuple[list[int], list[ImageHeader], list[tuple[Path, str]], str | None]:
    """One image per stage position.

    Returns the indexes kept (incoming order), their headers (a fused tile's header where one
    was fused), the files left out with the reason, and a line for the summary (None when the
    scan has no z-stacks).
    """
    groups = _groups(stage_xyz)
    stacks = [members for members in groups.values() if len(members) > 1]
    if not stacks:
        return list(range(len(headers))), list(headers), [], None
    if choice == "largest":
        kept, dropped = drop_z_stack_duplicates([(p[0], p[1]) for p in stage_xyz], headers)
        return kept, [headers[i] for i in kept], dropped, _summary(stacks, choice)
    chosen: dict[int, ImageHeader] = {}
    dropped = []
    for members in groups.values():
        if len(members) == 1:
            chosen[members[0]] = headers[members[0]]
            continue
        ordered = sorted(members, key=lambda i: (_z(stage_xyz[i]), i))
        if choice == "fuse":
            keep = ordered[len(ordered) // 2]
            chosen[keep] = _fused_header([headers[i] for i in ordered], headers[keep], cache_folder)
            reason = f"fused with its z-stack into {chosen[keep].path.name}"
        elif choice == "sharpest":
            keep = max(ordered, key=lambda i: (_tenengrad(headers[i].path), -i))
            chosen[keep] = headers[keep]
            reason = (
                f"same stage position as {headers[keep].path.name} (z-stack); kept the sharpest"
            )
        else:
            position = int(choice.split(":", 1)[1])
            if not -len(ordered) <= position < len(ordered):
                name = headers[ordered[0]].path.name
                raise InputError(
                    f"--zstack {choice}: the z-stack of {name} has only {len(ordered)} images; "
                    f"choose K from 0 to {len(ordered) - 1}"
                )
            keep = ordered[position]
            chosen[keep] = headers[keep]
            reason = (
                f"same stage position as {headers[keep].path.name} (z-stack); kept image "
                f"{position} in z order"
            )
        dropped += [(headers[i].path, reason) for i in ordered if i != keep or choice == "fuse"]
    kept = sorted(chosen)
    return kept, [chosen[i] for i in kept], dropped, _summary(stacks, choice)


def _summary(stacks: list[list[int]], choice: str) -> str:
    sizes = sorted({len(s) for s in stacks})
    depth = "-".join(str(s) for s in (sizes[0], sizes[-1])) if len(sizes) > 1 else str(sizes[0])
    what = {
        "fuse": "fused into all-in-focus tiles",
        "largest": "the largest file kept",
        "sharpest": "the sharpest image kept",
    }.get(choice, f"image {choice.split(':', 1)[-1]} in z order kept")
    return f"z-stacks at {len(stacks)} positions ({depth} images each): {what} (--zstack {choice})"


def _tenengrad(path: Path) -> float:
    from scipy import ndimage

    grey = read_pixels(path, shrink=4, grey=True)
    return float(np.mean(ndimage.sobel(grey, 0) ** 2 + ndimage.sobel(grey, 1) ** 2))


def _cache_name(members: Sequence[ImageHeader], reference: ImageHeader) -> str:
    signature = [(h.path.name, h.path.stat().st_size, h.path.stat().st_mtime_ns) for h in members]
    digest = hashlib.sha1(
        json.dumps([FUSION_VERSION, signature]).encode(), usedforsecurity=False
    ).hexdigest()[:16]
    suffix = reference.path.suffix.lower()
    extension = ".jpg" if suffix in (".jpg", ".jpeg") else (".png" if suffix == ".png" else ".tif")
    return f"{reference.path.stem}_zfused_{digest}{extension}"


def _fused_header(
    members: Sequence[ImageHeader], reference: ImageHeader, cache_folder: Path
) -> ImageHeader:
    """The header of the stack's fused tile (fusing it first unless the cache holds it)."""
    target = cache_folder / _cache_name(members, reference)
    if not target.exists():
        _fuse_into(members, reference, target)
    fused = read_header(target)
    # The reference image's metadata (stage position, camera-stage matrix, time) stands for
    # the fused tile, whatever its format could carry.
    return dataclasses.replace(
        reference, path=target, loader=fused.loader, file_size=fused.file_size
    )


class _PathFrames:
    """A stack's files as ``stack.frames.Frames``, decoded one at a time."""

    def __init__(self, paths: Sequence[Path], shape: tuple[int, int, int]) -> None:
        self.paths = list(paths)
        self._shape = shape

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    def frame(self, index: int):  # type: ignore[no-untyped-def]
        from ..stack.frames import Frame, as_float

        return Frame(as_float(read_pixels(self.paths[index])))


def _fuse_into(members: Sequence[ImageHeader], reference: ImageHeader, target: Path) -> None:
    from ..stack import focus_stack
    from ..stack.outputs import to_samples, write_image

    first = read_pixels(members[0].path)
    bands = 1 if first.ndim == 2 else first.shape[2]
    frames = _PathFrames([h.path for h in members], (first.shape[0], first.shape[1], bands))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot keep fused z-stack tiles in {target.parent}: {error.strerror}; make the "
            "scan folder writable, or choose --zstack largest, sharpest or index:K"
        ) from None
    result = focus_stack(frames, allow_misaligned=True, cache_dir=target.parent)
    exif = None
    if target.suffix == ".jpg":
        import pyvips

        image = pyvips.Image.new_from_file(str(reference.path))
        if "exif-data" in image.get_fields():
            exif = bytes(image.get("exif-data"))
    write_image(target, to_samples(result.fused.image, first.dtype), exif)
