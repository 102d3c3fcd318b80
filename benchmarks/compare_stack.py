"""Focus stacking side by side with a plain numpy baseline, in one run.

    python benchmarks/compare_stack.py

For each synthetic stack (testing.focus_stacks: immunohistochemistry 512^2 RGB x 10 slices,
retina 1024^2 RGB x 15; noise, and +-3 px shifts with +-5 % gains): PSNR and SSIM against the
truth, and CPU seconds (every thread, median of 3) of ``ofs_stitch.stack.fuse`` (alignment off)
and of the numpy argmax-of-smoothed-Laplacian baseline. Then the whole command on files
(``ofs stack``, a subprocess) with its CPU time and peak memory, for 5 and for 15 frames of the
retina: memory per Mpx of one frame, and that it does not grow with the number of frames.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack_cases import argmax_baseline, cpu_seconds, scores, stack

from ofs_stitch.stack import focus_stack, fuse
from ofs_stitch.testing import focus_stacks as fs

CASES = [
    ("immunohistochemistry", 0.002, False),
    ("immunohistochemistry", 0.01, False),
    ("immunohistochemistry", 0.002, True),
    ("retina", 0.002, False),
    ("retina", 0.002, True),
]


def accuracy_table() -> None:
    print("| stack | ofs stack | CPU s | numpy argmax | CPU s |")
    print("|---|---|---|---|---|")
    for name, noise, moving in CASES:
        data = stack(name, noise, moving)
        if moving:
            ours_cpu, result = cpu_seconds(lambda d=data: focus_stack(d.frames), 1)
            image = result.fused.image  # type: ignore[attr-defined]
            label = f"{name} noise {noise}, shifts+gains (whole: align, balance, fuse)"
        else:
            ours_cpu, fused = cpu_seconds(lambda d=data: fuse(d.frames))
            image = fused.image  # type: ignore[attr-defined]
            label = f"{name} noise {noise} (fusion only)"
        base_cpu, base = cpu_seconds(lambda d=data: argmax_baseline(d.frames))
        psnr, ssim = scores(image, data.truth)
        base_psnr, base_ssim = scores(base, data.truth)  # type: ignore[arg-type]
        print(
            f"| {label} | {psnr:.2f} dB, SSIM {ssim:.4f} | {ours_cpu:.2f} | "
            f"{base_psnr:.2f} dB, SSIM {base_ssim:.4f} | {base_cpu:.2f} |",
            flush=True,
        )


CHILD = """
import sys
import numpy, scipy.ndimage, pyvips
from ofs_stitch.io.memory import peak_resident_bytes
baseline = peak_resident_bytes()
from ofs_stitch.cli.ofs import main
assert main(["stack", sys.argv[1], "-q", "--align", "none"]) == 0
print(baseline, peak_resident_bytes())
"""


def command_figures(count: int, folder: Path) -> tuple[float, float, float, float]:
    """(CPU s, wall s, peak MB) of ``ofs stack`` on ``count`` retina frames written as PNG."""
    data = fs.focus_stack("retina", slices=count, noise=0.002, seed=1)
    frames = folder / f"retina_{count}"
    fs.write_stack(frames, data)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # The child reports its own high-water mark (VmHWM): ru_maxrss would carry this process's.
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(frames)], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    baseline, peak = (int(v) for v in done.stdout.split())
    return cpu, wall, (peak - baseline) / 2**20, peak / 2**20


def main() -> None:
    accuracy_table()
    with tempfile.TemporaryDirectory() as temporary:
        for count in (5, 15):
            cpu, wall, grown, peak = command_figures(count, Path(temporary))
            print(
                f"ofs stack, {count} retina frames 1024^2 RGB PNG, --align none: "
                f"{cpu:.2f} s CPU, {wall:.2f} s wall, peak {peak:.0f} MiB of which "
                f"{grown:.0f} MiB above Python with numpy, scipy and libvips loaded "
                f"({grown * 2**20 / 1e6 / (1024 * 1024 / 1e6):.0f} MB per Mpx of one frame)",
                flush=True,
            )


if __name__ == "__main__":
    main()
