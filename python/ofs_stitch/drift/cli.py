"""``ofs drift INPUT [-o OUT]``: estimate a series' drift, write it aligned, report.

Wires the stages: `frames` (open the series) -> `estimate` (or ``--apply`` a table) ->
`apply` (frames warped one at a time) -> `outputs` (the aligned series), `table`
(drift.csv), `plot` (drift.png), `report` (drift_report.json, the summary). Every output is
staged in a private folder inside OUT and renamed into place at the end; a failure leaves
nothing under a final name and the input untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..arguments import OneLineParser, run_command

OUTPUT_FILES = ("drift.csv", "drift.png", "drift_report.json")


def parser(prog: str) -> argparse.ArgumentParser:
    from .reference import DEFAULT_LAGS

    p = OneLineParser(
        prog=prog,
        description="Correct the drift of an image time series: register every frame, solve "
        "all frames jointly, write the aligned series, drift.csv, drift.png and "
        "drift_report.json.",
    )
    p.add_argument(
        "input", metavar="INPUT", help="a folder of TIFF/PNG frames or a multi-page TIFF"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output folder (default: INPUT_aligned beside the input)",
    )
    p.add_argument("--model", default="rigid", choices=("translation", "rigid", "similarity"))
    p.add_argument(
        "--reference",
        default="global",
        metavar="first|mean:N|previous|index:K|global",
        help="what frames are registered to (default global: lags "
        f"{', '.join(map(str, DEFAULT_LAGS))} and the first frame, solved jointly)",
    )
    p.add_argument(
        "--channel",
        type=int,
        default=None,
        metavar="K",
        help="channel to register (default 0); the correction is applied to all",
    )
    p.add_argument("--apply", metavar="DRIFT_CSV", help="apply this drift.csv instead of measuring")
    p.add_argument(
        "--fiducials",
        metavar="auto|FILE.csv",
        help="measure the drift from bright compact particles (detected, or x,y in a CSV) "
        "fitted in every frame instead of registering whole images; writes tracks.csv",
    )
    p.add_argument("--interpolation", default="linear", choices=("linear", "cubic", "nearest"))
    p.add_argument(
        "--integer",
        action="store_true",
        help="whole-pixel shifts only (lossless; rotation ignored)",
    )
    p.add_argument("--canvas", default="same", choices=("same", "crop", "expand"))
    p.add_argument("--threads", type=int, default=0, help="worker threads (default: every core)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = "ofs drift") -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))

    def work() -> int:
        lines = run(args)
        if not args.quiet:
            print("\n".join(lines))
        return 0

    return run_command(prog, work, interrupted="nothing was written under a final name")


def default_output(source: Path) -> Path:
    name = source.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return source.parent / f"{name}_aligned"


def run(args: argparse.Namespace) -> list[str]:
    import numpy as np

    from ..errors import InputError
    from ..io.atomic import staged_outputs, write_text_atomic
    from ..io.memory import give_back_free_memory
    from .alignment import check_table, frame_maps, iter_aligned, output_canvas, warp_frame
    from .estimation import estimate_series
    from .frames import check_channel, open_frames
    from .outputs import aligned_name, write_aligned
    from .plot import plot_drift
    from .progress import progress_bar
    from .reference import parse_reference
    from .report import (
        Motion,
        ResidualMeter,
        build_report,
        endpoint_motion,
        summary_lines,
        write_report,
    )
    from .table import read_drift_csv, write_drift_csv

    started = time.perf_counter()
    source = Path(args.input)
    if args.threads < 0:
        raise InputError(f"--threads {args.threads}: give 0 (every core) or more")
    reference = parse_reference(args.reference)
    out = Path(args.output) if args.output else default_output(source)
    if out.resolve() == source.resolve():
        raise InputError(f"-o {out} is the input itself; choose another output folder")
    frames = open_frames(source)
    channel = check_channel(frames, args.channel)

    pairs_measured = pairs_rejected = 0
    tracks: str | None = None
    if args.apply and args.fiducials:
        raise InputError("--apply and --fiducials exclude each other: choose one")
    if args.apply:
        table = read_drift_csv(args.apply)
        check_table(frames, table)
    elif args.fiducials:
        from .fiducials import estimate_from_fiducials

        if args.reference != "global":
            raise InputError("--fiducials measures against the first frame; leave out --reference")
        with progress_bar("fitting particles", len(frames), quiet=args.quiet) as advance:
            fiducial = estimate_from_fiducials(
                frames,
                channel=channel,
                model=args.model,
                particles=None if args.fiducials == "auto" else Path(args.fiducials),
                threads=args.threads,
                advance=advance,
            )
        table, tracks = fiducial.table, fiducial.tracks_csv
    else:
        with progress_bar("registering", len(frames), quiet=args.quiet) as advance:
            result = estimate_series(
                frames,
                model=args.model,
                reference=reference,
                channel=channel,
                threads=args.threads,
                advance=advance,
            )
        table = result.table
        pairs_measured = len(result.measurements.pairs)
        pairs_rejected = int((~result.solution.accepted).sum())

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        from ..errors import OutputError

        raise OutputError(
            f"cannot create the output folder {out}: {error.strerror}; choose another with -o"
        ) from None
    canvas, aligned = iter_aligned(
        frames,
        table,
        interpolation=args.interpolation,
        integer=args.integer,
        canvas=args.canvas,
        threads=args.threads,
    )
    maps = frame_maps(table, integer=args.integer)
    rows, cols = frames.shape
    before = Motion(endpoint_motion(maps, (0, 0, rows, cols)))
    # Residual motion is measured where every frame has pixels (never on the canvas' fill).
    try:
        common = output_canvas(maps, frames.shape, "crop")
        box = (common.top - canvas.top, common.left - canvas.left, common.rows, common.cols)
    except InputError:
        box = None
    reference_frame = reference.number if reference.kind == "index" else 0
    meter = None
    if box is not None and min(box[2], box[3]) >= 64:
        first = warp_frame(
            frames.read(reference_frame), maps[reference_frame], canvas, "linear", args.threads
        )
        meter = ResidualMeter(first[channel], box, table.model)

    name = aligned_name(frames)
    extra = [out / "tracks.csv"] if tracks is not None else []
    finals = [out / name, *extra, *(out / f for f in OUTPUT_FILES)]
    residual_jobs: list[Future[float]] = []
    # The re-registrations are most of this stage's work (the writer's warps and file writes
    # are a third as much and mostly outside the GIL): they get every core, not one fewer,
    # which on two cores left one re-registering while the writer waited on it.
    workers = args.threads or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def measured(stream: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for number, frame in enumerate(stream):
                if meter is not None:
                    residual_jobs.append(pool.submit(meter.measure, frame[channel]))
                    # Each waiting job holds its frame: never let more than a few wait, or
                    # a writer faster than the re-registration would queue the whole series.
                    if number >= 2 * workers:
                        residual_jobs[number - 2 * workers].result()
                if number % 16 == 15:
                    give_back_free_memory()  # see io.memory: the heaps would grow per frame
                yield frame
                advance(1)

        with (
            staged_outputs(finals) as staging,
            progress_bar("writing", len(frames), quiet=args.quiet) as advance,
        ):
            # The plot needs only the table: drawn on its own thread while the frames are
            # warped and written (C++ and file writes, mostly outside the GIL).
            with ThreadPoolExecutor(max_workers=1) as plotter:
                plotted = plotter.submit(plot_drift, staging / "drift.png", table)
                write_aligned(frames, canvas, measured(aligned), staging / name)
                write_drift_csv(staging / "drift.csv", table)
                if tracks is not None:
                    write_text_atomic(staging / "tracks.csv", tracks)
                plotted.result()
            after = (
                Motion(np.array([job.result() for job in residual_jobs]))
                if meter is not None
                else None
            )
            report = build_report(
                table,
                reference=f"applied {args.apply}"
                if args.apply
                else "fiducials"
                if args.fiducials
                else str(reference),
                before=before,
                after=after,
                pairs_measured=pairs_measured,
                pairs_rejected=pairs_rejected,
                input_path=str(source),
                outputs=[str(p.name) for p in finals],
                seconds=time.perf_counter() - started,
            )
            write_report(staging / "drift_report.json", report)
    return [*summary_lines(report), f"wrote {out}: {', '.join(p.name for p in finals)}"]
