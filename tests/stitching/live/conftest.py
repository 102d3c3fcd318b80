from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def small_scan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A 3x4 OpenFlexure scan of 240x320 tiles (snake order, 3 % stage noise)."""
    pytest.importorskip("skimage")
    from ofs_stitch.testing.scans import make_scan

    return make_scan(
        tmp_path_factory.mktemp("live_scan"), rows=3, cols=4, tile_shape=(240, 320), seed=3
    )


@pytest.fixture(scope="session")
def small_scan_batch(small_scan, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``ofs-stitch`` on the small scan in a folder named "scan": positions and files."""
    from live_support import batch_positions

    return batch_positions(small_scan.paths, tmp_path_factory.mktemp("live_batch"))
