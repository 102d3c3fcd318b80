"""spectralign's match / place steps on grids saved by align_cases.py, in its own interpreter.

    PEER_PYTHON benchmarks/spectralign_worker.py GRIDS.npz

spectralign 0.4 needs Python 3.12, so compare_align.py runs it here, in a process of that
interpreter, on the same tiles and the same workflow as ours: per overlap, one match at its
centre (window as large as the overlap holds, up to 96 px), then a 4x4 grid of 64 px windows
from the corrected offset, 3 iterations each; then Placement.rigid() and .affine(). Prints one
JSON line per grid: the maps, the CPU seconds (matching and placing; loading excluded) and the
matches (tile a, tile b, point in a, point in b), so that its matching and its placement can be
told apart. Where spectralign's refine fails outright (NaN on a blank window) the match is
left out, as a user would have to.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import spectralign


def spread(low: float, high: float, count: int) -> np.ndarray:
    return np.linspace(low, high, count) if high - low >= 1.0 else np.array([(low + high) / 2])


def run(tiles: dict, nominal: dict, pairs: list, size: int, per_side: int) -> dict:
    images = {key: spectralign.Image(tile) for key, tile in tiles.items()}
    start = time.process_time()
    placement = spectralign.Placement()
    matches = []
    for a, b in pairs:
        h, w = tiles[a].shape
        dx, dy = np.subtract(nominal[b], nominal[a])
        x0, x1 = max(0.0, dx), min(float(w), dx + w)
        y0, y1 = max(0.0, dy), min(float(h), dy + h)
        window = int(min(size, x1 - x0, y1 - y0))
        coarse = int(min(x1 - x0, y1 - y0, 2 * window))
        matcher = spectralign.Matcher(images[a], images[b])
        centre = np.array([(x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2])
        p1, p2, _ = matcher.refine(centre, centre - (dx, dy), coarse, iters=3)
        offset = np.asarray(p1) - np.asarray(p2)
        if not np.isfinite(offset).all():  # nothing to correlate (blank): keep the nominal
            offset = np.array([dx, dy])
        half = window / 2
        xs = spread(x0 + half - 0.5, x1 - half - 0.5, per_side)
        ys = spread(y0 + half - 0.5, y1 - half - 0.5, per_side)
        for x in xs:
            for y in ys:
                try:
                    q1, q2, _ = matcher.refine(
                        (x, y), (x - offset[0], y - offset[1]), window, iters=3
                    )
                except ValueError:  # a window of NaN: spectralign gives no match here
                    continue
                if not np.isfinite([*q1, *q2]).all():
                    continue
                placement.addmatch(a, b, tuple(q1), tuple(q2))
                matches.append([*a, *b, *map(float, q1), *map(float, q2)])
    rigid = placement.rigid()
    affine = placement.affine()
    seconds = time.process_time() - start
    return {
        "rigid": {f"{k[0]},{k[1]}": list(map(float, v)) for k, v in rigid.items()},
        "affine": {f"{k[0]},{k[1]}": np.asarray(v)[:2].tolist() for k, v in affine.items()},
        "cpu_s": seconds,
        "matches": matches,
    }


def main() -> None:
    data = np.load(sys.argv[1])
    for g in range(int(data["count"])):
        keys = [tuple(int(v) for v in k) for k in data[f"keys_{g}"]]
        tiles = {k: data[f"tile_{g}_{k[0]}_{k[1]}"] for k in keys}
        nominal = {k: tuple(o) for k, o in zip(keys, data[f"nominal_{g}"], strict=True)}
        pairs = [
            (tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1])) for p in data[f"pairs_{g}"]
        ]
        print(json.dumps(run(tiles, nominal, pairs, int(data["size"]), int(data["per_side"]))))


if __name__ == "__main__":
    main()
