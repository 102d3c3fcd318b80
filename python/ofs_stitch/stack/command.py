"""``ofs stack INPUT [-o OUT]``: fuse a focus stack into one all-in-focus image.

Stages: read the frames (``inputs``), optional corrections, align every frame to the middle one
(``alignment``), balance brightness (``exposure``), fuse (``fusion``), write (``outputs``).
Errors a user can fix end in one line on stderr and exit status 2; so does a frame that cannot
be aligned, unless ``--allow-misaligned`` (a warning naming the frames, which are left out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .._version import __version__
from ..arguments import OneLineParser, run_command
from ..errors import InputError


def build_parser(prog: str) -> argparse.ArgumentParser:
    from .alignment import MODELS
    from .exposure import DEFAULT_MASK, FITS, MODES
    from .fusion import ENERGIES, METHODS, SELECTIONS

    parser = OneLineParser(
        prog=prog,
        description="Fuse a focus stack (a folder of frames, or a multi-page TIFF) into one "
        "image sharp everywhere, with a depth map.",
    )
    parser.add_argument("input", type=Path, help="folder of frames, or a multi-page TIFF")
    parser.add_argument(
        "-o", "--output", type=Path, help="output folder (default: <input>_stacked beside it)"
    )
    parser.add_argument("--reverse", action="store_true", help="take the frames in reverse order")
    parser.add_argument(
        "--method", choices=METHODS, default="pyramid", help="fusion method (default: pyramid)"
    )
    parser.add_argument("--levels", type=int, help="pyramid levels (default: as many as fit)")
    parser.add_argument(
        "--consistency",
        type=int,
        default=1,
        help="radius of the pyramid's consistency filter, px (0: off; default 1)",
    )
    parser.add_argument(
        "--energy", choices=ENERGIES, default="laplacian", help="depthmap focus measure"
    )
    parser.add_argument(
        "--smoothing", type=float, default=2.0, help="depthmap energy smoothing sigma, px"
    )
    parser.add_argument(
        "--selection", choices=SELECTIONS, default="hard", help="depthmap: hard or weighted"
    )
    parser.add_argument(
        "--align",
        choices=MODELS,
        default="similarity",
        help="frame alignment model (default: similarity; none to skip)",
    )
    parser.add_argument(
        "--allow-misaligned",
        action="store_true",
        help="leave out frames that cannot be aligned (with a warning) instead of failing",
    )
    parser.add_argument(
        "--balance",
        choices=MODES,
        default="luminance",
        help="brightness balance: one gain per frame (luminance), per channel, or none",
    )
    parser.add_argument(
        "--balance-mask",
        type=float,
        default=DEFAULT_MASK,
        help="radius of the central disc the balance is fitted in, over half the shorter side",
    )
    parser.add_argument(
        "--balance-fit", choices=FITS, default="gain", help="fit a gain, or a gain and offset"
    )
    parser.add_argument("--vignetting", action="store_true", help="estimate and remove vignetting")
    parser.add_argument("--hot-pixels", action="store_true", help="find and mask hot pixels")
    parser.add_argument("--bunches", type=int, help="also fuse runs of N frames (sub-stacks)")
    parser.add_argument(
        "--bunch_overlap", "--bunch-overlap", type=int, default=0, help="frames bunches share"
    )
    parser.add_argument(
        "--layers", action="store_true", help="also write layers.tif: fused + aligned frames"
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=512,
        help="fuse in tiles of about this many px a side, so memory follows the tile, not the "
        "frame (0: whole frames at once; default 512)",
    )
    parser.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "ofs stack") -> int:
    parser = build_parser(prog)
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parser.parse_args(arguments)
    return run_command(
        prog, lambda: run(options, prog), interrupted="no output was left half-written"
    )


def _check_options(options: argparse.Namespace) -> None:
    if options.bunches is not None and options.bunches < 2:
        raise InputError(f"--bunches {options.bunches}: give at least 2 frames per bunch")
    if options.bunch_overlap < 0 or (
        options.bunches is not None and options.bunch_overlap >= options.bunches
    ):
        raise InputError(
            f"--bunch_overlap {options.bunch_overlap}: give 0 or more, less than --bunches"
        )
    if options.levels is not None and options.levels < 1:
        raise InputError(f"--levels {options.levels}: give 1 or more")
    if options.tile != 0 and options.tile < 16:
        raise InputError(f"--tile {options.tile}: give 16 px or more (0: whole frames)")
    if options.threads < 0:
        raise InputError(f"--threads {options.threads}: give 0 (all cores) or more")


def default_output(source: Path) -> Path:
    name = source.stem if source.is_file() else source.name
    return source.resolve().parent / f"{name}_stacked"


def run(options: argparse.Namespace, prog: str) -> int:
    _check_options(options)
    import numpy as np

    from . import outputs
    from .alignment import align
    from .api import MisalignedError
    from .corrected import CorrectedFrames
    from .corrections import Corrections, estimate_vignetting, find_hot_pixels
    from .exposure import estimate_balance
    from .fusion import FusionSettings, frame_reads, fuse
    from .inputs import FileFrames, read_stack

    started = time.perf_counter()
    stack = read_stack(options.input, reverse=options.reverse)
    out = options.output or default_output(options.input)
    if out.resolve() == Path(options.input).resolve():
        raise InputError(f"-o {out} is the input; choose another output folder")
    settings = FusionSettings(
        method=options.method,
        levels=options.levels,
        consistency=options.consistency,
        energy=options.energy,
        smoothing=options.smoothing,
        selection=options.selection,
        threads=options.threads,
        tile=options.tile or None,
    )
    count = len(stack)
    progress = _Progress(enabled=not options.quiet and sys.stderr.isatty())
    source = FileFrames(stack)
    frames = _Counted(source, progress.advance)
    corrections = Corrections(
        hot=find_hot_pixels(frames) if options.hot_pixels else None,
        vignetting=estimate_vignetting(frames) if options.vignetting else None,
    )
    progress.start("aligning", count)
    alignment = align(
        CorrectedFrames(frames, corrections=corrections, threads=options.threads),
        options.align,
        ids=stack.names,
        threads=options.threads,
    )
    failed = alignment.failed
    if failed and not options.allow_misaligned:
        progress.stop()
        raise MisalignedError([stack.names[k] for k in failed])
    if failed:
        print(
            f"{prog}: warning: could not align {', '.join(stack.names[k] for k in failed)}; "
            "fusing without them",
            file=sys.stderr,
        )
    used = [k for k in range(count) if k not in failed]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ofs-stack-", dir=out) as cache:
        aligned = CorrectedFrames(
            source, alignment, None, corrections, threads=options.threads, cache=Path(cache)
        )
        progress.start("balancing", count)
        balance = estimate_balance(
            _Counted(aligned, progress.advance),
            alignment.reference,
            options.balance,
            options.balance_mask,
            options.balance_fit,
        )
        reads = frame_reads(stack.shape[:2], settings)
        progress.start("fusing", reads * len(used))
        fused = fuse(_Counted(aligned.with_balance(balance, used), progress.advance), settings)
        bunches = _bunches(used, options.bunches, options.bunch_overlap)
        bunch_images = []
        if bunches:
            progress.start("bunches", reads * sum(len(b) for b in bunches))
            for members in bunches:
                bunch = _Counted(aligned.with_balance(balance, members), progress.advance)
                bunch_images.append(fuse(bunch, settings).image)
        if options.layers:
            # Each aligned frame goes to a page file in the cache as soon as it is read, and
            # the TIFF streams them back: the frames are never all in memory.
            balanced = aligned.with_balance(balance, used)
            progress.start("layers", len(used))
            pages: list[np.ndarray | Path] = [outputs.to_samples(fused.image, stack.dtype)]
            for i in range(len(used)):
                page = outputs.to_samples(balanced.frame(i).pixels, stack.dtype)
                pages.append(outputs.write_page(Path(cache) / f"layer_{i:05d}.v", page))
                del page
                progress.advance()
            outputs.write_layers(out / "layers.tif", pages)
            del pages
        progress.stop()
    depth = fused.depth
    z = None if stack.z is None else [stack.z[k] for k in used]
    if len(used) != count:
        # Depth counts the frames used; give it in the input's frame numbers.
        depth = np.interp(depth, np.arange(len(used)), np.asarray(used, float)).astype("float32")
        z = None if stack.z is None else list(stack.z)
    main_name = out / f"{stack.stem}_stacked{stack.suffix}"
    exif = outputs.reference_exif(stack, alignment.reference) if stack.suffix == ".jpg" else None
    outputs.write_alignment(out / "alignment.csv", alignment, balance)
    outputs.write_depth(out, depth, z, count)
    outputs.write_confidence(out, fused.confidence)
    for number, image in enumerate(bunch_images):
        (out / "bunches").mkdir(exist_ok=True)
        outputs.write_image(
            out / "bunches" / f"bunch_{number:03d}{stack.suffix}",
            outputs.to_samples(image, stack.dtype),
            exif,
        )
    # The fused image last: a reader that finds it finds the rest.
    outputs.write_image(main_name, outputs.to_samples(fused.image, stack.dtype), exif)
    if not options.quiet:
        elapsed = time.perf_counter() - started
        print(
            f"{prog}: fused {len(used)} of {count} frames ({options.method}, align "
            f"{options.align}, balance {options.balance}) into {main_name} in {elapsed:.1f} s"
        )
    return 0


def _bunches(used: list[int], size: int | None, overlap: int) -> list[list[int]]:
    """Runs of ``size`` frames, each sharing ``overlap`` with the last; the last run may be
    shorter but has at least 2 frames."""
    if size is None:
        return []
    step = size - overlap
    runs = []
    for start in range(0, len(used), step):
        run = used[start : start + size]
        if len(run) >= 2:
            runs.append(run)
        if start + size >= len(used):
            break
    return runs


class _Progress:
    """One tqdm bar at a time on stderr (only on a terminal and without --quiet)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def start(self, description: str, total: float) -> None:
        self.stop()
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=description, unit="frame", leave=False)

    def advance(self, frames: float = 1.0) -> None:
        if self.bar is not None:
            self.bar.update(frames)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Counted:
    """Frames that report every read (the progress of a pass), a region as its share of a
    frame."""

    def __init__(self, frames: object, advance: Callable[..., None]) -> None:
        self.frames = frames
        self.advance = advance

    def __len__(self) -> int:
        return len(self.frames)  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.frames.shape  # type: ignore[attr-defined,no-any-return]

    def frame(self, index: int):  # type: ignore[no-untyped-def]
        self.advance()
        return self.frames.frame(index)  # type: ignore[attr-defined]

    def region(self, index: int, box):  # type: ignore[no-untyped-def]
        from .tiles import read_region

        rows, cols = self.shape[:2]
        self.advance(box.shape[0] * box.shape[1] / max(1, rows * cols))
        return read_region(self.frames, index, box)  # type: ignore[arg-type]
