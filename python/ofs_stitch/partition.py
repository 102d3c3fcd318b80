"""Which tile supplies each pixel of the mosaic under the nearest-centre rule, as rectangles.

The rule (upstream's "nearest" stitching): a canvas pixel takes its value from the tile whose
centre is nearest, among the tiles that cover the pixel; ties go to the lower tile index. Tiles
are placed at integer positions here, and a tile's centre is the centre of its own pixel grid, so
every distance is exact in integers (doubled coordinates).

Rendering pixel by pixel would be slow, so the canvas is cut into axis-aligned rectangles
("cells"): most cells come from a single tile (copied as a block), cells that no tile covers are
empty, and only thin cells around the seams between tiles ("mixed") are resolved per pixel. The
cuts are guided by "zones": boxes around the places where ownership can change (bisector segments
between overlapping tiles, and tile edges a tile owns). Zones only steer the cutting; every cell
that is declared single-tile is proved so exactly, so an imprecise zone can cost speed but never
correctness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Pixels of slack around each zone box, and the distance (in pixels) by which a third tile must
# win before it is trusted to hide part of a bisector from the zone search. Generous values only
# make the mixed cells a little larger.
_ZONE_PAD = 1
# Rectangles crossed by a seam and no larger than this are left mixed (resolved per pixel).
MIXED_CELL_AREA = 4096
_TRUST_MARGIN_PX = 2.0


@dataclass(frozen=True)
class Cell:
    """A rectangle of the canvas, rows [r0, r1) x columns [c0, c1), and the tiles that supply it.

    ``tiles`` is empty for an uncovered cell; one index for a cell copied from that tile (where
    the tile's footprint does not reach, the cell is uncovered); several (ascending) indices for a
    mixed cell, resolved pixel by pixel with `nearest_owner` restricted to those tiles.
    """

    r0: int
    r1: int
    c0: int
    c1: int
    tiles: tuple[int, ...]

    @property
    def is_mixed(self) -> bool:
        return len(self.tiles) > 1


def doubled_centres(tops: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Tile centres times two (integers): the centre of rows t .. t+h-1 is t + (h-1)/2."""
    return 2 * np.asarray(tops, np.int64) + np.asarray(shapes, np.int64) - 1


def nearest_owner(
    tops: np.ndarray,
    shapes: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    candidates: tuple[int, ...] | np.ndarray | None = None,
) -> np.ndarray:
    """Owner tile index of every pixel in the grid ``rows x cols``; -1 where no tile covers it.

    This is the reference definition of the rule; ``candidates`` (ascending) restricts the
    search to tiles known to contain the owner.
    """
    tops = np.asarray(tops, np.int64)
    shapes = np.asarray(shapes, np.int64)
    cand = np.arange(len(tops)) if candidates is None else np.asarray(candidates, np.int64)
    rows = np.asarray(rows, np.int64)
    cols = np.asarray(cols, np.int64)
    c2 = doubled_centres(tops[cand], shapes[cand])
    best = np.full((len(rows), len(cols)), np.iinfo(np.int64).max, np.int64)
    owner = np.full((len(rows), len(cols)), -1, np.int64)
    for k, tile in enumerate(cand):
        in_r = (rows >= tops[tile, 0]) & (rows < tops[tile, 0] + shapes[tile, 0])
        in_c = (cols >= tops[tile, 1]) & (cols < tops[tile, 1] + shapes[tile, 1])
        if not in_r.any() or not in_c.any():
            continue
        dist = ((2 * rows - c2[k, 0]) ** 2)[:, None] + ((2 * cols - c2[k, 1]) ** 2)[None, :]
        # Strict "<" keeps the earlier (lower-index) tile on ties, because candidates ascend.
        wins = in_r[:, None] & in_c[None, :] & (dist < best)
        best[wins] = dist[wins]
        owner[wins] = tile
    return owner


def _pair_coefficients(c2: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """D_i(q) - D_j(q) = a*row + b*col + k, with D = |2q - c2|^2: linear in the pixel q."""
    a = -4 * (c2[i, 0] - c2[j, 0])
    b = -4 * (c2[i, 1] - c2[j, 1])
    k = (c2[i] ** 2).sum(-1) - (c2[j] ** 2).sum(-1)
    return a, b, k


def _overlapping_pairs(tops: np.ndarray, bots: np.ndarray) -> list[np.ndarray]:
    """For each tile, the indices of the other tiles whose footprints overlap it."""
    order = np.argsort(tops[:, 0], kind="stable")
    neighbours: list[list[int]] = [[] for _ in range(len(tops))]
    sorted_tops = tops[order, 0]
    for pos, i in enumerate(order):
        # Tiles starting below this tile's bottom edge cannot overlap it (sweep along rows).
        stop = np.searchsorted(sorted_tops, bots[i, 0], side="left")
        others = order[pos + 1 : stop]
        hit = (tops[others, 1] < bots[i, 1]) & (bots[others, 1] > tops[i, 1])
        hit &= bots[others, 0] > tops[i, 0]
        for j in others[hit]:
            neighbours[i].append(int(j))
            neighbours[int(j)].append(int(i))
    return [np.array(sorted(n), np.int64) for n in neighbours]


def _segment_in_box(a: float, b: float, k: float, box: tuple[float, ...]) -> np.ndarray | None:
    """End points of the line a*r + b*c + k = 0 inside the closed box (r0, r1, c0, c1)."""
    r0, r1, c0, c1 = box
    points = []
    if b != 0:
        for r in (r0, r1):
            c = -(a * r + k) / b
            if c0 - 1e-9 <= c <= c1 + 1e-9:
                points.append((r, c))
    if a != 0:
        for c in (c0, c1):
            r = -(b * c + k) / a
            if r0 - 1e-9 <= r <= r1 + 1e-9:
                points.append((r, c))
    if not points:
        return None
    p = np.array(points, float)
    d = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    u, v = np.unravel_index(int(np.argmax(d)), d.shape)
    return np.array([p[u], p[v]])


def _hidden_interval(
    c2: np.ndarray,
    tops: np.ndarray,
    bots: np.ndarray,
    m: int,
    rivals: tuple[int, ...],
    seg: np.ndarray,
) -> tuple[float, float] | None:
    """Parameter range t in [0, 1] of the segment where tile m surely beats every rival."""
    p0, p1 = seg
    d = p1 - p0
    lo, hi = 0.0, 1.0
    for ax in (0, 1):
        bmin = tops[m, ax] + _TRUST_MARGIN_PX
        bmax = bots[m, ax] - 1 - _TRUST_MARGIN_PX
        if abs(d[ax]) < 1e-12:
            if not bmin <= p0[ax] <= bmax:
                return None
        else:
            t0, t1 = (bmin - p0[ax]) / d[ax], (bmax - p0[ax]) / d[ax]
            lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    for rival in rivals:
        a, b, k = (float(x) for x in _pair_coefficients(c2, np.array(m), np.array(rival)))
        slack = np.hypot(a, b) * _TRUST_MARGIN_PX
        f0 = a * p0[0] + b * p0[1] + k + slack
        f1 = a * p1[0] + b * p1[1] + k + slack
        if f0 >= 0 and f1 >= 0:
            return None
        if f0 >= 0 or f1 >= 0:
            cross = f0 / (f0 - f1)
            if f0 < 0:
                hi = min(hi, cross)
            else:
                lo = max(lo, cross)
    return (lo, hi) if lo < hi else None


def _visible_boxes(seg: np.ndarray, hidden: list[tuple[float, float]]) -> list[tuple[int, ...]]:
    """Padded pixel boxes (r0, r1, c0, c1) around the parts of the segment not hidden."""
    boxes: list[tuple[int, ...]] = []
    cursor = 0.0
    parts = []
    for lo, hi in sorted(hidden):
        if lo > cursor:
            parts.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < 1.0:
        parts.append((cursor, 1.0))
    p0, p1 = seg
    for lo, hi in parts:
        q0, q1 = p0 + lo * (p1 - p0), p0 + hi * (p1 - p0)
        boxes.append(
            (
                int(np.floor(min(q0[0], q1[0]))) - _ZONE_PAD,
                int(np.ceil(max(q0[0], q1[0]))) + 1 + _ZONE_PAD,
                int(np.floor(min(q0[1], q1[1]))) - _ZONE_PAD,
                int(np.ceil(max(q0[1], q1[1]))) + 1 + _ZONE_PAD,
            )
        )
    return boxes


def ownership_zones(tops: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """(n, 4) boxes (r0, r1, c0, c1) around every place where the owning tile may change."""
    tops = np.asarray(tops, np.int64)
    bots = tops + np.asarray(shapes, np.int64)
    c2 = doubled_centres(tops, shapes)
    neighbours = _overlapping_pairs(tops, bots)
    zones: list[tuple[int, ...]] = []
    for i in range(len(tops)):
        for j in neighbours[i][neighbours[i] > i]:
            a, b, k = (float(x) for x in _pair_coefficients(c2, np.array(i), np.array(j)))
            if a == 0 and b == 0:
                continue  # same centre: the lower index wins everywhere, no seam
            box = (
                max(tops[i, 0], tops[j, 0]),
                min(bots[i, 0], bots[j, 0]) - 1,
                max(tops[i, 1], tops[j, 1]),
                min(bots[i, 1], bots[j, 1]) - 1,
            )
            seg = _segment_in_box(a, b, k, box)
            if seg is None:
                continue
            hidden = []
            for m in np.intersect1d(neighbours[i], neighbours[j]):
                part = _hidden_interval(c2, tops, bots, int(m), (i, int(j)), seg)
                if part is not None:
                    hidden.append(part)
            zones.extend(_visible_boxes(seg, hidden))
        # A tile edge is a seam (with another tile or with empty canvas) where the tile still
        # owns the pixels just inside it.
        r0, r1, c0, c1 = tops[i, 0], bots[i, 0] - 1, tops[i, 1], bots[i, 1] - 1
        for edge in (
            ((r0, c0), (r0, c1)),
            ((r1, c0), (r1, c1)),
            ((r0, c0), (r1, c0)),
            ((r0, c1), (r1, c1)),
        ):
            seg = np.array(edge, float)
            hidden = []
            for m in neighbours[i]:
                part = _hidden_interval(c2, tops, bots, int(m), (i,), seg)
                if part is not None:
                    hidden.append(part)
            zones.extend(_visible_boxes(seg, hidden))
    return np.array(zones, np.int64).reshape(-1, 4)


def _best_cut(zones: np.ndarray, lo: int, hi: int, start: int, stop: int) -> tuple[int, int, float]:
    """The zone edge inside (lo, hi) that crosses fewest zones, then is nearest the middle."""
    edges = np.unique(np.concatenate([zones[:, start], zones[:, stop]]))
    edges = edges[(edges > lo) & (edges < hi)]
    if len(edges) == 0:
        return (-1, 0, 0.0)
    starts, stops = np.sort(zones[:, start]), np.sort(zones[:, stop])
    crossing = np.searchsorted(starts, edges, "left") - np.searchsorted(stops, edges, "right")
    balance = np.abs(edges - (lo + hi) / 2) / (hi - lo)
    best = np.lexsort((balance, crossing))[0]
    return (int(edges[best]), int(crossing[best]), float(balance[best]))


def _surviving_tiles(
    c2: np.ndarray,
    tops: np.ndarray,
    bots: np.ndarray,
    cand: np.ndarray,
    rect: tuple[int, int, int, int],
) -> np.ndarray:
    """Candidates that may own some pixel of rect: drop tile k when a tile m covering all of
    rect beats k on every pixel k covers there (checked exactly at the corners, as the
    difference of squared distances is linear in the pixel)."""
    r0, r1, c0, c1 = rect
    covers = (tops[cand, 0] <= r0) & (bots[cand, 0] >= r1) & (tops[cand, 1] <= c0)
    covers &= bots[cand, 1] >= c1
    if not covers.any() or len(cand) == 1:
        return cand
    m = cand[covers]
    # Corners of (rect ∩ footprint of k), for every candidate k.
    rr = np.stack([np.maximum(tops[cand, 0], r0), np.minimum(bots[cand, 0], r1) - 1], 1)
    cc = np.stack([np.maximum(tops[cand, 1], c0), np.minimum(bots[cand, 1], c1) - 1], 1)
    a, b, k = _pair_coefficients(c2, m[:, None], cand[None, :])  # shape (len(m), len(cand))
    worst = np.full(a.shape, np.iinfo(np.int64).min, np.int64)
    for ri in (0, 1):
        for ci in (0, 1):
            f = a * rr[None, :, ri] + b * cc[None, :, ci] + k
            worst = np.maximum(worst, f)
    beaten = (worst < 0) | ((worst == 0) & (m[:, None] < cand[None, :]))
    beaten &= m[:, None] != cand[None, :]
    return cand[~beaten.any(0)]


def _merged(first: list[Cell], second: list[Cell]) -> list[Cell]:
    """Join two sibling results into one cell when that costs nothing at render time: both
    uncovered, both copied from the same tile, or both mixed (per-pixel anyway)."""
    if len(first) == 1 and len(second) == 1:
        a, b = first[0], second[0]
        same_kind = a.tiles == b.tiles or (a.is_mixed and b.is_mixed)
        if same_kind:
            tiles = tuple(sorted(set(a.tiles) | set(b.tiles)))
            return [Cell(min(a.r0, b.r0), max(a.r1, b.r1), min(a.c0, b.c0), max(a.c1, b.c1), tiles)]
    return first + second


def _sole_owner(
    c2: np.ndarray,
    tops: np.ndarray,
    bots: np.ndarray,
    cand: np.ndarray,
    rect: tuple[int, int, int, int],
) -> int | None:
    """The tile owning every pixel of rect, if the owner of its first pixel provably does
    (covers rect and beats every other candidate at all corners of their overlap)."""
    r0, r1, c0, c1 = rect
    m = int(nearest_owner(tops, bots - tops, np.array([r0]), np.array([c0]), cand)[0, 0])
    if m < 0 or not (
        tops[m, 0] <= r0 and bots[m, 0] >= r1 and tops[m, 1] <= c0 and bots[m, 1] >= c1
    ):
        return None
    others = cand[cand != m]
    if len(others) == 0:
        return m
    rr = np.stack([np.maximum(tops[others, 0], r0), np.minimum(bots[others, 0], r1) - 1], 1)
    cc = np.stack([np.maximum(tops[others, 1], c0), np.minimum(bots[others, 1], c1) - 1], 1)
    a, b, k = _pair_coefficients(c2, np.full(len(others), m), others)
    worst = np.maximum.reduce([a * rr[:, i] + b * cc[:, j] + k for i in (0, 1) for j in (0, 1)])
    beaten = (worst < 0) | ((worst == 0) & (m < others))
    return m if beaten.all() else None


def nearest_cells(tops: np.ndarray, shapes: np.ndarray, height: int, width: int) -> list[Cell]:
    """Cut the canvas [0, height) x [0, width) into cells under the nearest-centre rule.

    ``tops`` are integer (row, col) tile placements, ``shapes`` the (height, width) of each tile.
    Cells are returned in no particular order; together they tile the canvas exactly.
    """
    tops = np.asarray(tops, np.int64).reshape(-1, 2)
    shapes = np.asarray(shapes, np.int64).reshape(-1, 2)
    bots = tops + shapes
    c2 = doubled_centres(tops, shapes)

    def split(rect: tuple[int, int, int, int], cand: np.ndarray, zs: np.ndarray) -> list[Cell]:
        r0, r1, c0, c1 = rect
        hit = (tops[cand, 0] < r1) & (bots[cand, 0] > r0) & (tops[cand, 1] < c1)
        hit &= bots[cand, 1] > c0
        cand = cand[hit]
        if len(cand) == 0:
            return [Cell(r0, r1, c0, c1, ())]
        zs = zs[(zs[:, 0] < r1) & (zs[:, 1] > r0) & (zs[:, 2] < c1) & (zs[:, 3] > c0)]
        if len(zs) and (r1 - r0) * (c1 - c0) <= MIXED_CELL_AREA:
            # Cutting further costs more in Python than resolving these pixels one by one.
            alive = _surviving_tiles(c2, tops, bots, cand, rect)
            return [Cell(r0, r1, c0, c1, tuple(int(t) for t in np.sort(alive)))]
        row_cut = _best_cut(zs, r0, r1, 0, 1)
        col_cut = _best_cut(zs, c0, c1, 2, 3)
        if row_cut[0] >= 0 and (col_cut[0] < 0 or row_cut[1:] <= col_cut[1:]):
            e = row_cut[0]
            return _merged(split((r0, e, c0, c1), cand, zs), split((e, r1, c0, c1), cand, zs))
        if col_cut[0] >= 0:
            e = col_cut[0]
            return _merged(split((r0, r1, c0, e), cand, zs), split((r0, r1, e, c1), cand, zs))
        if len(zs) == 0:
            # No seam reaches this rect: its owner is alone (checked, not assumed).
            sole = _sole_owner(c2, tops, bots, cand, rect)
            if sole is not None:
                return [Cell(r0, r1, c0, c1, (sole,))]
        alive = _surviving_tiles(c2, tops, bots, cand, rect)
        return [Cell(r0, r1, c0, c1, tuple(int(t) for t in np.sort(alive)))]

    if height <= 0 or width <= 0:
        return []
    return split(
        (0, int(height), 0, int(width)), np.arange(len(tops)), ownership_zones(tops, shapes)
    )
