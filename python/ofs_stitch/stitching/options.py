"""The options of ``ofs-stitch`` (every openflexure-stitch option, with its name, meaning and
default; new ones are marked (new)), parsed into `StitchOptions`.

One parser serves the command and the Python call ``ofs_stitch.stitching(folder, **options)``, so
both accept the same names, defaults and checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._version import __version__
from ..core.registration import CorrelationSettings
from ..errors import InputError
from ..render.writers import TIFF_LAYOUTS
from .inputs import InputOptions
from .pipeline import STITCHING_MODES, StitchOptions
from .thresholds import ThresholdSettings


class OptionError(InputError):
    """An option value the parser refused; the message names the option and the fix."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is an `OptionError` naming the option and the fix (no usage
    dump): the command prints it as one line, ``ofs_stitch.stitch()`` raises it."""

    help_hint = ""  # where the options are described, for the end of every error

    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionError(f"{message}; {self.help_hint}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _scale_factor(text: str) -> float:
    """A shrink factor in (0, 1]: images are never enlarged (that only costs memory and time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be greater than 0 and at most 1 (1 keeps the full size)"
        )
    return value


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more (leave it out: one per core)")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _grid_overlap(text: str) -> float:
    """--overlap: the same range and words as the grid stage's own check (openflexure/stage)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: give the overlap of neighbouring tiles as a fraction "
            "of the tile size, from 0 up to (not including) 1"
        )
    return value


def _zstack_choice(text: str) -> str:
    from .zstacks import check_choice

    try:
        return check_choice(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"choose fuse, largest, sharpest or index:K (K a whole number), not {text!r}"
        ) from None


def _tile_size(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a whole number of pixels or 'auto'"
        ) from None
    if value < 16:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 16")
    return value


def build_parser(prog: str = "ofs-stitch", help_hint: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``ofs-stitch`` (``prog``: the name it is called by, ``ofs stitch`` too;
    ``help_hint``: where errors send the user, ``see PROG --help`` by default)."""
    parser = _Parser(
        prog=prog,
        description=(
            "Stitch a folder of overlapping microscope images into one mosaic. Accepts every "
            "option of openflexure-stitch with the same meaning and defaults."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.help_hint = help_hint or f"see {prog} --help"
    parser.add_argument("input_folder", type=Path, help="folder holding the tile images")
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="(new) print the version and exit (quote it in bug reports)",
    )
    parser.add_argument(
        "-o",
        "--output_dir",
        type=Path,
        default=None,
        help="where every output goes, cache and plots included (default: the input folder)",
    )
    parser.add_argument(
        "--stitching_mode",
        choices=STITCHING_MODES,
        default="all",
        help="all: everything; preview_stitch: all but the full-size mosaic; "
        "stage_stitch: only a preview from stage positions; only_correlate: only "
        "measure pairs into the cache (default: %(default)s)",
    )
    parser.add_argument(
        "--show_cached_settings",
        action="store_true",
        help="list the settings stored in the folder's correlation cache and exit",
    )
    parser.add_argument(
        "--use_cached_settings",
        action="store_true",
        help="use the correlation settings of the most recent cached run",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="(new) print only warnings and errors"
    )

    loading = parser.add_argument_group("positions")
    loading.add_argument(
        "--csm_matrix",
        default=None,
        help='camera-stage matrix "[[a,b],[c,d]]" (stage_xy = [d_row, d_col] @ M); '
        "overrides the images' metadata",
    )
    loading.add_argument(
        "--csm_calibration_width",
        type=int,
        default=None,
        help="image width the matrix was calibrated at (0: do not rescale; "
        "default: from the metadata, 832 for old OpenFlexure metadata)",
    )
    loading.add_argument(
        "--image_count",
        type=int,
        default=None,
        help="use only the first N images after ordering by capture time",
    )
    loading.add_argument(
        "--positions",
        type=Path,
        default=None,
        dest="positions_file",
        help="(new) starting positions from a Fiji TileConfiguration.txt "
        "or a CSV file,x,y (pixels)",
    )
    loading.add_argument(
        "--grid",
        default=None,
        help="(new) tiles form a regular ROWSxCOLS grid, files in name order, first top-left",
    )
    loading.add_argument(
        "--overlap",
        type=_grid_overlap,
        default=0.1,
        help="(new) with --grid: overlap between neighbours as a fraction of the tile "
        "(default: %(default)s)",
    )
    loading.add_argument(
        "--order",
        choices=("raster", "snake", "column", "column-snake"),
        default="raster",
        help="(new) with --grid: order of the files in the grid (default: %(default)s)",
    )
    loading.add_argument(
        "--zstack",
        type=_zstack_choice,
        default="fuse",
        help="(new) images sharing a stage (x, y) form a z-stack: fuse them into one "
        "all-in-focus tile (fuse, the default; cached), keep the largest file (largest, "
        "openflexure-stitching's choice), the sharpest (sharpest) or the K-th in z order "
        "(index:K); scans without z-stacks are unaffected",
    )
    loading.add_argument(
        "--pixel_size_um",
        type=_positive_float,
        default=None,
        help="(new) physical pixel size in micrometres, when the metadata has none",
    )

    correlation = parser.add_argument_group("correlation")
    correlation.add_argument(
        "--pad",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="zero-pad before correlating so large shifts are unambiguous (default: pad)",
    )
    correlation.add_argument(
        "--high_pass_sigma",
        type=_non_negative_float,
        default=10.0,
        help="Gaussian sigma (image pixels) of the high-pass filter "
        "1 - exp(-2 pi^2 sigma^2 |f|^2) (default: %(default)s)",
    )
    correlation.add_argument(
        "--resize",
        type=_scale_factor,
        default=1.0,
        help="scale images by this factor (0-1) before correlating; faster, less precise "
        "(default: %(default)s)",
    )
    correlation.add_argument(
        "--minimum_overlap",
        type=_fraction,
        default=None,
        help="correlate tiles whose stage positions overlap by at least this fraction of a tile "
        "(default: 0.2, or half the overlap of neighbouring tiles when that is thinner)",
    )
    correlation.add_argument(
        "--priority",
        choices=("time", "memory"),
        default="time",
        help="memory: for small machines, hold no decoded tiles between correlating and "
        "writing, and correlate in an order that keeps few overlap strips waiting (a little "
        "slower; same results); time: use memory to go faster (default: %(default)s)",
    )
    correlation.add_argument(
        "--corr_mask_radius",
        type=_positive_float,
        default=None,
        help="look for each match only this many pixels from the stage prediction "
        "(default: a quarter of the tile's shorter side)",
    )
    correlation.add_argument(
        "--whiten",
        type=_fraction,
        default=None,
        help="(new) spectral whitening exponent 0..1 "
        f"(default: {CorrelationSettings().whiten:.1f})",
    )
    correlation.add_argument(
        "--threads",
        type=_thread_count,
        default=0,
        help="(new) worker threads, 1 or more (default: one per core)",
    )

    tiling = parser.add_argument_group("thresholds")
    tiling.add_argument(
        "--thresholding_method",
        choices=("automatic", "manual"),
        default="automatic",
        help="automatic: reject doubtful pairs by quality, stage disagreement and loop "
        "consistency; manual: use --min_peak_quality and --max_stage_discrepancy as given "
        "(never waits for the keyboard) (default: %(default)s)",
    )
    tiling.add_argument(
        "--max_stage_discrepancy",
        type=_positive_float,
        default=None,
        help="reject pairs whose measured shift differs from the stage's by more than this "
        "many pixels",
    )
    tiling.add_argument(
        "--min_peak_quality",
        type=_fraction,
        default=None,
        help="reject pairs whose quality (0..1, see positions.json) is below this",
    )

    live = parser.add_argument_group("live stitching")
    live.add_argument(
        "--watch",
        action="store_true",
        help="(new) stitch what the folder holds, then each new tile as it is written, "
        "updating positions.json and preview.jpg; Ctrl-C (or --watch_idle) ends the watch "
        "and writes the final outputs as a run without --watch would",
    )
    live.add_argument(
        "--watch_idle",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="(new) with --watch: end after this long without a new tile (default: Ctrl-C)",
    )
    live.add_argument(
        "--watch_poll",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="(new) with --watch: look at the folder this often instead of waiting for change "
        "notifications (network shares send none; used by itself when they cannot start)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--stitch_tiff",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write a pyramidal OME-TIFF (default: off)",
    )
    output.add_argument(
        "--tiff_layout",
        choices=TIFF_LAYOUTS,
        default="subifd",
        help="(new) where the OME-TIFF keeps its reduced levels: subifd (the OME-TIFF pyramid "
        "that Bio-Formats, QuPath and tifffile read) or pages (one page per level, the pyramid "
        "OpenSlide reads) (default: %(default)s)",
    )
    output.add_argument(
        "--stitch_dzi",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write a Deep Zoom image (.dzi + _files/) (default: off)",
    )
    output.add_argument(
        "--stitch_zarr",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write an OME-Zarr (NGFF 0.4, multiscale; chunked on Dask, needs "
        "pip install 'ofs-stitch[dask]') (default: off)",
    )
    output.add_argument(
        "--dask_scheduler",
        default=None,
        metavar="ADDRESS",
        help="measure the pairs (and write --stitch_zarr) on this Dask cluster, e.g. "
        "tcp://HOST:8786; needs pip install 'ofs-stitch[dask]' (default: this machine)",
    )
    output.add_argument(
        "--tile_size",
        type=_tile_size,
        default=None,
        help="accepted for compatibility: ofs-stitch streams the mosaic in bands "
        "sized to memory by itself (default: auto)",
    )
    output.add_argument(
        "--transform",
        choices=("translation", "affine"),
        default="translation",
        help="(new) translation: tiles only move (as upstream); affine: each tile may also "
        "turn, scale and shear a little, measured at a grid of points in every overlap it "
        "shares, for stages or optics that distort (default: %(default)s)",
    )
    output.add_argument(
        "--blend",
        choices=("nearest", "feather"),
        default="nearest",
        help="(new) nearest: each pixel from the tile whose centre is nearest (as upstream); "
        "feather: smooth ramps across overlaps (default: %(default)s)",
    )
    return parser


def options_from_args(args: argparse.Namespace) -> StitchOptions:
    if args.stitch_zarr:
        # Before the long registration, not after it.
        from ..fusion.optional import require

        require("dask", "--stitch_zarr")
        require("zarr", "--stitch_zarr")
    if args.dask_scheduler is not None:
        from ..fusion.optional import require

        require("distributed", "--dask_scheduler")
    correlation = CorrelationSettings(high_pass_sigma=args.high_pass_sigma)
    if args.whiten is not None:
        correlation = CorrelationSettings(high_pass_sigma=args.high_pass_sigma, whiten=args.whiten)
    return StitchOptions(
        inputs=InputOptions(
            csm_matrix=args.csm_matrix,
            csm_calibration_width=args.csm_calibration_width,
            positions_file=args.positions_file,
            grid=args.grid,
            overlap=args.overlap,
            order=args.order,
            image_count=args.image_count,
            pixel_size_um=args.pixel_size_um,
            zstack=args.zstack,
        ),
        output_dir=args.output_dir,
        stitching_mode=args.stitching_mode,
        correlation=correlation,
        resize=args.resize,
        pad=args.pad,
        minimum_overlap=args.minimum_overlap,
        search_radius=args.corr_mask_radius,
        thresholds=ThresholdSettings(
            method=args.thresholding_method,
            min_peak_quality=args.min_peak_quality,
            max_stage_discrepancy=args.max_stage_discrepancy,
        ),
        threads=args.threads,
        priority=args.priority,
        stitch_tiff=args.stitch_tiff,
        stitch_dzi=args.stitch_dzi,
        tiff_layout=args.tiff_layout,
        stitch_zarr=args.stitch_zarr,
        dask_scheduler=args.dask_scheduler,
        blend=args.blend,
        transform=args.transform,
        quiet=args.quiet,
    )


def apply_cached_settings(args: argparse.Namespace) -> None:
    """--use_cached_settings: the correlation settings of the most recent cached run."""
    from ..io.pair_cache import find_cache_file, most_recent_cached_settings

    folders = [f for f in (args.output_dir, args.input_folder) if f is not None]
    path = find_cache_file(folders)
    settings = most_recent_cached_settings(path) if path is not None else None
    if settings is None:
        raise InputError(
            f"no correlation cache in {args.input_folder}; run once without --use_cached_settings"
        )
    args.high_pass_sigma = settings.get("high_pass_sigma", args.high_pass_sigma)
    args.whiten = settings.get("whiten", args.whiten)
    args.pad = settings.get("pad", args.pad)
    args.resize = settings.get("resize", args.resize)
    args.corr_mask_radius = settings.get("search_radius", args.corr_mask_radius)
