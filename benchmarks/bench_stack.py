"""Focus stacking on synthetic stacks with known truth (testing.focus_stacks).

Run:  pytest benchmarks/bench_stack.py -s                  (immunohistochemistry, 512^2 RGB,
                                                            10 slices)
      OFS_BENCH_FULL=1 pytest benchmarks/bench_stack.py -s (also retina, 1024^2 RGB, 15 slices)

Asserted (short mode too, never loosened): PSNR >= 48 dB and SSIM >= 0.997 at noise 0.002,
>= 39.5 dB at noise 0.01, >= 42 dB with +-3 px shifts and +-5 % gains (retina: >= 44.5 dB),
and never below the numpy argmax baseline by more than 0.1 dB. Timing: the fusion alone
(alignment off), in CPU seconds of every thread, beside the baseline's.
"""

from __future__ import annotations

import pytest
from stack_cases import FULL, argmax_baseline, cpu_seconds, scores, stack

from ofs_stitch.stack import focus_stack, fuse

pytest.importorskip("skimage")

STILL = [("immunohistochemistry", 0.002, 48.0, 0.997), ("immunohistochemistry", 0.01, 39.5, 0.0)]
MOVING = [("immunohistochemistry", 42.0)]
if FULL:
    STILL.append(("retina", 0.002, 48.0, 0.99))
    MOVING.append(("retina", 44.5))


@pytest.mark.parametrize("name, noise, min_psnr, min_ssim", STILL)
def test_fusion_accuracy_and_cpu_time(benchmark, name, noise, min_psnr, min_ssim) -> None:
    data = stack(name, noise, False)
    fused = benchmark(fuse, data.frames)
    psnr, ssim = scores(fused.image, data.truth)
    base_psnr, _ = scores(argmax_baseline(data.frames), data.truth)
    ours_cpu, _ = cpu_seconds(lambda: fuse(data.frames), 1 if not FULL else 3)
    print(
        f"\n{name} noise {noise}: pyramid {psnr:.2f} dB SSIM {ssim:.4f} "
        f"({ours_cpu:.2f} s CPU); numpy argmax {base_psnr:.2f} dB"
    )
    assert psnr >= min_psnr and ssim >= min_ssim
    assert psnr >= base_psnr - 0.1


@pytest.mark.parametrize("name, min_psnr", MOVING)
def test_aligned_and_balanced_accuracy(name, min_psnr) -> None:
    data = stack(name, 0.002, True)
    result = focus_stack(data.frames)
    psnr, ssim = scores(result.fused.image, data.truth)
    base_psnr, _ = scores(argmax_baseline(data.frames), data.truth)
    print(
        f"\n{name} shifted +-3 px, gain +-5 %: {psnr:.2f} dB SSIM {ssim:.4f}; "
        f"unaligned numpy argmax {base_psnr:.2f} dB"
    )
    assert result.misaligned == []
    assert psnr >= min_psnr
