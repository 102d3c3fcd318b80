"""The fused mosaic as a pyramidal OME-TIFF, for mosaics too large to paint in one process.

The chunks are painted by the same Dask graph into a full-size-only zarr beside the output
(``.NAME.chunks.zarr``; an interrupted run resumes from it), then streamed row of chunks by
row of chunks into the renderer's OME-TIFF writer (`render.writers`: libvips, tiled, SubIFD
pyramid, the same file `ofs-stitch --stitch_tiff` writes). Only one row of chunks is in memory
while the TIFF is written; the scratch zarr is removed when the TIFF is complete.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import staged_output, write_failures_named
from ..render.band_stream import StreamShape, stream_to_writers
from .api import FusionResult, fuse_to_zarr
from .layout import FusionLayout
from .ome_zarr import ZarrTarget, read_region


def _rows_of_chunks(target: ZarrTarget) -> Iterator[np.ndarray]:
    height, width = target.levels[0]
    for y0 in range(0, height, target.chunk):
        yield read_region(target, 0, y0, min(height, y0 + target.chunk), 0, width)


def fuse_to_ome_tiff(layout: FusionLayout, out: Path | str, **options: Any) -> FusionResult:
    """Fuse ``layout`` into the pyramidal OME-TIFF ``out``; ``options`` as `fuse_to_zarr`
    takes them (blend, chunk, client, processes, threads, progress, ...)."""
    # The writer of ofs-stitch's own OME-TIFF, so both commands write the same kind of file.
    from ..render.writers import ome_tiff_writer

    out = Path(out)
    options.pop("ngff_version", None)
    scratch = out.with_name(f".{out.name}.chunks.zarr")
    result = fuse_to_zarr(layout, scratch, pyramid=False, **options)
    chunk = int(options.get("chunk") or 1024)
    fmt = layout.fmt
    target = ZarrTarget(
        scratch, scratch, "0.4", ((layout.height, layout.width),), chunk, fmt.bands, fmt.dtype.str
    )
    shape = StreamShape(layout.height, layout.width, fmt.bands, fmt.dtype, chunk)
    name = out.name.removesuffix(".ome.tiff").removesuffix(".ome.tif")
    with staged_output(out) as temporary:
        writer = ome_tiff_writer(temporary, name, fmt, layout.pixel_size_um, False)

        def write(image: Any) -> None:
            with write_failures_named(out):
                writer(image)

        stream_to_writers(_rows_of_chunks(target), shape, [write])
    shutil.rmtree(scratch, ignore_errors=True)
    return FusionResult(out, result.levels, result.chunks_written, result.chunks_present, False)
