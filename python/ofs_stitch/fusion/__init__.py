"""Chunked fusion of large mosaics on Dask, written as OME-Zarr (``ofs fuse``).

Stages, one module each: `layout` (where every tile lands: `FusionLayout`), `chunks` (the
canvas cut into chunks, each with the tile parts it needs: `ChunkPlan`), `tile_reads` (only
those parts decoded, lazily), `paint` (a chunk from its parts: nearest, feather, cosine,
mean, max), `ome_zarr` (the NGFF group, chunk by chunk, restartable), `pyramid` (each level
from the one above), `graph` (all of it as one Dask graph), `api` (`fuse_to_zarr`), and
`tiff` (the same chunks as a pyramidal OME-TIFF). Dask, distributed and zarr are the optional
``dask`` extra, imported only when used.
"""

from __future__ import annotations

from .api import FusionResult, fuse_to_zarr, local_cluster, scheduler_client
from .layout import (
    FusionLayout,
    layout_from_geometry,
    layout_from_positions,
    layout_from_transforms,
)

__all__ = [
    "FusionLayout",
    "FusionResult",
    "fuse_to_zarr",
    "layout_from_geometry",
    "layout_from_positions",
    "layout_from_transforms",
    "local_cluster",
    "scheduler_client",
]
