"""Small scans with known truth for the fusion tests (kept small: the suite's CPU budget)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for graph_support
    sys.path.insert(0, str(HERE))

pytest.importorskip("skimage")

from ofs_stitch.testing.fusion_scans import FusionScan, make_fusion_scan  # noqa: E402


@pytest.fixture(scope="package")
def whole_pixel_scan(tmp_path_factory: pytest.TempPathFactory) -> FusionScan:
    """3 x 3 tiles of 96 x 128 uint16 TIFF, whole-pixel jitter, no noise."""
    folder = tmp_path_factory.mktemp("fusion") / "grid"
    return make_fusion_scan(folder, (3, 3), (96, 128), noise_sigma=0.0, seed=1)


@pytest.fixture(scope="package")
def subpixel_scan(tmp_path_factory: pytest.TempPathFactory) -> FusionScan:
    """3 x 3 tiles of 128 x 128 uint16 TIFF at sub-pixel positions, with noise."""
    folder = tmp_path_factory.mktemp("fusion") / "subpixel"
    return make_fusion_scan(folder, (3, 3), (128, 128), subpixel=True, noise_sigma=0.02, seed=3)
