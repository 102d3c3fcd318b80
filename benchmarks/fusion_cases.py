"""Isolated runs for the fusion benchmarks (bench_fusion.py, compare_fusion.py).

Each fuser runs in its own Python process and reports its wall time (after imports), its CPU
time including every worker process it started (they are its descendants and have exited, so
RUSAGE_CHILDREN holds them), the peak resident memory of each process that painted (the
process itself, or each Dask worker), and the output's size. The fusers:

- ``OURS``: ofs-stitch's chunked fusion (`fuse_to_zarr`): threads or a LocalCluster;
- ``DASKFUSION``: the DaskFusion approach, written here as its paper and code describe it: a
  ``dask.array.map_blocks`` task per output chunk that reads every tile overlapping the chunk
  whole and resamples it into a whole chunk-sized buffer (``scipy.ndimage.affine_transform``,
  linear), blended by maximum, written to zarr with the same compressor; no pyramid;
- ``LIBVIPS``: ofs-stitch's streaming libvips renderer writing a pyramidal OME-TIFF (one
  process, nearest).

``OURS`` on a LocalCluster can set the state of the memory each timed fusion writes into
(``"memory"``, one of `MEMORY`). This machine is a virtual machine whose kernel hands memory
left free for about 2 s back to its host (free page reporting), and a fusion writes its output
into new page-cache pages: 142 MB for 8x8 tiles of 1024^2, 570 MB for 16x16. ``"freed"``:
files written before the cluster starts (``ballast_mb`` for each fusion) are deleted just
before each timed fusion, which then writes into pages the machine still holds, as on a
machine without free page reporting; ``"idle"``: each timed fusion waits ``idle_s`` first
(`IDLE_S`), so that the free memory has gone back to the host. Measured with 16x16 tiles (3
pairs): into idle memory 2 workers took 1.15x (first fusion) and 1.27x (next) the task CPU
of 1, into freed memory 1.03x and 1.06x; with 8x8 tiles the two states' speed-ups differed
by less than one set's from another's (22 pairs). Without either, the state depended on how
long the runs before had taken.

And a control, ``CEILING``: how much a second worker process of the same kind of LocalCluster
speeds up work of the fusion's kind and size without any of its logic: independent tasks
sharing the chunks equally, each chunk a chunk-sized uint16 buffer filled from another (a
paint), compressed with the output's Blosc codec and written to a file under a temporary name,
renamed (a chunk write); or (``"kind": "cpu"``) the same compression repeated on a buffer that
fits in a core's own cache, which leaves the shared cache and memory out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# The memory states ``OURS`` can put a LocalCluster's timed fusions in (see above).
MEMORY = ("freed", "idle")
IDLE_S = 3.0

_PRELUDE = """
import json, os, resource, shutil, sys, time
spec = json.loads(sys.argv[1])
def hwm_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
def cpu_with_children():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime
MARK = [None]
def mark():
    # CPU from here on: the fusion, not the imports before it.
    MARK[0] = cpu_with_children()
def report(**values):
    own, kids = cpu_with_children()
    own0, kids0 = MARK[0]
    task_cpu = values.get("task_cpu")
    # With worker processes: this process's work plus the workers' task CPU (their start-up,
    # imports and connecting, are left out); otherwise this process and any it waited for.
    values.update(
        cpu=(own - own0) + (task_cpu if task_cpu is not None else kids - kids0),
        peak_rss_mb=hwm_mb(),
    )
    print("RESULT " + json.dumps(values))
def cpu_now():
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime
def cluster(workers):
    # The LocalCluster `ofs fuse --processes N` starts (its configuration included).
    import contextlib
    from ofs_stitch.fusion import local_cluster
    c = contextlib.ExitStack()
    client = c.enter_context(local_cluster(workers))
    # Each worker imports what the tasks use before the clock starts (a long job pays this
    # once; a benchmark should not count it as fusion).
    client.run(warm)
    return c, client
def ballast(folder, megabytes):
    # At least ``megabytes`` MB of files (8 MiB each), whose pages `memory_state` hands back
    # to the kernel just before a fusion.
    import pathlib
    folder = pathlib.Path(folder); folder.mkdir(parents=True, exist_ok=True)
    block = bytes(8 << 20)
    for k in range(-(-megabytes // 8)):
        with open(folder / str(k), "wb") as file:
            file.write(block)
MEMORY_STATE = {"seconds": 0.0, "freed_mb": 0.0}
def memory_state(spec, name):
    # The state of the memory a fusion is about to write into (see MEMORY); what it took and
    # freed is reported, outside the fusions' walls.
    started = time.perf_counter()
    if spec.get("memory") == "freed":
        folder = f"{spec['out']}.{name}.ballast"
        MEMORY_STATE["freed_mb"] += sum(
            os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 1e6
        shutil.rmtree(folder)
    elif spec.get("memory") == "idle":
        time.sleep(spec["idle_s"])
    MEMORY_STATE["seconds"] += time.perf_counter() - started
def warm():
    import importlib
    for name in ("zarr", "zarr.codecs", "numcodecs", "scipy.ndimage", "pyvips",
                 "ofs_stitch.fusion.graph", "ofs_stitch.fusion.paint", "ofs_stitch.fusion.pyramid"):
        importlib.import_module(name)
"""

OURS = (
    _PRELUDE
    + """
import numpy as np, dask.threaded, dask.callbacks, zarr, zarr.codecs, numcodecs
from ofs_stitch.fusion import graph, ome_zarr, paint, pyramid
from pathlib import Path
from ofs_stitch.fusion import fuse_to_zarr, layout_from_positions
from ofs_stitch.io.header import read_headers
headers = read_headers([Path(p) for p in spec["paths"]])
layout = layout_from_positions(spec["paths"], np.array(spec["positions"]), headers=headers)
workers_peak = []
task_cpu = None
if spec["mode"] == "processes":
    # The ballast goes whatever happens: a failed fusion (or a full disk) must not leave
    # hundreds of MB in --work.
    try:
        if spec.get("memory") == "freed":
            for name in ("first", "again"):
                ballast(f"{spec['out']}.{name}.ballast", spec["ballast_mb"])
        c, client = cluster(spec["workers"])
        memory_state(spec, "first")
        # What the workers spend on the tasks, without their start-up (imports, connecting).
        before = client.run(cpu_now)
        mark()
        started = time.perf_counter()
        fuse_to_zarr(layout, spec["out"], blend=spec["blend"], chunk=spec["chunk"], client=client,
                     pyramid=spec["pyramid"])
        wall = time.perf_counter() - started
        workers_peak = list(client.run(hwm_mb).values())
        after = client.run(cpu_now)
        task_cpu = sum(after[w] - before[w] for w in after)
        # The same fusion again on the same cluster (into another folder): what a cluster that
        # has fused before spends, without the first calls into each library in every process.
        again = {}
        if spec.get("again"):
            memory_state(spec, "again")
            before = client.run(cpu_now)
            started = time.perf_counter()
            fuse_to_zarr(layout, spec["out"] + ".again", blend=spec["blend"], chunk=spec["chunk"],
                         client=client, pyramid=spec["pyramid"])
            again["again_wall"] = time.perf_counter() - started
            after = client.run(cpu_now)
            again["again_task_cpu"] = sum(after[w] - before[w] for w in after)
        client.close(); c.close()
    finally:
        for name in ("first", "again"):
            shutil.rmtree(f"{spec['out']}.{name}.ballast", ignore_errors=True)
else:
    mark()
    started = time.perf_counter()
    fuse_to_zarr(layout, spec["out"], blend=spec["blend"], chunk=spec["chunk"],
                 threads=spec["workers"], pyramid=spec["pyramid"])
    wall = time.perf_counter() - started
report(wall=wall, mpx=layout.height * layout.width / 1e6, workers_peak_mb=workers_peak,
       task_cpu=task_cpu, memory_state=MEMORY_STATE,
       **(again if spec["mode"] == "processes" else {}))
"""
)

DASKFUSION = (
    _PRELUDE
    + """
import numpy as np, pyvips, dask, dask.array as da, dask.threaded, zarr, zarr.codecs, numcodecs
sys.path.insert(0, spec["bench_dir"])
from fusion_cases import daskfusion_array, daskfusion_store
mosaic = daskfusion_array(spec["paths"], spec["positions"], spec["shapes"], spec["chunk"])
store = daskfusion_store(spec["out"], mosaic.shape, spec["chunk"])
workers_peak = []
task_cpu = None
if spec["mode"] == "processes":
    c, client = cluster(spec["workers"])
    before = client.run(cpu_now)
    mark()
    started = time.perf_counter()
    da.store(mosaic, store, lock=False, compute=True)
    wall = time.perf_counter() - started
    workers_peak = list(client.run(hwm_mb).values())
    after = client.run(cpu_now)
    task_cpu = sum(after[w] - before[w] for w in after)
    client.close(); c.close()
else:
    mark()
    started = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=spec["workers"]):
        da.store(mosaic, store, lock=False, compute=True)
    wall = time.perf_counter() - started
report(wall=wall, mpx=mosaic.shape[0] * mosaic.shape[1] / 1e6, workers_peak_mb=workers_peak,
       task_cpu=task_cpu)
"""
)

CEILING = (
    _PRELUDE
    + """
sys.path.insert(0, spec["bench_dir"])
from fusion_cases import ceiling_task
os.makedirs(spec["out"], exist_ok=True)
c, client = cluster(spec["workers"])
client.run(ceiling_task, spec["out"], -1, spec["chunk"], spec["kind"], 0)  # the buffers
before = client.run(cpu_now)
mark()
started = time.perf_counter()
futures = client.map(ceiling_task, [spec["out"]] * spec["tasks"], range(spec["tasks"]),
                     chunk=spec["chunk"], kind=spec["kind"], chunks=spec["chunks_per_task"],
                     pure=False)
client.gather(futures)
wall = time.perf_counter() - started
after = client.run(cpu_now)
client.close(); c.close()
report(wall=wall, mpx=spec["tasks"] * spec["chunks_per_task"] * spec["chunk"] ** 2 / 1e6,
       workers_peak_mb=[],
       task_cpu=sum(after[w] - before[w] for w in after))
"""
)

_CEILING_BUFFERS: dict = {}


def ceiling_task(folder: str, index: int, chunk: int, kind: str, chunks: int) -> int:
    """One task of ``CEILING``: ``chunks`` chunks; index -1 only makes the worker's buffers."""
    import os

    import numcodecs
    import numpy as np

    if "source" not in _CEILING_BUFFERS:
        rng = np.random.default_rng(os.getpid())
        # Like a fused chunk of the scans: a smooth 12-bit scene with 1 % noise.
        ramp = np.add.outer(np.arange(chunk), np.arange(chunk)) % 4096
        noise = rng.normal(0, 41, (chunk, chunk))
        _CEILING_BUFFERS["source"] = np.clip(ramp + noise, 0, 65535).astype(np.uint16)
        _CEILING_BUFFERS["codec"] = numcodecs.Blosc(
            cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE
        )
    if index < 0:
        return 0
    source, codec = _CEILING_BUFFERS["source"], _CEILING_BUFFERS["codec"]
    written = 0
    for k in range(chunks):
        if kind == "cpu":
            # 32 KiB at a time (a core's own cache), as many bytes in all as a chunk.
            small = source[:16].copy()
            for _ in range(chunk // 16):
                written += len(codec.encode(small))
            continue
        chunk_pixels = np.empty_like(source)
        np.copyto(chunk_pixels, source)
        data = codec.encode(chunk_pixels)
        path = os.path.join(folder, f"{index}.{k}")
        temporary = f"{path}.{os.getpid()}.partial"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
        written += len(data)
    return written


def _fuse_block(paths, positions, shapes, block_info=None):  # type: ignore[no-untyped-def]
    """One output chunk the DaskFusion way: every overlapping tile read whole and resampled
    (linear) into a whole chunk-sized buffer, blended by maximum."""
    import numpy as np
    import pyvips
    from scipy import ndimage

    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    for t, (r, c) in enumerate(positions):
        h, w = shapes[t]
        if r >= y1 or r + h <= y0 or c >= x1 or c + w <= x0:
            continue
        tile = pyvips.Image.new_from_file(paths[t]).numpy().astype(np.float32)
        moved = ndimage.affine_transform(
            tile, np.eye(2), offset=(y0 - r, x0 - c), output_shape=out.shape, order=1, cval=0.0
        )
        np.maximum(out, moved, out=out)
    return np.clip(np.rint(out), 0, 65535).astype(np.uint16)


def daskfusion_array(paths, positions, shapes, chunk):  # type: ignore[no-untyped-def]
    """The mosaic as a lazy dask array of ``_fuse_block`` tasks (one per chunk)."""
    import functools

    import dask.array as da
    import numpy as np

    positions = np.array(positions, float)
    positions -= positions.min(0)
    shapes = np.array(shapes)
    height, width = (int(v) for v in np.ceil((positions + shapes).max(0)))
    chunks = (
        tuple(min(chunk, height - y) for y in range(0, height, chunk)),
        tuple(min(chunk, width - x) for x in range(0, width, chunk)),
    )
    block = functools.partial(_fuse_block, list(paths), positions, shapes)
    return da.map_blocks(block, dtype=np.uint16, chunks=chunks)


def daskfusion_store(path, shape, chunk):  # type: ignore[no-untyped-def]
    """A zarr array with the same compressor as ours (Blosc LZ4, byte shuffle)."""
    import numpy as np
    import zarr
    from numcodecs import Blosc

    return zarr.create_array(
        str(path),
        shape=shape,
        chunks=(chunk, chunk),
        dtype=np.uint16,
        zarr_format=2,
        fill_value=0,
        compressors=Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),
        overwrite=True,
    )


LIBVIPS = (
    _PRELUDE
    + """
import numpy as np
from pathlib import Path
from ofs_stitch.io.header import read_headers
from ofs_stitch.render.geometry import layout_from_arrays
from ofs_stitch.render.output_plan import plan_outputs
from ofs_stitch.render.writers import write_mosaic
headers = read_headers([Path(p) for p in spec["paths"]])
Path(spec["out"]).mkdir(parents=True, exist_ok=True)
mark()
started = time.perf_counter()
layout = layout_from_arrays(spec["paths"], np.array(spec["positions"]),
                            np.array([(h.height, h.width) for h in headers]), headers=headers)
plan = plan_outputs(spec["out"], "scan", layout.height, layout.width, jpeg=False, dzi=False,
                    tiff=True)
write_mosaic(layout, plan, blend=spec.get("blend", "nearest"))
report(wall=time.perf_counter() - started, mpx=layout.height * layout.width / 1e6,
       workers_peak_mb=[])
"""
)


def run_isolated(script: str, spec: dict, timeout: float = 3600) -> dict:
    """Run one fuser in a fresh process; its RESULT line as a dict."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"fuser failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["cpu_per_mpx"] = result["cpu"] / result["mpx"]
    return result
