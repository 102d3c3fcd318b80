"""``ofs-stitch FOLDER --zstack fuse`` as a whole stitch run on a generated scan whose every
position is a z-stack (``testing.focus_stacks.zstack_scan``): each stack fused into one tile,
the tiles placed where the truth has them, the mosaic sharper than one slice per position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
from e2e_support import read_ofm_positions, run_cli
from scipy import ndimage

pytest.importorskip("skimage")
from ofs_stitch.testing.focus_stacks import zstack_scan  # noqa: E402

# Registration of the fused tiles is as good as of sharp ones: well under a pixel.
MAX_RMS_PX = 0.5


def tenengrad(path: Path) -> float:
    """Mean squared Sobel gradient of the luminance: the focus measure of the stack tests."""
    grey = pyvips.Image.new_from_file(str(path)).numpy().astype(np.float64).mean(axis=2)
    grey = grey[16:-16, 16:-16]
    return float(np.mean(ndimage.sobel(grey, 0) ** 2 + ndimage.sobel(grey, 1) ** 2))


def test_a_scan_of_z_stacks_is_fused_then_stitched(tmp_path: Path) -> None:
    made = zstack_scan(tmp_path / "scan", rows=2, cols=2, slices=3, seed=4)
    scan = made.scan
    run = run_cli([scan.folder, "-o", tmp_path / "fused", "--zstack", "fuse"])
    assert run.status == 0, run.stderr
    assert "z-stacks at 4 positions (3 images each): fused" in run.stdout
    cached = sorted((scan.folder / ".ofs_stitch_zstacks").iterdir())
    assert len(cached) == 4
    found = read_ofm_positions(tmp_path / "fused")
    # Each position is stitched as its fused tile, named after the stack's middle image.
    order = []
    for middle in made.middle_names:
        (name,) = [n for n in found if n.startswith(Path(middle).stem + "_zfused_")]
        order.append(found[name])
    assert scan.rms_error(np.array(order)) < MAX_RMS_PX
    assert scan.rms_error(scan.stage_positions_px) > 2.0  # the stage alone is off

    one_slice = run_cli([scan.folder, "-o", tmp_path / "slice0", "--zstack", "index:0", "-q"])
    assert one_slice.status == 0, one_slice.stderr
    fused_mosaic = next((tmp_path / "fused").glob("*stitched*.jpg"))
    slice_mosaic = next((tmp_path / "slice0").glob("*stitched*.jpg"))
    assert tenengrad(fused_mosaic) > 1.2 * tenengrad(slice_mosaic)
