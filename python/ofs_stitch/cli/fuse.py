"""``ofs fuse INPUT``: fuse tiles whose positions are already known, without registration,
into an OME-Zarr (or a pyramidal OME-TIFF), chunk by chunk on Dask.

Positions come from ``--positions FILE`` (an ofs-stitch ``positions.json``, a Fiji
``TileConfiguration.txt`` or a CSV ``file,x,y`` of top-left corners in pixels) or, without
it, from the OpenFlexure scan's stage positions in the images' metadata. The command lives in
the cli layer because it reads scans through the stitching family's input stage and fuses
through the fusion family.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..arguments import OneLineParser, run_command
from ..errors import InputError

FORMATS = ("zarr", "tiff")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Fuse tiles with known positions into an OME-Zarr (or a pyramidal "
        "OME-TIFF), chunk by chunk on Dask; no registration.",
    )
    parser.add_argument("input", type=Path, help="folder of tiles")
    parser.add_argument(
        "--positions",
        type=Path,
        default=None,
        help="positions.json (ofs-stitch), TileConfiguration.txt (Fiji) or CSV file,x,y "
        "(default: the OpenFlexure stage positions in the images' metadata)",
    )
    parser.add_argument(
        "-o", "--output_dir", type=Path, default=None, help="output folder (default: INPUT)"
    )
    parser.add_argument("--format", choices=FORMATS, default="zarr", help="default: zarr")
    parser.add_argument(
        "--blend",
        choices=("nearest", "feather", "cosine", "mean", "max"),
        default="nearest",
        help="where tiles overlap: nearest tile centre (as ofs-stitch), feather or cosine "
        "ramps, plain mean, or max (default: nearest)",
    )
    parser.add_argument(
        "--interpolation",
        choices=("linear", "cubic"),
        default="cubic",
        help="resampling of tiles at sub-pixel positions (default: cubic)",
    )
    parser.add_argument("--chunk", type=int, default=1024, help="chunk side, px (default: 1024)")
    parser.add_argument(
        "--ngff", choices=("0.4", "0.5"), default="0.4", help="OME-Zarr version (default: 0.4)"
    )
    parser.add_argument("--pixel_size_um", type=float, default=None, help="pixel size, um")
    parser.add_argument(
        "--flat_field",
        type=Path,
        default=None,
        metavar="IMAGE",
        help="an image of the illumination (a blank field, the tiles' size): every tile is "
        "divided by it, scaled to mean 1, before blending",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--processes",
        type=int,
        default=None,
        help="run on a local Dask cluster of N worker processes (default: threads)",
    )
    where.add_argument(
        "--dask_scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://HOST:8786",
    )
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _flat_field(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    from ..core.grey import grey_float32
    from ..io.decode import read_pixels

    if not path.is_file():
        raise InputError(f"--flat_field {path} does not exist; give an image of a blank field")
    return grey_float32(read_pixels(path))


def _layout(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..fusion.layout import layout_from_positions
    from ..io.header import read_headers

    # Absolute paths: the workers of a cluster may run in another folder (they must see the
    # tiles and the output at the same paths: a shared file system).
    folder: Path = args.input.absolute()
    flat = _flat_field(args.flat_field)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of tiles; give the folder holding the images")
    if args.positions is not None and args.positions.suffix.lower() == ".json":
        from ..fusion.positions_json import read_positions_json

        stitched = read_positions_json(args.positions)
        paths = [folder / name for name in stitched.names]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise InputError(
                f"{missing[0]} is listed in {args.positions} but does not exist; give the "
                "folder the scan was stitched from"
            )
        size = args.pixel_size_um if args.pixel_size_um is not None else stitched.pixel_size_um
        return layout_from_positions(
            paths,
            stitched.positions,
            headers=read_headers(paths),
            pixel_size_um=size,
            flat_field=flat,
        ), folder
    from ..stitching.inputs import InputOptions, load_scan

    scan = load_scan(
        folder,
        InputOptions(positions_file=args.positions, pixel_size_um=args.pixel_size_um),
    )
    return layout_from_positions(
        [t.path for t in scan.tiles],
        scan.stage_positions_px,
        headers=scan.tiles,
        pixel_size_um=scan.pixel_size_um,
        flat_field=flat,
    ), scan.folder


def main(argv: Sequence[str] | None = None, *, prog: str = "ofs fuse") -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_command(
        prog, lambda: _run(args), interrupted="run again to write only the missing chunks"
    )


def _run(args: argparse.Namespace) -> int:
    from ..fusion.optional import require

    require("dask", "ofs fuse")
    require("zarr", "ofs fuse")
    if args.dask_scheduler is not None:
        require("distributed", "--dask_scheduler")
    if args.processes is not None:
        require("distributed", "--processes")
        if args.processes < 1:
            raise InputError(f"--processes {args.processes}: give at least 1 worker process")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads {args.threads}: give at least 1 thread")
    from ..fusion.api import fuse_to_zarr, scheduler_client
    from ..fusion.tiff import fuse_to_ome_tiff
    from ..openflexure.naming import output_prefix, stitched_name
    from ..stitching.progress import Progress

    layout, folder = _layout(args)
    out_dir: Path = (args.output_dir if args.output_dir is not None else folder).absolute()
    suffix = ".ome.zarr" if args.format == "zarr" else ".ome.tiff"
    out = out_dir / stitched_name(output_prefix(folder), suffix)
    progress = Progress.on_terminal(quiet=args.quiet)
    options = {
        "blend": args.blend,
        "interpolation": args.interpolation,
        "chunk": args.chunk,
        "processes": args.processes,
        "threads": args.threads,
    }
    if args.format == "zarr":
        options["ngff_version"] = args.ngff
    fuse = fuse_to_zarr if args.format == "zarr" else fuse_to_ome_tiff
    with progress.reporting("fusing", "chunk") as report:
        options["progress"] = report
        if args.dask_scheduler is not None:
            with scheduler_client(args.dask_scheduler) as client:
                options["client"] = client
                options["processes"] = None
                result = fuse(layout, out, **options)
        else:
            result = fuse(layout, out, **options)
    if not args.quiet:
        if result.up_to_date:
            print(f"{result.path} is up to date")
        else:
            again = f" ({result.chunks_present} chunks kept from an earlier run)"
            print(f"wrote {result.path}{again if result.chunks_present else ''}")
    return 0
