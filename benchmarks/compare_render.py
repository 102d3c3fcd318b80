"""Rendering side by side: ofs-stitch's output stage, the libvips floor and upstream's.

Usage: python benchmarks/compare_render.py [--quick] [--runs N] [--work DIR]

Cases (the issue's targets): an 8x8 scan of 1640x1232 tiles written as JPEG + pyramidal TIFF,
and a 1x150 strip of 640x480 tiles written as pyramidal TIFF + DZI (over JPEG's 65,500-pixel
limit). Each renderer runs in its own process (see render_cases.py); times are the best of N
runs, peak RSS the highest. Upstream (openflexure-stitching 0.3.1 in /tmp/upvenv) gets the
same positions through its own save_full_stitch. --quick uses 3x3 and 1x20 scans.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from render_cases import FLOOR, OURS, UPSTREAM, UPSTREAM_PYTHON, best_of

from ofs_stitch.testing.mosaics import make_jpeg_scan


def compare(
    name: str,
    paths: list[Path],
    positions,
    formats: dict,
    work: Path,
    runs: int,
    with_upstream: bool,
) -> None:
    base = {
        "paths": [str(p) for p in paths],
        "positions": positions.tolist(),
        "formats": formats,
        "folder": str(paths[0].parent),
    }
    rows = []
    ours = best_of(runs, OURS, {**base, "out": str(work / f"{name}_ours")})
    rows.append(("ofs-stitch (nearest)", ours))
    rows.append(
        (
            "ofs-stitch, tiles already decoded",
            best_of(runs, OURS, {**base, "out": str(work / f"{name}_held"), "in_memory": True}),
        )
    )
    rows.append(
        (
            "ofs-stitch + preview, thumbnail",
            best_of(runs, OURS, {**base, "out": str(work / f"{name}_preview"), "preview": True}),
        )
    )
    # What `ofs-stitch FOLDER` spends on output: the tiles are held from registration and
    # the preview comes with the full-size pass.
    pipeline_stage = {**base, "out": str(work / f"{name}_stage"), "in_memory": True}
    rows.append(
        (
            "  same, tiles already decoded",
            best_of(runs, OURS, {**pipeline_stage, "preview": True}),
        )
    )
    feather = best_of(1, OURS, {**base, "out": str(work / f"{name}_feather"), "blend": "feather"})
    rows.append(("ofs-stitch (feather)", feather))
    for floor in ("stream", "ram"):
        result = best_of(
            runs, FLOOR, {**base, "out": str(work / f"{name}_floor_{floor}"), "floor": floor}
        )
        rows.append((f"libvips floor ({floor})", result))
    if with_upstream:
        upstream = best_of(
            runs, UPSTREAM, {**base, "out": str(work / f"{name}_upstream")}, python=UPSTREAM_PYTHON
        )
        rows.append(("openflexure-stitching 0.3.1", upstream))
        rows.append(
            (
                "openflexure-stitching + preview",
                best_of(
                    runs,
                    UPSTREAM,
                    {**base, "out": str(work / f"{name}_up_preview"), "preview": True},
                    python=UPSTREAM_PYTHON,
                ),
            )
        )
    wanted = "+".join(f for f, on in formats.items() if on)
    print(f"\n{name}: {len(paths)} tiles -> {wanted}")
    if ours.get("notes"):
        print("  note: " + "; ".join(ours["notes"]))
    print(
        f"  {'renderer':34s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS MB':>12s} "
        f"{'x ofs-stitch':>12s}"
    )
    for label, result in rows:
        ratio = result["seconds"] / ours["seconds"]
        extra = f"  FAILED: {result['error'].splitlines()[-1]}" if result.get("error") else ""
        print(
            f"  {label:34s} {result['seconds']:8.2f} {result['cpu']:8.2f} "
            f"{result['peak_rss_mb']:12.0f} {ratio:12.2f}{extra}"
        )
    seconds = {label.strip(): result["seconds"] for label, result in rows}
    floor = min(seconds["libvips floor (stream)"], seconds["libvips floor (ram)"])
    print(f"  ofs-stitch / floor: {ours['seconds'] / floor:.2f}x")
    if with_upstream and not rows[-1][1].get("error"):
        print(
            "  upstream / ofs-stitch: "
            f"{seconds['openflexure-stitching 0.3.1'] / ours['seconds']:.1f}x from files; "
            f"{seconds['openflexure-stitching + preview'] / seconds['same, tiles already decoded']:.1f}x "
            "as each tool's output stage runs in its pipeline (with preview; ours from the tiles "
            "registration decoded)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scans (a minute or so)")
    parser.add_argument("--runs", type=int, default=3, help="runs per renderer (best is kept)")
    parser.add_argument("--work", type=Path, help="folder for scans and outputs (kept)")
    parser.add_argument("--no-upstream", action="store_true", help="skip openflexure-stitching")
    parser.add_argument(
        "--case", choices=("grid", "strip"), action="append", help="only these cases (repeatable)"
    )
    args = parser.parse_args()
    with_upstream = not args.no_upstream and UPSTREAM_PYTHON.exists()
    if not with_upstream and not args.no_upstream:
        print(f"(upstream skipped: {UPSTREAM_PYTHON} not found)", file=sys.stderr)
    work = args.work or Path(tempfile.mkdtemp(prefix="ofs-render-bench-"))
    grid, strip = ((3, 3), 20) if args.quick else ((8, 8), 150)
    cases = args.case or ["grid", "strip"]
    try:
        if "grid" in cases:
            paths, positions = make_jpeg_scan(work / "grid", *grid, (1232, 1640), seed=1)
            compare(
                "grid",
                paths,
                positions,
                {"jpeg": True, "tiff": True, "dzi": False},
                work,
                args.runs,
                with_upstream,
            )
        if "strip" in cases:
            paths, positions = make_jpeg_scan(work / "strip", 1, strip, (480, 640), seed=2)
            compare(
                "strip",
                paths,
                positions,
                {"jpeg": False, "tiff": True, "dzi": True},
                work,
                args.runs,
                with_upstream,
            )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
