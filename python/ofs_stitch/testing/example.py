"""The built-in example: generate a small OpenFlexure-style scan and stitch it.

    python -m ofs_stitch.testing.example [FOLDER]

Writes a 4x5 scan of 640x480 JPEG tiles (cut from real images bundled with scikit-image, with
OpenFlexure metadata and a noisy stage) into FOLDER (default ./ofs-stitch-example), runs
``ofs-stitch`` on it, and prints how far the stitched positions are from the known truth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import StitchError
from ..stitching.pipeline import StitchOptions, stitch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ofs_stitch.testing.example", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", nargs="?", type=Path, default=Path("ofs-stitch-example"))
    args = parser.parse_args(argv)
    from .scans import make_scan  # needs scikit-image (the test extra)

    scan_folder = args.folder / "scan"
    if scan_folder.exists():
        for old in scan_folder.iterdir():
            if old.is_file():
                old.unlink()
    print(f"generating a 4x5 scan of 640x480 tiles in {scan_folder} ...")
    truth = make_scan(
        scan_folder,
        rows=4,
        cols=5,
        overlap=0.3,
        stage_noise=0.03,
        seed=7,
        vignetting=0.1,
        noise_sigma=0.01,
    )
    started = time.perf_counter()
    try:
        result = stitch(scan_folder, StitchOptions(output_dir=args.folder / "stitched"))
    except StitchError as error:
        print(f"ofs-stitch: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    assert result.layout is not None
    by_name = {
        tile.name: position
        for tile, position in zip(result.scan.tiles, result.layout.positions, strict=True)
    }
    positions = np.array([by_name[name] for name in truth.file_names])
    print(f"stitched {len(truth.file_names)} tiles in {seconds:.2f} s")
    print(
        f"RMS position error: {truth.rms_error(positions):.3f} px "
        f"(the stage positions were off by {truth.rms_error(truth.stage_positions_px):.1f} px RMS)"
    )
    for path in result.written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
