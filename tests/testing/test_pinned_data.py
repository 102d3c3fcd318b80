"""Every generator of test data gives the same bytes for the same seed, pinned by checksum.

Tests and benchmarks assert figures measured on these data sets; a generator that drifts (a
refactoring, a changed default) would silently move every one of them. Each digest covers the
pixels, the positions and the metadata one call produces: lossless files are decoded (the pin
does not depend on their compression level), JPEG files are taken byte for byte.

The canvas is enlarged with libvips' Lanczos resize and the JPEG tiles are encoded by libvips, so
the digests belong to the libvips release they were taken with; under another release the test
skips rather than fail on a resampling change that is not ours.

They do not depend on the CPU: no generator leaves a sum to BLAS, whose kernels (OpenBLAS picks
one per CPU) round in different orders. Three did (a luma, a 2 x 2 inverse and products), and
failed on a CPU with AVX-512; the last test runs the others again with its most basic kernel.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("skimage")
pyvips = pytest.importorskip("pyvips")

# The digests below were taken with this libvips release (major, minor).
PINNED_LIBVIPS = (8, 18)
if (pyvips.version(0), pyvips.version(1)) != PINNED_LIBVIPS:
    pytest.skip(
        f"digests pinned with libvips {PINNED_LIBVIPS[0]}.{PINNED_LIBVIPS[1]}, "
        f"this is {pyvips.version(0)}.{pyvips.version(1)}",
        allow_module_level=True,
    )

from ofs_stitch.testing.files import (  # noqa: E402
    REAL_CSM_MATRIX,
    legacy_v3_comment,
    openflexure_user_comment,
    pattern_pixels,
    v2_comment,
    v3_comment,
    write_image,
)
from ofs_stitch.testing.grids import make_tiles, neighbour_shifts, tile_grid  # noqa: E402
from ofs_stitch.testing.mosaics import (  # noqa: E402
    cut_scene,
    grid_positions,
    make_jpeg_scan,
    smooth_canvas,
    subpixel_scene,
)
from ofs_stitch.testing.pairs import (  # noqa: E402
    fourier_pair,
    make_pair,
    neighbour_pairs,
    random_shifts,
    tile_pair,
)
from ofs_stitch.testing.scans import make_scan  # noqa: E402
from ofs_stitch.testing.scene import make_canvas  # noqa: E402


def digest(*items: Any) -> str:
    """sha256 (first 16 hex digits) of arrays (dtype, shape and bytes), strings and bytes."""
    hasher = hashlib.sha256()
    for item in items:
        if isinstance(item, str):
            item = item.encode()
        if isinstance(item, bytes):
            hasher.update(b"bytes%d:" % len(item) + item)
            continue
        array = np.ascontiguousarray(item)
        hasher.update(f"{array.dtype.str}{array.shape}:".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()[:16]


def decoded(path: Path) -> np.ndarray:
    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def exif_of(path: Path) -> bytes:
    image = pyvips.Image.new_from_file(str(path))
    return bytes(image.get("exif-data")) if image.get_typeof("exif-data") else b""


def test_openflexure_scan_on_disk(tmp_path: Path) -> None:
    scan = make_scan(
        tmp_path,
        rows=2,
        cols=2,
        tile_shape=(64, 80),
        file_format="png",
        bit_depth=16,
        noise_sigma=0.01,
        vignetting=0.1,
        blank_fraction=0.3,
        blur_sigma=0.7,
        seed=3,
    )
    files = [item for path in scan.paths for item in (decoded(path), exif_of(path))]
    truth = json.dumps(scan.to_json(), sort_keys=True)
    assert digest(*files, truth) == "0602691d30640512"


def test_openflexure_jpeg_scan_file_bytes(tmp_path: Path) -> None:
    scan = make_scan(
        tmp_path, rows=1, cols=2, tile_shape=(48, 64), metadata_layout="v2", um_per_px=0.5, seed=1
    )
    files = [item for path in scan.paths for item in (path.name, path.read_bytes())]
    # File times are local times; their spacing is what does not depend on the time zone.
    spacing = np.diff([path.stat().st_mtime for path in scan.paths])
    assert digest(*files, spacing) == "8c564fbe7d0eb79a"


def test_pairs_tiles_and_canvas_in_memory() -> None:
    grey = make_pair((40, 56), (3.25, -1.5), seed=4)
    rgb16 = make_pair((40, 56), (-7.5, 2.75), noise_sigma=0.01, seed=5, dtype=np.uint16, rgb=True)
    tiles = make_tiles([(0.5, 1.25), (20.75, 30.0)], (32, 48), blur_sigma=1.0, seed=2)
    assert digest(*grey, *rgb16, *tiles) == "7f8f008175392140"
    assert digest(make_canvas((300, 400), seed=5, rgb=True)) == "bd334634171c57d4"


def test_registration_pairs_and_grids() -> None:
    rng = np.random.default_rng(1)
    shifts = random_shifts(rng, 3, 10.0)
    fourier = fourier_pair("camera", (2.5, -3.25), (64, 80), rng, noise_fraction=0.01)
    spline = tile_pair(
        (5.5, -7.25), np.random.default_rng(2), tile_shape=(48, 64), noise_fraction=0.01
    )
    grid = tile_grid((2, 2), tile_shape=(48, 64), noise_fraction=0.01, seed=3)
    assert digest(shifts, *fourier, *spline) == "f1ecded31b6be5cf"
    assert digest(*grid.tiles, grid.true_positions, grid.stage_positions, np.array(grid.pitch)) == (
        "1d507ad9ab66bd74"
    )


def test_registration_benchmark_cases() -> None:
    # The registration benchmarks' configuration (benchmarks/registration_cases.py).
    cases = neighbour_pairs(
        2, tile_shape=(480, 640), overlap=0.3, stage_error=10.0, noise_fraction=0.02
    )
    assert digest(*[array for case in cases for array in case]) == "ff25fdaa6e5fb414"
    system = neighbour_shifts(3, tile_shape=(480, 640), overlap=0.3, noise=0.1, seed=5)
    assert digest(*system) == "88f974fbf6272e58"


def test_mosaics_cut_from_a_canvas_and_sampled_from_waves(tmp_path: Path) -> None:
    canvas8 = smooth_canvas((60, 110), 3, np.uint8, seed=1)
    canvas16 = smooth_canvas((40, 50), 1, np.uint16, seed=2)
    positions = grid_positions(2, 3, (20, 30), 4, seed=5)
    assert digest(canvas8, canvas16, positions) == "0455f37041a08d64"
    scene = cut_scene(tmp_path / "cut", canvas8, positions, (24, 32), ".png")
    tiles = [decoded(path) for path in scene.layout.paths]
    assert digest(*tiles, scene.layout.positions, scene.truth) == "2af60c8a2107c502"
    layout, waves, true_positions = subpixel_scene(tmp_path / "waves", 2, 2, (20, 24), seed=2)
    tiles = [decoded(path) for path in layout.paths]
    rows, cols = np.mgrid[0:5, 0:7].astype(float)
    assert digest(*tiles, true_positions, waves(rows, cols)) == "608fa461a6146537"


def test_render_benchmark_jpeg_scan(tmp_path: Path) -> None:
    paths, positions = make_jpeg_scan(tmp_path, 2, 2, (32, 48), seed=1)
    files = [item for path in paths for item in (path.name, path.read_bytes())]
    assert digest(*files, positions) == "dfc85b6781f02165"


def test_single_images_with_openflexure_metadata(tmp_path: Path) -> None:
    comments = [
        v3_comment(-2000, 5000, -313, [[1.0, 2.0], [3.0, 4.0]], [480, 640]),
        legacy_v3_comment(12, -7, 3, [[1.0, 2.0], [3.0, 4.0]], [624, 832]),
        v2_comment(-5, 9, 1, [[1.0, 2.0], [3.0, 4.0]], um_per_px=0.12),
        v3_comment(4.5, 5),
    ]
    matrix = np.array(REAL_CSM_MATRIX)
    comments += [
        openflexure_user_comment(layout, (10, -20, 30), matrix, (48, 64), um_per_px=0.25)
        for layout in ("v3", "legacy-v3", "v2", "none")
    ]
    assert digest(json.dumps(comments)) == "bba283a605099639"
    jpeg = write_image(tmp_path / "a.jpg", comment=comments[0], date_time="2024:03:01 12:00:07")
    png = write_image(tmp_path / "b.png", (20, 30), comment=comments[2], seed=3)
    plain = pattern_pixels((12, 16), seed=3, noise=0.5)
    assert digest(jpeg.read_bytes(), decoded(png), exif_of(png), plain) == "f0a38b2a842f1d98"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS x86 kernels")
def test_the_digests_hold_with_another_blas_kernel() -> None:
    """The digests above, taken with OpenBLAS's SSE3 kernel (any x86-64 CPU runs it), where
    this machine's own kernel ran them in this process: AVX2 or AVX-512 where it has them."""
    environment = {**os.environ, "OPENBLAS_CORETYPE": "Prescott"}
    others = [f"{__file__}::{name}" for name in list(globals()) if name.startswith("test_")]
    others.remove(f"{__file__}::test_the_digests_hold_with_another_blas_kernel")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *others],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
