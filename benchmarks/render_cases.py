"""Isolated runs for the rendering benchmarks (bench_render.py, compare_render.py).

Each renderer runs in its own Python process, so its peak resident memory is its own; the
process reports its wall time (excluding interpreter start-up), CPU time and peak RSS as JSON.
The scans come from ``ofs_stitch.testing.mosaics.make_jpeg_scan``: tiles named
``img_<col>_<row>.jpg`` after their whole-pixel position, which is also how openflexure-stitch
reads positions from file names, so upstream can load the same scan.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

UPSTREAM_PYTHON = Path("/tmp/upvenv/bin/python")


_PRELUDE = """
import json, os, resource, sys, time
spec = json.loads(sys.argv[1])
def report(**values):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the process that started this one
    # (a test session that has grown to a gigabyte, say).
    with open("/proc/self/status") as status:
        hwm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    values.update(cpu=usage.ru_utime + usage.ru_stime, peak_rss_mb=hwm_kb / 1024)
    print("RESULT " + json.dumps(values))
"""

OURS = (
    _PRELUDE
    + """
import numpy as np
import pyvips
from pathlib import Path
from ofs_stitch.render.geometry import layout_from_arrays
from ofs_stitch.io.header import read_headers
from ofs_stitch.io.pixel_format import pixel_format_of
from ofs_stitch.render.output_plan import plan_outputs
from ofs_stitch.render.preview import PreviewTap, write_thumbnail
from ofs_stitch.render.writers import write_mosaic
held = None
if spec.get("in_memory"):
    # As the pipeline does with its TileStore: tiles decoded for registration are reused.
    held = {k: pyvips.Image.new_from_file(p).numpy() for k, p in enumerate(spec["paths"])}
# The headers, as the pipeline's input stage has read them (upstream's OFSImageSet, made
# before its clock starts, reads them too).
headers = read_headers([Path(p) for p in spec["paths"]])
started = time.perf_counter()
layout = layout_from_arrays(spec["paths"], np.array(spec["positions"]),
                            np.array([(h.height, h.width) for h in headers]), headers=headers)
# As the pipeline does: the preview is shrunk from the full-size pass as it streams.
tap = PreviewTap(layout) if spec.get("preview") else None
plan = plan_outputs(spec["out"], "scan", layout.height, layout.width, **spec["formats"])
write_mosaic(layout, plan, blend=spec.get("blend", "nearest"),
             in_memory=held.get if held else None, preview=tap)
if tap is not None:
    preview = tap.save(os.path.join(spec["out"], "preview.jpg"))
    write_thumbnail(preview, os.path.join(spec["out"], "stitched_thumbnail.jpg"))
report(seconds=time.perf_counter() - started, notes=list(plan.notes))
"""
)

# libvips alone: every tile decoded and placed (later tiles on top), each format written in
# its own streaming pass ("stream"), or the mosaic decoded once into memory and written to
# every format from there ("ram"; memory grows with the mosaic).
FLOOR = (
    _PRELUDE
    + """
import pyvips
def canvas():
    tiles = [pyvips.Image.new_from_file(p, access="sequential") for p in spec["paths"]]
    h, w = tiles[0].height, tiles[0].width
    rows = [round(r) for r, _ in spec["positions"]]
    cols = [round(c) for _, c in spec["positions"]]
    image = pyvips.Image.black(max(cols) + w, max(rows) + h, bands=tiles[0].bands)
    for tile, r, c in zip(tiles, rows, cols):
        image = image.insert(tile, c, r)
    return image.cast("uchar").copy(interpretation="srgb")
def write(image, fmt):
    out = os.path.join(spec["out"], "floor")
    if fmt == "jpeg":
        image.jpegsave(out + ".jpg", Q=95)
    elif fmt == "tiff":
        image.tiffsave(out + ".tif", tile=True, tile_width=256, tile_height=256, pyramid=True,
                       subifd=True, bigtiff=True, compression="jpeg", Q=95)
    else:
        image.dzsave(out, suffix=".jpeg[Q=90]")
wanted = [f for f, on in spec["formats"].items() if on]
started = time.perf_counter()
if spec["floor"] == "ram":
    mosaic = canvas().copy_memory()
    for fmt in wanted:
        write(mosaic, fmt)
else:
    for fmt in wanted:
        write(canvas(), fmt)
report(seconds=time.perf_counter() - started)
"""
)

# openflexure-stitching 0.3.1's output stage: pipeline.save_full_stitch (the mosaic built in
# numpy chunks, saved as JPEG tiles, joined into the stitched JPEG by libvips, then the TIFF
# and DZI made from that JPEG), after save_preview and create_thumbnail when "preview" is set.
UPSTREAM = (
    _PRELUDE
    + """
import numpy as np
from openflexure_stitching.loading import OFSImageSet
from openflexure_stitching.pipeline import save_full_stitch, save_preview
from openflexure_stitching.stitching import create_thumbnail
from openflexure_stitching.settings import OutputSettings
image_set = OFSImageSet(spec["folder"])
by_name = {os.path.basename(p): np.array(q) for p, q in zip(spec["paths"], spec["positions"])}
positions = {image.filename: by_name[image.filename] for image in image_set}
settings = OutputSettings(output_dir=spec["out"], stitch_tiff=spec["formats"].get("tiff", False),
                          dzi=spec["formats"].get("dzi", False))
started = time.perf_counter()
try:
    if spec.get("preview"):
        create_thumbnail(save_preview(image_set, positions, output_settings=settings))
    save_full_stitch(image_set, positions, output_settings=settings)
    error = None
except Exception as exc:  # upstream fails above 65,500 px: record it
    error = f"{type(exc).__name__}: {str(exc)[:200]}"
report(seconds=time.perf_counter() - started, error=error)
"""
)


def run_isolated(
    script: str, spec: dict, python: Path | str = sys.executable, timeout: float = 3600
) -> dict:
    """Run a renderer script in a fresh process, writing into an empty output folder; returns
    its RESULT dictionary."""
    # The same packages as this process (the installed ofs_stitch with its compiled core).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    if Path(python) != Path(sys.executable):
        env.pop("PYTHONPATH")  # another virtual environment: its own packages only
    # Every run starts as a first run: replacing the previous run's files would cost each tool
    # what the file system charges for that (ext4 flushes a large file renamed or truncated
    # over an older one: 75 ms per 100 MB here), not what rendering costs. The deletions are
    # settled before the clock starts.
    shutil.rmtree(spec["out"], ignore_errors=True)
    Path(spec["out"]).mkdir(parents=True)
    os.sync()
    run = subprocess.run(
        [str(python), "-c", textwrap.dedent(script), json.dumps(spec)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"renderer failed ({run.returncode}): {run.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def best_of(runs: int, script: str, spec: dict, python: Path | str = sys.executable) -> dict:
    """The fastest of ``runs`` runs (the machine may be shared), with the highest peak RSS."""
    results = [run_isolated(script, spec, python) for _ in range(runs)]
    best = min(results, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}
