"""The input stage: a folder and the user's options -> a `Scan` of tiles with starting positions.

Where the starting positions come from, first that applies:

1. ``--positions FILE`` (Fiji TileConfiguration or CSV, pixels);
2. ``--grid RxC`` (a regular grid in file-name order);
3. OpenFlexure EXIF metadata (stage position + camera-stage matrix), when every image has it;
4. numbers at the end of the file names (``img_<x>_<y>_<z>.jpeg``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.discovery import Discovery, discover_images
from ..io.header import ImageHeader, read_headers
from ..io.positions_file import TilePosition, read_positions_file, tile_path
from ..io.tiles import Tile
from ..openflexure.metadata import StageMetadata, parse_stage_metadata
from ..openflexure.scan_order import capture_order
from ..openflexure.stage import (
    GRID_ORDERS,
    check_calibration_width,
    grid_positions,
    parse_csm_matrix,
    parse_grid,
    position_from_file_name,
    resolve_camera_matrix,
    stage_to_pixels,
)
from .progress import Progress
from .scan import Scan
from .zstacks import CACHE_FOLDER, check_choice, resolve_z_stacks

_MIN_TILES = 2
_NAMES_SHOWN = 5


@dataclass
class InputOptions:
    """The user's choices that affect which tiles are used and where they start."""

    csm_matrix: str | None = None  # "[[a, b], [c, d]]": overrides the EXIF matrix
    csm_calibration_width: int | None = None  # 0 = do not rescale the matrix
    positions_file: Path | None = None
    grid: str | None = None  # "ROWSxCOLS"
    overlap: float = 0.1  # grid mode: neighbour overlap as a fraction of the tile size
    order: str = "raster"  # grid mode: raster | snake | column | column-snake
    image_count: int | None = None  # use only the first N images after ordering
    pixel_size_um: float | None = None  # overrides the metadata's pixel size
    header_workers: int = 1  # threads reading image headers (see image_header.read_headers)
    # What stands for a z-stack (zstacks.py): "largest" here, as upstream; the ofs-stitch
    # command's default is "fuse". Where fused tiles are kept (None: the input folder's
    # .ofs_stitch_zstacks).
    zstack: str = "largest"
    zstack_cache: Path | None = None


@dataclass
class _Placed:
    """Tiles in their final order with their positions, before becoming a Scan."""

    headers: list[ImageHeader]
    positions_rc: np.ndarray
    stage_xyz: list[tuple[float, ...] | None]
    skipped: list[tuple[Path, str]]
    zstack_note: str | None = None  # what stood for each z-stack, for the summary


def _names(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_NAMES_SHOWN])
    more = len(paths) - _NAMES_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


def _check_options(options: InputOptions) -> None:
    """Reject bad option values before any file is read."""
    if options.positions_file is not None and options.grid is not None:
        raise InputError("--positions and --grid both give positions: use only one of them")
    if options.image_count is not None and options.image_count < _MIN_TILES:
        raise InputError(
            f"--image_count {options.image_count} is too small: at least {_MIN_TILES} images "
            "are needed to stitch"
        )
    if options.pixel_size_um is not None and not options.pixel_size_um > 0:
        raise InputError(f"pixel size {options.pixel_size_um} um must be a positive number")
    if options.grid is not None:
        parse_grid(options.grid)
        if options.order not in GRID_ORDERS:
            raise InputError(
                f"--order {options.order!r} is unknown: use one of {', '.join(GRID_ORDERS)}"
            )
    if options.csm_matrix is not None:
        parse_csm_matrix(options.csm_matrix)
    check_calibration_width(options.csm_calibration_width)


def _check_same_size(headers: Sequence[ImageHeader]) -> None:
    sizes = Counter((h.width, h.height) for h in headers)
    if len(sizes) <= 1:
        return
    (width, height), _ = sizes.most_common(1)[0]
    odd = next(h for h in headers if (h.width, h.height) != (width, height))
    raise InputError(
        f"{odd.path} is {odd.width}x{odd.height} pixels but the other images are "
        f"{width}x{height}: all tiles must be the same size; remove or replace it"
    )


def _limit(placed: _Placed, image_count: int | None) -> _Placed:
    """Keep the first ``image_count`` tiles, reporting the rest as skipped."""
    if image_count is None or image_count >= len(placed.headers):
        return placed
    reason = f"beyond --image_count {image_count}"
    return _Placed(
        headers=placed.headers[:image_count],
        positions_rc=placed.positions_rc[:image_count],
        stage_xyz=placed.stage_xyz[:image_count],
        skipped=placed.skipped + [(h.path, reason) for h in placed.headers[image_count:]],
        zstack_note=placed.zstack_note,
    )


def _read_headers(
    paths: Sequence[Path], options: InputOptions, progress: Progress
) -> list[ImageHeader]:
    with progress.counting("reading headers", len(paths), "file") as advance:
        return read_headers(paths, workers=options.header_workers, on_read=advance)


def _from_positions_file(
    discovery: Discovery, positions_file: Path, options: InputOptions, progress: Progress
) -> _Placed:
    entries: list[TilePosition] = read_positions_file(positions_file)
    folder = discovery.folder
    paths = [tile_path(folder, positions_file, e.name) for e in entries]
    absent = [e.name for e, path in zip(entries, paths, strict=True) if not path.is_file()]
    if absent:
        raise InputError(
            f"{positions_file} lists files that are not in {folder}: {_names(absent)}; "
            "fix the positions file or add the images"
        )
    listed = {path.resolve() for path in paths}
    unlisted = [p.name for p in discovery.images if p.resolve() not in listed]
    if unlisted:
        raise InputError(
            f"{folder} has images that {positions_file} does not list: {_names(unlisted)}; "
            "add them to the positions file or move them out of the folder"
        )
    # A listed file wins over the earlier-output name rule: the user named it explicitly.
    skipped = [(p, why) for p, why in discovery.skipped if p.resolve() not in listed]
    if len(entries) < _MIN_TILES:
        raise InputError(
            f"{positions_file} lists only {len(entries)} image: at least {_MIN_TILES} are "
            "needed to stitch"
        )
    headers = _read_headers(paths, options, progress)
    _check_same_size(headers)
    positions = np.array([[e.row, e.col] for e in entries], dtype=float)
    return _Placed(headers, positions, [None] * len(headers), skipped)


def _from_grid(
    discovery: Discovery, grid: str, options: InputOptions, progress: Progress
) -> _Placed:
    rows, cols = parse_grid(grid)
    # Grid scans are laid out in name order: capture times say nothing about the grid.
    paths = discovery.images
    if options.image_count is not None:
        paths = paths[: options.image_count]
    if len(paths) != rows * cols and discovery.skipped:
        # The count alone would puzzle: say which files were not counted, and why.
        left_out = _names([path.name for path, _ in discovery.skipped])
        raise InputError(
            f"--grid {rows}x{cols} needs {rows * cols} images but the folder has {len(paths)} "
            f"usable ones; left out as earlier outputs: {left_out}: fix --grid, or rename "
            "those files if they are tiles"
        )
    headers = _read_headers(paths, options, progress)
    _check_same_size(headers)
    tile_shape = (headers[0].height, headers[0].width)
    positions = grid_positions(len(headers), rows, cols, tile_shape, options.overlap, options.order)
    skipped = list(discovery.skipped) + [
        (p, f"beyond --image_count {options.image_count}") for p in discovery.images[len(paths) :]
    ]
    return _Placed(headers, positions, [None] * len(headers), skipped)


def _metadata_problem(meta: StageMetadata, quantity: str) -> str:
    problem = meta.problem(quantity)
    return f" ({problem})" if problem else ""


def _stage_coordinates(
    headers: Sequence[ImageHeader], metas: Sequence[StageMetadata]
) -> tuple[list[tuple[float, ...]], str]:
    """Each image's stage (x, y[, z]) and where they came from; InputError if some lack one."""
    with_position = [m.position is not None for m in metas]
    if all(with_position):
        return [m.position for m in metas if m.position is not None], "openflexure-metadata"
    if any(with_position):
        index = with_position.index(False)
        example = headers[with_position.index(True)].path.name
        raise InputError(
            f"{headers[index].path} has no stage position in its EXIF metadata"
            f"{_metadata_problem(metas[index], 'position')} but {example} does: remove "
            "it from the folder, or give --positions FILE or --grid RxC"
        )
    from_names = [position_from_file_name(h.path.stem) for h in headers]
    missing = [h for h, xy in zip(headers, from_names, strict=True) if xy is None]
    if missing:
        raise InputError(f"no positions for {missing[0].path}: give --positions FILE or --grid RxC")
    return [(float(xy[0]), float(xy[1])) for xy in from_names if xy is not None], "file-name"


def _file_matrix(
    headers: Sequence[ImageHeader], metas: Sequence[StageMetadata]
) -> tuple[np.ndarray | None, int | None]:
    """The scan's camera-stage matrix and calibration width; all images must agree."""
    first = metas[0]
    for header, meta, same_matrix in zip(headers, metas, _same_matrix(metas), strict=True):
        for quantity in ("csm_matrix", "calibration_width"):
            if meta.problem(quantity):
                raise InputError(
                    f"{header.path}: unusable camera-stage calibration in its EXIF metadata"
                    f'{_metadata_problem(meta, quantity)}; give --csm_matrix "[[a, b], [c, d]]"'
                )
        if not same_matrix or meta.calibration_width != first.calibration_width:
            raise InputError(
                f"{header.path} has a different camera-stage calibration from "
                f"{headers[0].path.name}: the images come from different scans; remove it, "
                "or give --csm_matrix (and --csm_calibration_width) to use one for all"
            )
    if first.csm_matrix is None:
        return None, None
    return np.array(first.csm_matrix, dtype=float), first.calibration_width


def _same_matrix(metas: Sequence[StageMetadata]) -> list[bool]:
    """Per image: is its camera-stage matrix (or its absence) the first image's?"""
    first = metas[0].csm_matrix
    if first is None:
        return [meta.csm_matrix is None for meta in metas]
    # All compared at once: np.allclose per image cost 20 us each, a tenth of the input stage.
    with_matrix = [k for k, meta in enumerate(metas) if meta.csm_matrix is not None]
    stacked = np.array([metas[k].csm_matrix for k in with_matrix], dtype=float).reshape(-1, 4)
    close = np.isclose(stacked, np.ravel(first), rtol=1e-6, atol=0.0).all(axis=1)
    same = [False] * len(metas)
    for k, agrees in zip(with_matrix, close, strict=True):
        same[k] = bool(agrees)
    return same


def _from_stage(
    discovery: Discovery, options: InputOptions, progress: Progress
) -> tuple[_Placed, np.ndarray, str]:
    headers = _read_headers(discovery.images, options, progress)
    _check_same_size(headers)
    order = capture_order(headers)
    headers = [headers[i] for i in order]
    metas = [parse_stage_metadata(h.exif.user_comment_json()) for h in headers]
    stage_xyz, source = _stage_coordinates(headers, metas)

    cache = options.zstack_cache or discovery.folder / CACHE_FOLDER
    kept, headers, z_duplicates, z_note = resolve_z_stacks(
        stage_xyz, headers, options.zstack, cache
    )
    metas = [metas[i] for i in kept]
    stage_xyz = [stage_xyz[i] for i in kept]

    override = parse_csm_matrix(options.csm_matrix) if options.csm_matrix is not None else None
    file_matrix, file_width = (None, None) if override is not None else _file_matrix(headers, metas)
    matrix = resolve_camera_matrix(
        image_width=headers[0].width,
        file_matrix=file_matrix,
        file_calibration_width=file_width,
        override_matrix=override,
        override_calibration_width=options.csm_calibration_width,
    )
    if override is not None:
        matrix_source = "--csm_matrix"
    elif file_matrix is not None:
        matrix_source = f"the EXIF metadata of {headers[0].path.name}"
    else:
        matrix_source = "the default [[0, 1], [1, 0]]"
    positions = stage_to_pixels([p[:2] for p in stage_xyz], matrix, matrix_source)
    placed = _Placed(
        headers,
        positions,
        list(stage_xyz),
        list(discovery.skipped) + z_duplicates,
        z_note,
    )
    return placed, matrix, source


def load_scan(
    folder: Path | str, options: InputOptions | None = None, *, progress: Progress | None = None
) -> Scan:
    """Find the images in ``folder``, read their headers and metadata, and place them.
    ``progress``: shows a bar while the headers are read (a network disk can take a while).

    Raises InputError (bad folder, options or positions) or ImageReadError (unreadable image),
    each naming the file or option at fault and the fix.
    """
    options = options or InputOptions()
    progress = progress or Progress(enabled=False)
    folder = Path(folder)
    _check_options(options)
    check_choice(options.zstack)

    csm_matrix: np.ndarray | None = None
    if options.positions_file is not None:
        # The positions file decides which files are tiles, so the folder may hold fewer
        # discoverable images than the file lists (e.g. names containing "stage").
        discovery = discover_images(folder, minimum=0)
        placed = _from_positions_file(discovery, Path(options.positions_file), options, progress)
        source = "positions-file"
    elif options.grid is not None:
        discovery = discover_images(folder, minimum=_MIN_TILES)
        placed = _from_grid(discovery, options.grid, options, progress)
        source = "grid"
    else:
        discovery = discover_images(folder, minimum=_MIN_TILES)
        placed, csm_matrix, source = _from_stage(discovery, options, progress)
    placed = _limit(placed, options.image_count)

    metadata = [h.exif.user_comment_json() or {} for h in placed.headers]
    tiles = [
        Tile.from_header(h, (float(row), float(col)), xyz, meta)
        for h, (row, col), xyz, meta in zip(
            placed.headers, placed.positions_rc, placed.stage_xyz, metadata, strict=True
        )
    ]
    return Scan(
        folder=folder,
        tiles=tiles,
        position_source=source,
        csm_matrix=csm_matrix,
        pixel_size_um=_pixel_size(options, metadata),
        skipped=placed.skipped,
        zstack_note=placed.zstack_note,
    )


def _pixel_size(options: InputOptions, metadata: Sequence[dict[str, Any]]) -> float | None:
    if options.pixel_size_um is not None:
        return options.pixel_size_um
    return parse_stage_metadata(metadata[0]).pixel_size_um if metadata else None
