"""Write: hand a placement's maps and the tiles to the mosaic writers (JPEG, OME-TIFF, DZI).

`Renderer` paints into a numpy canvas, which must fit in memory. ``write_mosaic(paths, maps,
tiles)`` sends the same maps to the writers `ofs-stitch` uses (`render.writers`): the canvas
is rendered band by band with the core's warping kernels, every file is staged under a
temporary name and renamed once complete, and a canvas too large for memory streams through.
The file's kind comes from its name: ``.jpg``/``.jpeg`` (JPEG), ``.ome.tif(f)``/``.tif(f)``
(pyramidal OME-TIFF), ``.dzi`` (Deep Zoom, its tiles in ``<stem>_files`` beside it); several
paths are written in one pass.

``maps``: ``{tile: (x, y)}`` (`Placement.rigid`) or ``{tile: A}`` 2x3 (`Placement.affine`), or
a `Renderer` (its maps). ``tiles``: ``{tile: path or array}``; arrays are uint8 or uint16, grey
(h, w) or RGB (h, w, 3), as the mosaic formats hold. Canvas pixel (row, col) is model point
``(x, y) = origin + (col, row)`` with ``origin`` the whole-pixel corner that
`MosaicWritten.origin` reports: the same convention as `Renderer.origin`, so where one tile
covers a pixel the two agree (with ``blend="nearest"`` and ``Renderer(interpolation=
"nearest")``, exactly).

Blends are the writers': ``"nearest"`` (each pixel from the tile whose centre is nearest) or
``"feather"`` (weighted mean, each tile bilinearly sampled, weights falling towards its edges).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError
from ..io.header import read_headers
from ..render.compose import BLENDS, Blend
from ..render.geometry import affine_layout
from ..render.output_plan import OutputPlan, dzi_tiles_folder
from ..render.writers import write_mosaic as write_layout
from .renderer import Renderer, _affine_map, _rigid_map

_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (x, y) <-> (row, col)
_SAMPLE_FORMATS = {np.dtype(np.uint8): "uchar", np.dtype(np.uint16): "ushort"}


@dataclass(frozen=True)
class MosaicWritten:
    """What `write_mosaic` wrote: every path (a DZI's tile folder included), the canvas size
    and the model (x, y) of its pixel (0, 0)."""

    paths: tuple[Path, ...]
    width: int
    height: int
    origin: tuple[float, float]


@dataclass(frozen=True)
class _ArrayFacts:
    """Header facts of a tile held as an array (the writers' `io.header.ImageFacts`)."""

    path: Path
    width: int
    height: int
    bands: int
    pixel_format: str
    interpretation: str
    loader: str = "numpy"


def write_mosaic(
    paths: str | Path | Sequence[str | Path],
    maps: Renderer | Mapping[Hashable, ArrayLike],
    tiles: Mapping[Hashable, str | Path | np.ndarray],
    *,
    blend: Blend | str = "feather",
    pixel_size_um: float | None = None,
) -> MosaicWritten:
    """Write the mosaic of ``tiles`` placed by ``maps`` to ``paths`` (module docstring).

    Every tile of ``tiles`` needs a map; maps without a tile are left out. Raises InputError
    for a path of unknown kind, a tile without a map, or tiles the formats cannot hold;
    ImageReadError for a tile file that does not decode; OutputError when writing fails.
    """
    plan = _plan(paths)
    if blend not in BLENDS:
        raise InputError(f"blend={blend!r}; use 'nearest' or 'feather'")
    model_maps = _model_maps(maps)
    if not tiles:
        raise InputError("tiles is empty; pass {tile: path or array} for the tiles to write")
    missing = [t for t in tiles if t not in model_maps]
    if missing:
        raise InputError(
            f"tiles {missing[:3]!r} have no map; pass maps for every tile (from "
            "Placement.rigid() or .affine())"
        )
    keys = list(tiles)
    files = {t: Path(v) for t, v in tiles.items() if isinstance(v, (str, Path))}
    for key, path in files.items():
        if not path.is_file():
            raise InputError(f"tile {key!r}: {path} is not a file; check the path")
    headers_of_files = dict(zip(files, read_headers(list(files.values())), strict=True))
    arrays = {t: _held(t, v) for t, v in tiles.items() if t not in files}
    headers = [headers_of_files[t] if t in files else _facts(t, arrays[t]) for t in keys]
    tile_size = maps.tile_size if isinstance(maps, Renderer) else None
    shapes = np.array([[h.height, h.width] for h in headers], dtype=np.int64)
    if tile_size is not None:
        for key, (h, w) in zip(keys, shapes.tolist(), strict=True):
            if (w, h) != tile_size:
                raise InputError(
                    f"tile {key!r} is {w}x{h} but the Renderer's tile_size is "
                    f"{tile_size[0]}x{tile_size[1]}; pass the tiles the maps were made for"
                )
    # Tile (row, col) -> model (row, col): the (x, y) map with both sides' axes swapped.
    rc_maps = np.stack([_SWAP @ model_maps[t] @ _SWAP for t in keys])
    layout = affine_layout([h.path for h in headers], rc_maps, shapes, headers)
    # affine_layout puts the canvas's corner on a whole pixel; its origin is model (row, col).
    held = [arrays.get(t) for t in keys]
    write_layout(
        layout,
        plan,
        blend=blend,
        pixel_size_um=pixel_size_um,
        in_memory=(lambda i: held[i]) if arrays else None,
    )
    return MosaicWritten(
        paths=tuple(plan.paths),
        width=layout.width,
        height=layout.height,
        origin=(layout.origin[1], layout.origin[0]),
    )


def _plan(paths: str | Path | Sequence[str | Path]) -> OutputPlan:
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not listed:
        raise InputError("no output path; pass e.g. 'mosaic.jpg', 'mosaic.ome.tiff' or 'x.dzi'")
    chosen: dict[str, Path] = {}
    for value in listed:
        path = Path(value)
        name = path.name.lower()
        kind = (
            "jpeg"
            if name.endswith((".jpg", ".jpeg"))
            else "tiff"
            if name.endswith((".tif", ".tiff"))
            else "dzi"
            if name.endswith(".dzi")
            else None
        )
        if kind is None:
            raise InputError(
                f"{path}: unknown kind of mosaic file; end its name in .jpg, .ome.tiff (or "
                ".tif) or .dzi"
            )
        if kind in chosen:
            raise InputError(f"{chosen[kind]} and {path} are both {kind}; write one of each kind")
        if not path.parent.is_dir():
            raise InputError(f"{path}: folder {path.parent} does not exist; create it first")
        if kind == "dzi" and dzi_tiles_folder(path).is_file():
            raise InputError(f"{dzi_tiles_folder(path)} is a file; the DZI's tiles go there")
        chosen[kind] = path
    return OutputPlan(jpeg=chosen.get("jpeg"), dzi=chosen.get("dzi"), tiff=chosen.get("tiff"))


def _model_maps(maps: Renderer | Mapping[Hashable, ArrayLike]) -> dict[Hashable, np.ndarray]:
    """3x3 (x, y) maps tile -> model, from a Renderer or a placement's result."""
    if isinstance(maps, Renderer):
        return dict(maps.maps)
    if not isinstance(maps, Mapping) or not maps:
        raise InputError(
            "maps must be a Renderer or a non-empty {tile: (x, y)} / {tile: 2x3 A} dict"
        )
    return {
        t: _rigid_map(t, v) if np.shape(v) == (2,) else _affine_map(t, v) for t, v in maps.items()
    }


def _held(key: Hashable, value: object) -> np.ndarray:
    pixels = np.asarray(value)
    grey = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1)
    colour = pixels.ndim == 3 and pixels.shape[2] == 3
    if pixels.dtype not in _SAMPLE_FORMATS or not (grey or colour) or pixels.size == 0:
        raise InputError(
            f"tile {key!r} is {pixels.dtype} of shape {pixels.shape}; the mosaic files hold "
            "uint8 or uint16 grey (h, w) or RGB (h, w, 3) tiles (scale float tiles first)"
        )
    return pixels


def _facts(key: Hashable, pixels: np.ndarray) -> _ArrayFacts:
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    wide = pixels.dtype == np.uint16
    colour = ("rgb16" if wide else "srgb") if bands == 3 else ("grey16" if wide else "b-w")
    return _ArrayFacts(
        path=Path(f"<tile {key!r}>"),
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        bands=bands,
        pixel_format=_SAMPLE_FORMATS[pixels.dtype],
        interpretation=colour,
    )
