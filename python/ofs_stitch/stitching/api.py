"""``ofs_stitch.stitch(folder, **options)``: the whole ``ofs-stitch`` job as one Python call.

Options are the command's, named as on the command line without the dashes
(``stitching_mode="preview_stitch"``, ``grid="4x4"``, ``positions="TileConfiguration.txt"``,
``stitch_tiff=True``, ``output_dir="out"``); the same parser checks them, so a value the
command refuses raises `InputError` here with the same words.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .options import apply_cached_settings, build_parser, options_from_args
from .pipeline import StitchResult
from .pipeline import stitch as run_pipeline

# Command-line options that do no stitching, so mean nothing to a Python caller.
_COMMAND_ONLY = ("help", "version", "show_cached_settings", "watch", "watch_idle", "watch_poll")


@dataclass(frozen=True)
class Stitched:
    """What ``stitch`` did: where each tile went and which files it wrote."""

    output_dir: Path
    names: tuple[str, ...]  # the tiles used, in capture order
    # (n, 2) registered top-left corners (row, col) in pixels, minimum at (0, 0); None with
    # stitching_mode="only_correlate" or "stage_stitch", which place nothing.
    positions: np.ndarray | None
    written: tuple[Path, ...]  # every output file, in the order written

    def position_of(self, name: str) -> tuple[float, float]:
        """The registered (row, col) of the tile file ``name``."""
        if self.positions is None:
            raise InputError("this run placed no tiles (its stitching_mode only correlates)")
        try:
            row, col = self.positions[self.names.index(name)]
        except ValueError:
            raise InputError(f"{name} is not one of this run's tiles") from None
        return float(row), float(col)


def stitch(folder: str | Path, **options: Any) -> Stitched:
    """Stitch ``folder`` as ``ofs-stitch FOLDER --option value ...`` does; quiet unless
    ``quiet=False``. Returns the positions and the paths of the files written."""
    options.setdefault("quiet", True)
    parser = build_parser("ofs_stitch.stitch()", help_hint="see ofs-stitch --help for each option")
    args = parser.parse_args([str(folder), *_as_argv(parser, options)])
    if args.use_cached_settings:
        apply_cached_settings(args)
    result = run_pipeline(Path(folder), options_from_args(args))
    return _summary(result)


def _as_argv(parser: argparse.ArgumentParser, options: dict[str, Any]) -> list[str]:
    """The command-line words for keyword ``options``: each name is an option's destination
    (``positions_file``) or its long name without the dashes (``positions``)."""
    by_name: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse keeps no public list of its options
        if not action.option_strings or action.dest in _COMMAND_ONLY:
            continue
        by_name[action.dest] = action
        for spelling in action.option_strings:
            if spelling.startswith("--") and not spelling.startswith("--no-"):
                by_name[spelling[2:]] = action
    argv: list[str] = []
    for name, value in options.items():
        option = by_name.get(name)
        if option is None:
            known = ", ".join(sorted({a.dest for a in by_name.values()}))
            raise InputError(
                f"ofs_stitch.stitch() has no option {name!r}; the options are: {known}"
            )
        flag = next(o for o in option.option_strings if o.startswith("--"))
        if isinstance(option, argparse.BooleanOptionalAction):
            argv.append(flag if value else "--no-" + flag[2:])
        elif option.nargs == 0:  # store_true
            if value:
                argv.append(flag)
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _summary(result: StitchResult) -> Stitched:
    return Stitched(
        output_dir=result.output_dir,
        names=tuple(tile.name for tile in result.scan.tiles),
        positions=result.layout.positions.copy() if result.layout is not None else None,
        written=tuple(result.written),
    )
