"""Drift correction as whole programs, for bench_drift.py and compare_drift.py.

Each program reads a folder of 16-bit TIFF frames, writes the aligned frames into a folder, and
returns the per-frame matrices it found in ``drift.csv``'s convention (reference pixel -> frame
pixel, (row, col)), so their errors against the generator's truth compare directly:

- ``ours``: ``ofs drift FOLDER -o OUT -q`` (everything it writes included: drift.csv,
  drift.png and the report's re-registration of the aligned series);
- ``ecc``: OpenCV ``findTransformECC`` (MOTION_EUCLIDEAN, each frame warm-started from the
  previous frame's result, against the first frame) and ``warpAffine``, the best tool measured;
- ``stackreg``: pystackreg ``StackReg(RIGID_BODY).register_transform_stack(reference="first")``
  (it holds the whole stack in memory: that is how it works).

`timed` runs a program in this process, `timed_process` as a whole program in a fresh
interpreter (the peers from ``drift_peers.py``, which imports only what their loops need).

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


def ours(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    from ofs_stitch.cli.ofs import main

    assert main(_ours_argv(folder, out, model)) == 0
    return _ours_result(out)


def _ours_argv(folder: Path, out: Path, model: str) -> list[str]:
    return ["drift", str(folder), "-o", str(out), "-q", "--model", model]


def _ours_result(out: Path) -> tuple[np.ndarray, np.ndarray]:
    from ofs_stitch.drift.table import read_drift_csv

    table = read_drift_csv(out / "drift.csv")
    flagged = np.array([s in ("interpolated", "flagged") for s in table.status])
    return np.array(table.matrices), flagged


def ecc(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    from drift_peers import ecc_loop

    warps = ecc_loop(folder, out, model)
    return _ecc_matrices(warps), np.zeros(len(warps), bool)


def _ecc_matrices(warps: np.ndarray) -> np.ndarray:
    # ECC: template(x) ~ input(W x): W is the reference -> frame map in (x, y).
    return np.array([Transform.from_xy(w, "affine").matrix for w in warps])


def stackreg(folder: Path, out: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    from drift_peers import stackreg_loop

    tmats = stackreg_loop(folder, out, model)
    return _stackreg_matrices(tmats), np.zeros(len(tmats), bool)


def _stackreg_matrices(tmats: np.ndarray) -> np.ndarray:
    # pystackreg's matrices are skimage's inverse maps in (x, y): output -> input.
    return np.array([Transform.from_xy(m, "affine").matrix for m in tmats])


def timed_process(name: str, folder: Path, out: Path, model: str) -> Run:
    """Program ``name`` as a whole program in a fresh interpreter (start, imports, reading,
    registering, writing): CPU of the child and its threads, and wall time."""
    import subprocess
    import sys

    if name == "ours":
        code = (
            "from ofs_stitch.cli.ofs import main\n"
            f"raise SystemExit(main({_ours_argv(folder, out, model)!r}))\n"
        )
        command = [sys.executable, "-c", code]
        result = None
    else:
        result = out.parent / f"{out.name}_result.npy"
        peers = Path(__file__).with_name("drift_peers.py")
        command = [sys.executable, str(peers), name, str(folder), str(out), model, str(result)]
    cpu = _children_cpu()
    wall = time.perf_counter()
    subprocess.run(command, check=True)
    wall_s = time.perf_counter() - wall
    cpu_s = _children_cpu() - cpu
    if result is None:
        matrices, flagged = _ours_result(out)
    else:
        raw = np.load(result)
        matrices = _ecc_matrices(raw) if name == "ecc" else _stackreg_matrices(raw)
        flagged = np.zeros(len(matrices), bool)
    return Run(matrices, cpu_s, wall_s, flagged)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peer_available(name: str) -> bool:
    import importlib.util

    module = {"ecc": "cv2", "stackreg": "pystackreg"}.get(name)
    return module is None or importlib.util.find_spec(module) is not None


PROGRAMS: dict[str, Program] = {"ours": ours, "ecc": ecc, "stackreg": stackreg}
