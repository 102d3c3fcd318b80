"""Drift correction as whole programs, for bench_drift.py and compare_drift.py.

Each program reads a folder of 16-bit TIFF frames, writes the aligned frames into a folder, and
returns the per-frame matrices it found in ``drift.csv``'s convention (reference pixel -> frame
pixel, (row, col)), so their errors against the generator's truth compare directly:

- ``ours``: ``ofs drift FOLDER -o OUT -q`` in this process (everything it writes included:
  drift.csv, drift.png and the report's re-registration of the aligned series);
- ``ecc``: OpenCV ``findTransformECC`` (MOTION_EUCLIDEAN, each frame warm-started from the
  previous frame's result, against the first frame) and ``warpAffine``, the best tool measured;
- ``stackreg``: pystackreg ``StackReg(RIGID_BODY).register_transform_stack(reference="first")``
  (it holds the whole stack in memory: that is how it works).

Cases: 50 frames of 512^2 (short mode: 12 of 256^2) cut from scikit-image's retina (texture)
and hubble (sparse spots), about 12 px and 1.5 deg of drift, at 1000 and 50 photons peak with 2
electrons of read noise; translation cases have no rotation.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ofs_stitch.core.transform import Transform
from ofs_stitch.testing.drift_series import DriftSeries, drifting_series

FULL = os.environ.get("OFS_BENCH_FULL") == "1"


@dataclass(frozen=True)
class DriftCase:
    content: str
    photons: float
    model: str  # "rigid": drift with rotation; "translation": without
    frames: int
    side: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.content} {self.photons:g} ph {self.model}"

    def series(self) -> DriftSeries:
        turn = {} if self.model == "rigid" else {"trend_deg": 0.0, "walk_deg": 0.0}
        return drifting_series(
            self.frames,
            (self.side, self.side),
            content=self.content,
            photons=self.photons,
            seed=self.seed,
            **turn,  # type: ignore[arg-type]
        )


def drift_cases(full: bool = FULL) -> list[DriftCase]:
    frames, side = (50, 512) if full else (12, 256)
    return [
        DriftCase("retina", 1000, "translation", frames, side, seed=11),
        DriftCase("retina", 1000, "rigid", frames, side, seed=12),
        DriftCase("hubble", 1000, "rigid", frames, side, seed=13),
        DriftCase("retina", 50, "rigid", frames, side, seed=14),
        DriftCase("hubble", 50, "rigid", frames, side, seed=15),
    ]


@dataclass(frozen=True)
class Run:
    matrices: np.ndarray
    cpu_s: float  # this process's CPU, all threads
    wall_s: float
    flagged: np.ndarray  # frames the program itself marked unreliable (ours only)


Program = Callable[[Path, Path, str], tuple[np.ndarray, np.ndarray]]


def timed(program: Program, folder: Path, out: Path, model: str) -> Run:
    cpu = _cpu()
    wall = time.perf_counter()
    matrices, flagged = program(folder, out, model)
    return Run(matrices, _cpu() - cpu, time.perf_counter() - wall, flagged)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _frame_paths(folder: Path) -> list[Path]:
    from ofs_stitch.io.discovery import natural_sort_key

    return sorted(folder.glob("*.tif"), key=lambda p: natural_sort_key(p.name))


def ours(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    from ofs_stitch.cli.ofs import main
    from ofs_stitch.drift.table import read_drift_csv

    assert main(["drift", str(folder), "-o", str(out), "-q", "--model", model]) == 0
    table = read_drift_csv(out / "drift.csv")
    flagged = np.array([s in ("interpolated", "flagged") for s in table.status])
    return np.array(table.matrices), flagged


def ecc(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    paths = _frame_paths(folder)
    reference = tifffile.imread(paths[0]).astype(np.float32)
    motion = cv2.MOTION_TRANSLATION if model == "translation" else cv2.MOTION_EUCLIDEAN
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    warp = np.eye(2, 3, dtype=np.float32)
    matrices = []
    for path in paths:
        frame = tifffile.imread(path)
        try:
            _, warp = cv2.findTransformECC(
                reference, frame.astype(np.float32), warp, motion, criteria, None, 5
            )
        except cv2.error:
            pass  # keeps the warm start, as a user's loop would
        height, width = frame.shape
        aligned = cv2.warpAffine(
            frame, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        tifffile.imwrite(out / path.name, aligned)
        # ECC: template(x) ~ input(W x): W is the reference -> frame map in (x, y).
        matrices.append(Transform.from_xy(warp.astype(float), "affine").matrix)
    return np.array(matrices), np.zeros(len(paths), bool)


def stackreg(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    import tifffile
    from pystackreg import StackReg

    out.mkdir(parents=True, exist_ok=True)
    paths = _frame_paths(folder)
    stack = np.stack([tifffile.imread(p) for p in paths])
    kind = StackReg.TRANSLATION if model == "translation" else StackReg.RIGID_BODY
    registration = StackReg(kind)
    tmats = registration.register_stack(stack, reference="first")
    aligned = registration.transform_stack(stack, tmats=tmats)
    for path, frame in zip(paths, aligned, strict=True):
        tifffile.imwrite(out / path.name, np.clip(np.rint(frame), 0, 65535).astype(np.uint16))
    # pystackreg's matrices are skimage's inverse maps in (x, y): output -> input.
    matrices = [Transform.from_xy(m, "affine").matrix for m in tmats]
    return np.array(matrices), np.zeros(len(paths), bool)


def peer_available(name: str) -> bool:
    import importlib.util

    module = {"ecc": "cv2", "stackreg": "pystackreg"}.get(name)
    return module is None or importlib.util.find_spec(module) is not None


PROGRAMS: dict[str, Program] = {"ours": ours, "ecc": ecc, "stackreg": stackreg}
