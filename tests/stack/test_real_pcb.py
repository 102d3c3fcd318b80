"""A real focus stack: 7 frames of a circuit board (focus-stack's example, with its result).

Focus measure (documented in the README): Tenengrad, the mean squared Sobel gradient of the
luminance on [0, 1], leaving out 32 px at each edge (where aligned frames run out). It grows with
every edge brought into focus and, unlike the Laplacian, barely with pixel noise and JPEG
artefacts. Measured at half size (JPEG's shrink-on-load), which keeps the test quick and the
artefacts of the 8x8 JPEG blocks below the measure's scale.
"""

from __future__ import annotations

import numpy as np
import pytest
from data_paths import SHARED_DATA
from scipy import ndimage

from ofs_stitch.io.decode import read_pixels
from ofs_stitch.stack import focus_stack

PCB = SHARED_DATA / "focus_stack_pcb"
EDGE = 32


def tenengrad(pixels: np.ndarray) -> float:
    grey = pixels.astype(np.float64).mean(axis=2)
    if pixels.dtype == np.uint8:
        grey /= 255.0
    grey = grey[EDGE:-EDGE, EDGE:-EDGE]
    return float(np.mean(ndimage.sobel(grey, 0) ** 2 + ndimage.sobel(grey, 1) ** 2))


@pytest.mark.skipif(not (PCB / "expected.jpg").exists(), reason="focus_stack_pcb is not here")
def test_the_fused_board_is_sharper_than_every_frame_and_the_reference_result() -> None:
    frames = [read_pixels(p, shrink=2) for p in sorted(PCB.glob("pcb_*.jpg"))]
    assert len(frames) == 7
    result = focus_stack(np.stack(frames))
    assert result.misaligned == []
    # Focus breathing: the frames' scale changes by a few percent from end to end.
    scales = [np.sqrt(abs(np.linalg.det(m[:2, :2]))) for m in result.alignment.table.matrices]
    assert max(scales) - min(scales) > 0.01
    fused = np.clip(result.fused.image, 0, 1)
    ours = tenengrad(fused)
    expected = tenengrad(read_pixels(PCB / "expected.jpg", shrink=2))
    best_frame = max(tenengrad(f) for f in frames)
    assert ours > 1.5 * best_frame, (ours, best_frame)
    assert ours >= expected, (ours, expected)
