"""The live layout: each new tile's pairs measured (only those: the rest are in the cache or
were measured before), then the tiles placed again, the solve starting from the last layout.

Tiles keep the slot they arrived in, also when they are taken out (a file deleted) or come
again (a file replaced): a slot is the tile's index in the correlation cache, so cached pairs
stay valid. The placement runs over the tiles in play, with the batch run's own stages
(`thresholds.select_pairs`, `place.place_tiles`), so what the live mosaic shows is what the
batch run would compute from the same pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core.matches import CandidatePair, PairMeasurement
from ...core.solve import solve_positions
from ...io.pair_cache import CorrelationCache, FileSignature
from ...io.tiles import Tile
from ..candidates import (
    NEIGHBOUR_OFFSET_FRACTION,
    NeighbourOverlaps,
    derived_minimum_overlap,
    overlap_fraction,
)
from ..measure import MeasureSettings, measure_pairs
from ..place import (
    DEFAULT_STAGE_SIGMA_PX,
    LOOP_RESIDUAL_FLOOR_PX,
    LOOP_RESIDUAL_SIGMAS,
    PAIR_SIGMA_PX,
    ROBUST_SCALE_FLOOR_PX,
    ROBUST_SCALE_SIGMAS,
    PlacedTiles,
    place_tiles,
    rejection_reasons,
)
from ..thresholds import PairSelection, ThresholdSettings, select_pairs, sigma_from_lengths
from .recent import RecentTiles


@dataclass(frozen=True)
class LayoutUpdate:
    """The layout after one change, over the tiles in play (in slot order)."""

    tiles: tuple[Tile, ...]
    slots: np.ndarray  # (n,) the slot of each tile
    positions: np.ndarray  # (n, 2) as the batch run reports them: minimum at (0, 0)
    # (n, 2) the same in the solve's own frame (the stage's), which does not jump when a new
    # tile extends the mosaic up or left: the preview is drawn in it.
    frame_positions: np.ndarray
    measurements: tuple[PairMeasurement, ...]  # numbered as ``tiles``
    rejected: tuple[str | None, ...]
    selection: PairSelection
    placed: PlacedTiles
    new_pairs: int  # pairs measured for this change (not found in the cache)

    @property
    def rms_residual_px(self) -> float:
        """RMS of the pairs the placement used: how well the layout fits them."""
        used = self.placed.accepted
        if not used.any():
            return 0.0
        return float(np.sqrt(np.mean(np.sum(self.placed.residuals[used] ** 2, axis=1))))


class LiveLayout:
    """Tiles in slots, their pairs, and the current placement. Not thread-safe: one worker
    thread owns it."""

    def __init__(
        self,
        settings: MeasureSettings,
        thresholds: ThresholdSettings,
        minimum_overlap: float | None,
        cache: CorrelationCache | None,
        recent: RecentTiles,
    ) -> None:
        self.settings = settings
        self.thresholds = thresholds
        self.minimum_overlap = minimum_overlap
        self.cache = cache
        self.recent = recent
        self.tiles: list[Tile] = []
        self.active: list[bool] = []
        self._slot_of: dict[str, int] = {}
        self._pairs: dict[tuple[int, int], PairMeasurement] = {}
        # Neighbour overlaps seen so far (slot pairs), for the derived --minimum_overlap.
        self._neighbours: dict[tuple[int, int], tuple[float, bool]] = {}
        self._solved: dict[int, np.ndarray] = {}  # slot -> last position in the solve's frame
        self._placed: PlacedTiles | None = None
        self._placed_slots: np.ndarray = np.zeros(0, np.int64)
        self._since_full = 0  # placements since the last full one (`place_tiles`)
        self._loop_inconsistent: set[tuple[int, int]] = set()  # slot pairs, last placement

    # ----------------------------------------------------------------------------------------
    def slot_of(self, name: str) -> int | None:
        return self._slot_of.get(name)

    @property
    def tile_count(self) -> int:
        return sum(self.active)

    def add(self, tile: Tile, pixels: np.ndarray) -> LayoutUpdate:
        """Put ``tile`` in play (a new slot, or its old one when the file was replaced),
        measure its pairs with the tiles in play, and place everything again."""
        slot = self._slot_of.get(tile.name)
        if slot is None:
            slot = len(self.tiles)
            self.tiles.append(tile)
            self.active.append(True)
            self._slot_of[tile.name] = slot
        else:
            self._forget_pairs_of(slot)
            self.tiles[slot] = tile
            self.active[slot] = True
            self._solved.pop(slot, None)
        try:
            if self.cache is not None:
                self.cache.add_files([FileSignature.of(tile.path)])
            self.recent.keep(slot, pixels)
            new_pairs = self._measure_pairs_of(slot)
        except BaseException:
            self.take_out(slot)  # a file gone or unreadable: the layout stays as it was
            raise
        return self._place(new_pairs)

    def remove(self, name: str) -> LayoutUpdate | None:
        """Take the tile of file ``name`` out of play (its file is gone); None if unknown."""
        slot = self._slot_of.get(name)
        if slot is None or not self.active[slot]:
            return None
        self.active[slot] = False
        self._forget_pairs_of(slot)
        self.recent.forget(slot)
        self._solved.pop(slot, None)
        return self._place()

    def take_out(self, slot: int) -> None:
        """Take a tile out without placing again (it failed before it was placed)."""
        self.active[slot] = False
        self._forget_pairs_of(slot)
        self.recent.forget(slot)

    # ----------------------------------------------------------------------------------------
    def _forget_pairs_of(self, slot: int) -> None:
        for key in [k for k in self._pairs if slot in k]:
            del self._pairs[key]
        for key in [k for k in self._neighbours if slot in k]:
            del self._neighbours[key]

    def _in_play(self) -> np.ndarray:
        return np.flatnonzero(np.array(self.active, dtype=bool))

    def _candidates(self, slot: int) -> list[CandidatePair]:
        """The new tile's pairs, by the batch run's rules (`candidates.candidate_pairs`) seen
        from one tile: overlap of at least --minimum_overlap (or the one derived from the
        neighbour overlaps so far), else its largest overlap, so that it joins the mosaic."""
        others = [s for s in self._in_play() if s != slot]
        if not others:
            return []
        tile = self.tiles[slot]
        shape = tile.shape
        here = np.array(tile.stage_position_px, dtype=float)
        there = np.array([self.tiles[s].stage_position_px for s in others], dtype=float)
        gap = np.abs(there - here)
        touching = (gap[:, 0] < shape[0]) & (gap[:, 1] < shape[1])
        if not touching.any():
            return []
        touching_slots = np.array(others)[touching]
        # Each pair as the batch run orders it: the earlier slot first.
        shifts = np.where(
            (touching_slots < slot)[:, None], here - there[touching], there[touching] - here
        )
        fractions = overlap_fraction(shifts, shape)
        relative = np.abs(shifts) / np.asarray(shape, dtype=float)
        for other, fraction, rel in zip(touching_slots, fractions, relative, strict=True):
            if rel.min() < NEIGHBOUR_OFFSET_FRACTION:
                key = (int(min(other, slot)), int(max(other, slot)))
                self._neighbours[key] = (float(fraction), bool(rel[0] > rel[1]))
        minimum = self.minimum_overlap
        if minimum is None:
            minimum = derived_minimum_overlap(self._neighbour_overlaps())
        keep = fractions >= minimum
        if not keep.any():
            keep[int(np.argmax(fractions))] = fractions.max() > 0
        pairs = []
        for other, shift, fraction in zip(
            touching_slots[keep], shifts[keep], fractions[keep], strict=True
        ):
            i, j = (int(other), slot) if other < slot else (slot, int(other))
            pairs.append(
                CandidatePair(
                    i=i,
                    j=j,
                    expected_shift=(float(shift[0]), float(shift[1])),
                    overlap_fraction=float(fraction),
                )
            )
        return pairs

    def _neighbour_overlaps(self) -> NeighbourOverlaps:
        keys = list(self._neighbours)
        values = [self._neighbours[k] for k in keys]
        return NeighbourOverlaps(
            pairs=np.array(keys, dtype=np.int64).reshape(-1, 2),
            fractions=np.array([v[0] for v in values], dtype=float),
            along_rows=np.array([v[1] for v in values], dtype=bool),
        )

    def _measure_pairs_of(self, slot: int) -> int:
        pairs = self._candidates(slot)
        todo = []
        for pair in pairs:
            hit = None
            if self.cache is not None:
                hit = self.cache.get(
                    self.tiles[pair.i].name,
                    self.tiles[pair.j].name,
                    expected_shift=pair.expected_shift,
                )
            if hit is not None:
                self._pairs[(pair.i, pair.j)] = hit
            else:
                todo.append(pair)
        if not todo:
            return 0
        put: Callable[[int, PairMeasurement], None] | None = None
        if self.cache is not None:
            cache = self.cache

            def put(_index: int, measurement: PairMeasurement) -> None:
                cache.put(
                    self.tiles[measurement.i].name, self.tiles[measurement.j].name, measurement
                )

        for measurement in measure_pairs(
            self.tiles, todo, self.settings, on_measured=put, keep_tiles=self.recent
        ):
            self._pairs[(measurement.i, measurement.j)] = measurement
        return len(todo)

    def _place(self, new_pairs: int = 0) -> LayoutUpdate:
        slots = self._in_play()
        compact = {int(s): k for k, s in enumerate(slots)}
        tiles = tuple(self.tiles[s] for s in slots)
        measurements = tuple(
            PairMeasurement(
                i=compact[i],
                j=compact[j],
                shift=m.shift,
                expected_shift=m.expected_shift,
                pearson_r=m.pearson_r,
                peak_ratio=m.peak_ratio,
            )
            for (i, j), m in sorted(self._pairs.items())
            if i in compact and j in compact
        )
        stage = np.array([t.stage_position_px for t in tiles], dtype=float).reshape(-1, 2)
        selection = select_pairs(list(measurements), self.thresholds)
        initial = self._warm_start(slots, stage)
        automatic = self.thresholds.method == "automatic"
        self._since_full += 1
        if (
            self._placed is None
            or initial is None
            or self._since_full >= self._full_every(len(tiles))
        ):
            placed = place_tiles(
                stage,
                list(measurements),
                selection.accepted,
                reject_inconsistent=automatic,
                initial=initial,
            )
            self._since_full = 0
        else:
            # Pairs the loops contradicted last time start out of the solve (they are
            # checked again: a pair that fits now comes back at the next full placement).
            known_bad = np.array(
                [
                    (int(slots[m.i]), int(slots[m.j])) in self._loop_inconsistent
                    for m in measurements
                ],
                dtype=bool,
            ).reshape(-1)
            placed = place_warm(
                stage,
                list(measurements),
                selection.accepted,
                self._placed,
                initial,
                automatic,
                known_bad,
            )
        assert placed.solved_positions is not None
        self._loop_inconsistent = {
            (int(slots[m.i]), int(slots[m.j]))
            for m, bad in zip(measurements, placed.loop_inconsistent, strict=True)
            if bad
        }
        for slot, position in zip(slots, placed.solved_positions, strict=True):
            self._solved[int(slot)] = position
        self._placed, self._placed_slots = placed, slots
        return LayoutUpdate(
            tiles=tiles,
            slots=slots,
            positions=placed.positions,
            frame_positions=placed.solved_positions,
            measurements=measurements,
            rejected=rejection_reasons(selection, placed),
            selection=selection,
            placed=placed,
            new_pairs=new_pairs,
        )

    @staticmethod
    def _full_every(tiles: int) -> int:
        """How often the full placement runs (stage map, robust scale and all): after every
        tile while the scan is small, then about every 10 % more tiles."""
        return 1 if tiles < FULL_PLACEMENT_BELOW else max(1, tiles // 10)

    def _warm_start(self, slots: np.ndarray, stage: np.ndarray) -> np.ndarray | None:
        """The last layout, a new tile at its stage position mapped as the last layout maps
        the stage: the solve then only moves what the new pairs move."""
        if self._placed is None:
            return None
        start = self._placed.stage_to_layout.apply(stage)
        for k, slot in enumerate(slots):
            known = self._solved.get(int(slot))
            if known is not None:
                start[k] = known
        return start


# The warm solve's conjugate-gradient tolerance (relative residual).
LIVE_TOLERANCE = 1e-8
# Scans smaller than this are placed in full after every tile (a few milliseconds).
FULL_PLACEMENT_BELOW = 100


def place_warm(
    stage: np.ndarray,
    measurements: list[PairMeasurement],
    accepted: np.ndarray,
    last: PlacedTiles,
    initial: np.ndarray,
    reject_inconsistent: bool,
    known_bad: np.ndarray | None = None,
) -> PlacedTiles:
    """`place.place_tiles`'s last step alone, from the last full placement's stage map, stage
    spread and robust scale, starting from the last layout: one robust solve (two when a pair
    contradicts the loops around it) instead of four from scratch. A live layout only; the
    final run places in full."""
    n = len(stage)
    accepted = np.asarray(accepted, dtype=bool).copy()
    given = accepted.copy()
    if reject_inconsistent and known_bad is not None and len(known_bad) == len(accepted):
        accepted &= ~known_bad
    stage_sigma = max(
        last.stage_sigma_px if last.stage_sigma_px is not None else DEFAULT_STAGE_SIGMA_PX, 1.0
    )
    mapped = last.stage_to_layout.apply(stage)
    used = last.residuals[last.accepted] if last.accepted.any() else np.zeros((0, 2))
    robust_scale = max(
        ROBUST_SCALE_FLOOR_PX, ROBUST_SCALE_SIGMAS * sigma_from_lengths(np.hypot(*used.T))
    )
    table = np.array(
        [(p.i, p.j, p.shift[0], p.shift[1]) for p in measurements], dtype=float
    ).reshape(-1, 4)
    result = None
    for _ in range(2):
        result = solve_positions(
            n,
            table[accepted],
            priors=mapped,
            prior_weights=(PAIR_SIGMA_PX / stage_sigma) ** 2,
            robust="cauchy",
            robust_scale=robust_scale,
            initial=initial if result is None else result.positions,
            # A live layout needs hundredths of a pixel, not the final run's 1e-12.
            tolerance=LIVE_TOLERANCE,
        )
        residual = _residuals(result.positions, table)
        size = np.hypot(residual[:, 0], residual[:, 1])
        if not accepted.any() or not reject_inconsistent:
            break
        limit = max(
            LOOP_RESIDUAL_FLOOR_PX, LOOP_RESIDUAL_SIGMAS * sigma_from_lengths(size[accepted])
        )
        contradicting = accepted & (size > limit)
        if not contradicting.any():
            break
        accepted &= ~contradicting
    assert result is not None
    positions = result.positions - result.positions.min(axis=0)
    return PlacedTiles(
        positions=positions,
        accepted=accepted,
        loop_inconsistent=given & ~accepted,
        residuals=_residuals(positions, table),
        stage_to_layout=last.stage_to_layout,
        stage_sigma_px=last.stage_sigma_px,
        solved_positions=result.positions,
    )


def _residuals(positions: np.ndarray, table: np.ndarray) -> np.ndarray:
    i, j = table[:, 0].astype(int), table[:, 1].astype(int)
    return positions[j] - positions[i] - table[:, 2:4]
