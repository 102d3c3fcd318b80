"""``ofs-stitch FOLDER``: the command line, option-compatible with ``openflexure-stitch``.

The options themselves live with the family (`ofs_stitch.stitching.options`). Problems the user
can fix end in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ..errors import StitchError
from ..io.memory import peak_resident_bytes
from ..stitching.options import OptionError, apply_cached_settings, build_parser, options_from_args
from ..stitching.pipeline import stitch
from ..stitching.plot_worker import PlotProcess

EXIT_USER_ERROR = 2


def _show_cached_settings(args: argparse.Namespace) -> int:
    from ..io.pair_cache import find_cache_file, list_cached_settings

    folders = [f for f in (args.output_dir, args.input_folder) if f is not None]
    path = find_cache_file(folders)
    if path is None:
        print(f"no correlation cache in {args.input_folder}")
        return 0
    for settings in list_cached_settings(path):
        print(json.dumps(settings, sort_keys=True))
    return 0


def _watch(args: argparse.Namespace, plot_helper: PlotProcess | None) -> int:
    """--watch: live stitching until Ctrl-C or --watch_idle (stitching/live/watch.py)."""
    from ..stitching.live.watch import WatchSettings, watch_folder

    settings = WatchSettings(idle_s=args.watch_idle, poll_s=args.watch_poll)
    return watch_folder(
        args.input_folder, options_from_args(args), settings, plot_helper=plot_helper
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    plot_helper: PlotProcess | None = None,
    prog: str = "ofs-stitch",
) -> int:
    """Run the command; ``plot_helper``: a plot process already started (see command.py)."""
    try:
        args = build_parser(prog).parse_args(argv)
    except OptionError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    try:
        if args.show_cached_settings:
            return _show_cached_settings(args)
        if args.use_cached_settings:
            apply_cached_settings(args)
        if args.watch_idle is not None or args.watch_poll is not None:
            if not args.watch:
                raise OptionError("--watch_idle and --watch_poll need --watch")
        if args.watch:
            return _watch(args, plot_helper)
        result = stitch(args.input_folder, options_from_args(args), plot_helper=plot_helper)
    except StitchError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; measured pairs are kept in the cache", file=sys.stderr)
        return 130
    if not args.quiet:
        try:
            for path in result.written:
                print(f"wrote {path}", flush=True)
            peak = peak_resident_bytes()
            if peak is not None:
                # What a user sizing a machine (or choosing --priority) needs to know.
                print(f"peak memory {peak / 2**20:.0f} MB (--priority {args.priority})", flush=True)
        except BrokenPipeError:
            # stdout was closed early (piped into head, say); the work is done and written.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
