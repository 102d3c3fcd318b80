"""Stores and graphs shared by the fusion graph's tests (threaded and on a cluster)."""

from __future__ import annotations

from pathlib import Path

from ofs_stitch.fusion import layout_from_positions
from ofs_stitch.fusion.chunks import plan_chunks
from ofs_stitch.fusion.graph import FusionGraph, FusionJob, build_graph
from ofs_stitch.fusion.layout import FusionLayout
from ofs_stitch.fusion.ome_zarr import ZarrTarget, prepare
from ofs_stitch.testing.fusion_scans import FusionScan


def new_store(path: Path, layout: FusionLayout) -> ZarrTarget | None:
    """A 0.4 store at ``path`` for the layout's mosaic, in 64-pixel chunks (or the one an
    interrupted run left there)."""
    return prepare(
        path,
        version="0.4",
        height=layout.height,
        width=layout.width,
        chunk=64,
        bands=1,
        dtype=layout.fmt.dtype,
        pixel_size_um=None,
        fingerprint="test",
    )


def few_blocks(path: Path, scan: FusionScan) -> tuple[ZarrTarget, FusionGraph]:
    """A store at ``path`` for the scan's mosaic and its graph, not run: for the whole-pixel
    scan, 4 blocks of 4 x 4 chunks dealt to 2 workers."""
    layout = layout_from_positions(scan.paths, scan.positions)
    target = new_store(path, layout)
    assert target is not None
    plans = plan_chunks(layout, 64, rounded=True)
    job = FusionJob(layout, target, "nearest", "cubic")
    return target, build_graph(job, plans, workers=2, depth=2)
