"""``--transform affine``: per-tile affine maps on top of the translation placement.

For every pair the translation placement used (or left out only because the loops of
translations around it disagreed, as they do when tiles turn), the tiles' shared part is
matched at a grid of points (`align.Matcher.match_overlap`, starting from the placed
offset), and `align.Placement` solves one affine per tile (robust: the Cauchy loss, weights
the matches' quality squared).
The affine model's frame is then lined up with the translation layout (one common affine per
connected group, least squares over the tiles' corners), so the mosaic sits where the
translation placement put it; tiles without an accepted pair keep their translation.

Maps go tile (row, col) -> mosaic (row, col), 3x3, as `render.geometry` takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..align.matcher import ACCEPT_QUALITY, Matcher
from ..align.placement import Placement
from ..core.grey import grey_float32
from ..core.matches import PairMeasurement
from ..io.decode import read_pixels
from ..io.tiles import Tile

# Matching windows (px) and points per side of each overlap's grid.
WINDOW = 64
PER_SIDE = 4
# Robust scale (px) of the affine solve: about the matching noise on real tiles.
ROBUST_SCALE = 0.3

_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (x, y) <-> (row, col)


@dataclass(frozen=True)
class AffinePlacement:
    """Per-tile maps and how they were found."""

    maps: np.ndarray  # (n, 3, 3) tile (row, col) -> mosaic (row, col)
    matched_pairs: int  # pairs matched at a grid of points
    matches: int  # matches with weight > 0
    rms_residual_px: float  # weighted RMS of the solve's residuals


def place_affine(
    tiles: Sequence[Tile],
    positions: np.ndarray,
    measurements: Sequence[PairMeasurement],
    accepted: np.ndarray,
    *,
    pixels: Callable[[int], np.ndarray | None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AffinePlacement:
    """Affine maps for ``tiles`` placed at ``positions`` ((n, 2) (row, col) top-left) by the
    ``accepted`` ``measurements``. ``pixels(t)``: a tile's decoded pixels when already held;
    ``progress(pairs_done, pairs_in_all)`` follows the matching."""
    grey: dict[int, np.ndarray] = {}

    def image(t: int) -> np.ndarray:
        if t not in grey:
            held = pixels(t) if pixels is not None else None
            grey[t] = grey_float32(held if held is not None else read_pixels(tiles[t].path))
        return grey[t]

    placement = Placement()
    pairs = 0
    chosen = np.flatnonzero(accepted)
    # A decoded tile is let go after its last pair: at most the tiles of a few rows are held.
    last_use: dict[int, int] = {}
    for done, k in enumerate(chosen):
        last_use[measurements[int(k)].i] = done
        last_use[measurements[int(k)].j] = done
    for done, k in enumerate(chosen):
        if progress is not None:
            progress(done, len(chosen))
        m = measurements[int(k)]
        offset_rc = positions[m.j] - positions[m.i]
        a, b = image(m.i), image(m.j)
        overlap = (
            min(a.shape[0], offset_rc[0] + b.shape[0]) - max(0.0, offset_rc[0]),
            min(a.shape[1], offset_rc[1] + b.shape[1]) - max(0.0, offset_rc[1]),
        )
        if min(overlap) >= 24:  # thinner holds no window of texture: the translation stands
            window = int(min(WINDOW, min(overlap)))
            found = Matcher(a, b).match_overlap(
                (offset_rc[1], offset_rc[0]), size=window, per_side=PER_SIDE
            )
            quality = np.asarray(found.quality, dtype=float)
            weight = np.where(quality >= ACCEPT_QUALITY, quality**2, 0.0)
            placement.add_match(m.i, m.j, found.p_a, found.p_b, weight=weight)
            pairs += 1
        for t in (m.i, m.j):
            if last_use[t] == done:
                grey.pop(t, None)
    if progress is not None:
        progress(len(chosen), len(chosen))

    maps = np.array([_translation(p) for p in positions])
    if not pairs or not (placement.weights > 0).any():
        return AffinePlacement(maps, pairs, 0, 0.0)
    solution = placement.solve("affine", gauge="mean", robust="cauchy", robust_scale=ROBUST_SCALE)
    for group in solution.groups:
        members = [int(key) for key in group if isinstance(key, (int, np.integer))]
        if len(members) < 2:
            continue
        model = {
            tile: _SWAP @ np.vstack([solution.transforms[tile], [0, 0, 1]]) @ _SWAP
            for tile in members
        }
        common = _common_affine(model, positions, tiles)
        for tile in members:
            maps[tile] = common @ model[tile]
    weights = placement.weights * solution.robust_weights
    lengths = solution.residual_lengths
    rms = float(np.sqrt(np.sum(weights * lengths**2) / max(np.sum(weights), 1e-300)))
    return AffinePlacement(maps, pairs, int((weights > 0).sum()), rms)


def _translation(position: np.ndarray) -> np.ndarray:
    m = np.eye(3)
    m[:2, 2] = position
    return m


def _common_affine(model: dict, positions: np.ndarray, tiles: Sequence[Tile]) -> np.ndarray:
    """The affine G (row, col) that best maps the model's tile corners onto the translation
    layout's: G @ model[t] @ corner ~ position[t] + corner."""
    source, target = [], []
    for t, m in model.items():
        h, w = tiles[t].shape
        corners = np.array([[0, 0, 1], [0, w - 1, 1], [h - 1, 0, 1], [h - 1, w - 1, 1]], float)
        source.append((m @ corners.T)[:2].T)
        target.append(corners[:, :2] + positions[t])
    src, dst = np.vstack(source), np.vstack(target)
    design = np.column_stack([src, np.ones(len(src))])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    common = np.eye(3)
    common[:2] = solution.T
    return common
