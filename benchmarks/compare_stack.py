"""Focus stacking side by side with a plain numpy baseline, in one run.

    python benchmarks/compare_stack.py

For each synthetic stack (testing.focus_stacks: immunohistochemistry 512^2 RGB x 10 slices,
retina 1024^2 RGB x 15; noise, and +-3 px shifts with +-5 % gains): PSNR and SSIM against the
truth, and CPU seconds (every thread, median of 3) of ``ofs_stitch.stack.fuse`` (alignment off)
and of the numpy argmax-of-smoothed-Laplacian baseline. Then the whole command on files
(``ofs stack --align none``, a subprocess) with its CPU time and peak memory, for 5 and 15
frames of the 1024^2 retina and 5 of a 4096^2 one, in tiles and with whole frames: memory per
Mpx of one frame, and that it does not grow with the number of frames.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from stack_cases import argmax_baseline, command_memory, cpu_seconds, scores, stack, write_frames

from ofs_stitch.stack import focus_stack, fuse

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


def command_table() -> None:
    """The whole command on files: peak memory above Python per Mpx of one frame, in tiles
    (the default) and with whole frames (--tile 0), for 5 and 15 frames of 1024^2 and 5 of
    4096^2 (the retina tiled 4 x 4, as TIFF)."""
    print("| frames | --tile | peak above Python | per Mpx of one frame | CPU s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        for count, repeat in ((5, 1), (15, 1), (5, 4)):
            folder = Path(temporary) / f"retina_{count}_{repeat}"
            rows, cols = write_frames(folder, "retina", count, repeat)
            for tile in ("512", "0"):
                grown, cpu = command_memory(folder, "--tile", tile)
                per_mpx = grown * 2**20 / 1e6 / (rows * cols / 1e6)
                print(
                    f"| {count} x {cols}x{rows} RGB | {tile} | {grown:.0f} MiB | "
                    f"{per_mpx:.0f} MB | {cpu:.2f} |",
                    flush=True,
                )
            shutil.rmtree(folder)


def main() -> None:
    accuracy_table()
    command_table()


if __name__ == "__main__":
    main()
