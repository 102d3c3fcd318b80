"""The drift benchmark's peers as standalone programs, importing only what a user's script would.

    python benchmarks/drift_peers.py ecc|stackreg FOLDER OUT MODEL RESULT.npy

reads FOLDER's TIFF frames, writes them aligned into OUT and saves the per-frame matrices in
the peer's own form into RESULT.npy (``drift_cases`` converts them): run in a fresh interpreter
this is the whole program, interpreter start and imports included, as ``ofs drift`` is when
``compare_drift.py`` runs it in its own process.

- ``ecc``: OpenCV ``findTransformECC`` (MOTION_EUCLIDEAN, or MOTION_TRANSLATION, each frame
  warm-started from the previous frame's result, against the first frame) and ``warpAffine``;
  result: the (n, 2, 3) warps in (x, y), reference -> frame.
- ``stackreg``: pystackreg ``StackReg(RIGID_BODY).register_transform_stack(reference="first")``
  (it holds the whole stack in memory: that is how it works); result: its (n, 3, 3) matrices.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np


def frame_paths(folder: Path) -> list[Path]:
    """The folder's TIFF frames in natural order (``f2`` before ``f10``)."""

    def key(path: Path) -> list[object]:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]

    return sorted(folder.glob("*.tif"), key=key)


def ecc_loop(folder: Path, out: Path, model: str) -> np.ndarray:
    import cv2
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    paths = frame_paths(folder)
    reference = tifffile.imread(paths[0]).astype(np.float32)
    motion = cv2.MOTION_TRANSLATION if model == "translation" else cv2.MOTION_EUCLIDEAN
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    warp = np.eye(2, 3, dtype=np.float32)
    warps = []
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
        warps.append(warp.astype(float))
    return np.array(warps)


def stackreg_loop(folder: Path, out: Path, model: str) -> np.ndarray:
    import tifffile
    from pystackreg import StackReg

    out.mkdir(parents=True, exist_ok=True)
    paths = frame_paths(folder)
    stack = np.stack([tifffile.imread(p) for p in paths])
    kind = StackReg.TRANSLATION if model == "translation" else StackReg.RIGID_BODY
    registration = StackReg(kind)
    tmats = registration.register_stack(stack, reference="first")
    aligned = registration.transform_stack(stack, tmats=tmats)
    for path, frame in zip(paths, aligned, strict=True):
        tifffile.imwrite(out / path.name, np.clip(np.rint(frame), 0, 65535).astype(np.uint16))
    return np.asarray(tmats, dtype=float)


LOOPS = {"ecc": ecc_loop, "stackreg": stackreg_loop}

if __name__ == "__main__":
    name, folder, out, model, result = sys.argv[1:6]
    np.save(result, LOOPS[name](Path(folder), Path(out), model))
