"""The live layout: each new tile's pairs measured (only those: the rest are in the cache or
were measured before), then the tiles around it placed again, the rest held where they are.

Tiles keep the slot they arrived in, also when they are taken out (a file deleted) or come
again (a file replaced): a slot is the tile's index in the correlation cache, so cached pairs
stay valid. The placement runs over the tiles in play, with the batch run's own stages
(`thresholds.select_pairs`, `place.place_tiles`), so what the live mosaic shows is what the
batch run would compute from the same pairs.

What one tile costs must not grow with the scan: its candidate pairs come from a grid of
buckets by stage position (`neighbourhood`), the pairs live in arrays (`pair_book`), and once
the scan is large (`FULL_PLACEMENT_BELOW` tiles) a new tile moves only the tiles within
`LOCAL_REACH_TILES` of it, solved with the tiles around them held fixed: a new pair barely
moves tiles further away (the warm-started global solve moved them by hundredths of a pixel).
The full placement (stage map, robust scale, every pair selected again) runs again each time
the scan has doubled: its cost, spread over the tiles since, stays constant per tile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...core.matches import CandidatePair, PairMeasurement
from ...core.solve import solve_positions
from ...io.pair_cache import CorrelationCache, FileSignature
from ...io.tiles import Tile
from ..candidates import (
    NEIGHBOUR_OFFSET_FRACTION,
    UPSTREAM_MINIMUM_OVERLAP,
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
    POSITION_TOLERANCE_PX,
    ROBUST_SCALE_FLOOR_PX,
    ROBUST_SCALE_SIGMAS,
    PlacedTiles,
    place_tiles,
    rejection_reasons,
)
from ..thresholds import (
    REASON_CODE,
    REJECTED_AS_LOOP_INCONSISTENT,
    ThresholdSettings,
    select_pairs,
    sigma_from_lengths,
)
from .neighbourhood import StageGrid
from .pair_book import PairBook
from .recent import RecentTiles

LOOP_CODE = REASON_CODE[REJECTED_AS_LOOP_INCONSISTENT]


@dataclass(frozen=True)
class LayoutUpdate:
    """The layout after one change, over the tiles in play (in slot order)."""

    tiles: tuple[Tile, ...]
    slots: np.ndarray  # (n,) the slot of each tile
    positions: np.ndarray  # (n, 2) as the batch run reports them: minimum at (0, 0)
    # (n, 2) the same in the solve's own frame (the stage's), which does not jump when a new
    # tile extends the mosaic up or left: the preview is drawn in it.
    frame_positions: np.ndarray
    book: PairBook  # every pair measured; rows below say which are in play
    pair_rows: np.ndarray  # (m,) the book's rows of the pairs in play, in measuring order
    pair_ij: np.ndarray  # (m, 2) their tiles, numbered as ``tiles``
    pair_reasons: np.ndarray  # (m,) why each is not in the placement (`thresholds.REASONS`)
    pair_residuals: np.ndarray  # (m, 2) (p_j - p_i) - measured shift
    min_quality: float
    max_discrepancy: float
    stage_sigma_px: float | None
    new_pairs: int  # pairs measured for this change (not found in the cache)
    # Slots whose position may have changed (the preview repaints only those); None: any.
    changed_slots: np.ndarray | None = field(default=None)

    @property
    def rms_residual_px(self) -> float:
        """RMS of the pairs the placement used: how well the layout fits them."""
        used = self.pair_residuals[self.pair_reasons == 0]
        used = used[np.isfinite(used).all(axis=1)]
        if not len(used):
            return 0.0
        return float(np.sqrt(np.mean(np.sum(used**2, axis=1))))


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
        self.book = PairBook()
        self._slot_of: dict[str, int] = {}
        self._grid: StageGrid | None = None
        self._stage = np.zeros((0, 2))  # slot -> stage position (px)
        self._frame = np.zeros((0, 2))  # slot -> last solved position; NaN: not yet placed
        # Neighbour overlaps seen so far (slot pairs), for the derived --minimum_overlap.
        self._neighbours: dict[tuple[int, int], tuple[float, bool]] = {}
        self._derived_overlap: tuple[float, int] | None = None  # (value, neighbours then)
        self._placed: PlacedTiles | None = None  # the last full placement
        self._full_at = 0  # tiles in play at the last full placement
        self._thresholds_used = (0.0, float("inf"))  # (min quality, max discrepancy)

    # ----------------------------------------------------------------------------------------
    def slot_of(self, name: str) -> int | None:
        return self._slot_of.get(name)

    @property
    def tile_count(self) -> int:
        return sum(self.active)

    def add(self, tile: Tile, pixels: np.ndarray) -> LayoutUpdate:
        """Put ``tile`` in play (a new slot, or its old one when the file was replaced),
        measure its pairs with the tiles in play, and place again."""
        slot = self._slot_of.get(tile.name)
        if slot is None:
            slot = len(self.tiles)
            self.tiles.append(tile)
            self.active.append(True)
            self._slot_of[tile.name] = slot
            if slot >= len(self._stage):
                self._grow(max(64, 2 * len(self._stage)))
        else:
            self._forget_pairs_of(slot)
            self.tiles[slot] = tile
            self.active[slot] = True
            self._frame[slot] = np.nan
        self._stage[slot] = tile.stage_position_px
        if self._grid is None:
            self._grid = StageGrid(tile.shape)
        self._grid.put(slot, self._stage[slot])
        try:
            if self.cache is not None:
                self.cache.add_files([FileSignature.of(tile.path)])
            self.recent.keep(slot, pixels)
            new_pairs = self._measure_pairs_of(slot)
        except BaseException:
            self.take_out(slot)  # a file gone or unreadable: the layout stays as it was
            raise
        return self._place(new_pairs, around=slot)

    def remove(self, name: str) -> LayoutUpdate | None:
        """Take the tile of file ``name`` out of play (its file is gone); None if unknown."""
        slot = self._slot_of.get(name)
        if slot is None or not self.active[slot]:
            return None
        self.take_out(slot)
        return self._place(around=slot)

    def take_out(self, slot: int) -> None:
        """Take a tile out without placing again (it failed before it was placed)."""
        self.active[slot] = False
        self._forget_pairs_of(slot)
        self.recent.forget(slot)
        self._frame[slot] = np.nan
        if self._grid is not None:
            self._grid.discard(slot)

    # ----------------------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        stage = np.zeros((capacity, 2))
        stage[: len(self._stage)] = self._stage
        frame = np.full((capacity, 2), np.nan)
        frame[: len(self._frame)] = self._frame
        self._stage, self._frame = stage, frame

    def _forget_pairs_of(self, slot: int) -> None:
        """(A tile taken out or replaced: rare, so a scan of the neighbour list is fine.)"""
        self.book.forget_slot(slot)
        for key in [k for k in self._neighbours if slot in k]:
            del self._neighbours[key]

    def _in_play(self) -> np.ndarray:
        return np.flatnonzero(np.array(self.active, dtype=bool))

    def _candidates(self, slot: int) -> list[CandidatePair]:
        """The new tile's pairs, by the batch run's rules (`candidates.candidate_pairs`) seen
        from one tile: overlap of at least --minimum_overlap (or the one derived from the
        neighbour overlaps so far), else its largest overlap, so that it joins the mosaic."""
        assert self._grid is not None
        tile = self.tiles[slot]
        here = self._stage[slot]
        others = [s for s in self._grid.near(here) if s != slot and self.active[s]]
        if not others:
            return []
        shape = tile.shape
        there = self._stage[others]
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
        below_upstream = False
        for other, fraction, rel in zip(touching_slots, fractions, relative, strict=True):
            if rel.min() < NEIGHBOUR_OFFSET_FRACTION:
                key = (int(min(other, slot)), int(max(other, slot)))
                self._neighbours[key] = (float(fraction), bool(rel[0] > rel[1]))
                below_upstream |= bool(fraction < UPSTREAM_MINIMUM_OVERLAP)
        minimum = self.minimum_overlap
        if minimum is None:
            minimum = self._derived_minimum_overlap(below_upstream)
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

    def _derived_minimum_overlap(self, new_below_upstream: bool) -> float:
        """`candidates.derived_minimum_overlap` of the neighbours so far. It is a statistic
        of all of them: worked out again while they are few, when they have grown by a tenth,
        or when a new one falls below upstream's 0.2 while none did (that changes it)."""
        count = len(self._neighbours)
        cached = self._derived_overlap
        if (
            cached is None
            or count < 200
            or count >= 1.1 * cached[1]
            or (new_below_upstream and cached[0] == UPSTREAM_MINIMUM_OVERLAP)
        ):
            cached = (derived_minimum_overlap(self._neighbour_overlaps()), count)
            self._derived_overlap = cached
        return cached[0]

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
                self.book.put(hit.renumbered(pair.i, pair.j))
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
            self.book.put(measurement)
        return len(todo)

    # ----------------------------------------------------------------------------------------
    def _place(self, new_pairs: int = 0, around: int | None = None) -> LayoutUpdate:
        slots = self._in_play()
        n = len(slots)
        local = (
            around is not None
            and self._placed is not None
            and FULL_PLACEMENT_BELOW <= n < 2 * self._full_at
        )
        changed = None
        if local:
            assert around is not None
            changed = self._place_around(around)
        else:
            self._place_all(slots)
        return self._update(slots, new_pairs, changed)

    def _place_all(self, slots: np.ndarray) -> None:
        """The batch run's placement (`place.place_tiles`) of every tile in play, from the
        last layout."""
        book = self.book
        rows = book.live_rows()
        if len(slots) == len(self.tiles):  # every slot in play: the slots are the numbers
            measurements = [book.measurements[r] for r in rows.tolist()]
        else:
            compact = np.full(len(self.tiles), -1, np.int64)
            compact[slots] = np.arange(len(slots))
            measurements = [
                book.measurements[r].renumbered(
                    int(compact[book.ij[r, 0]]), int(compact[book.ij[r, 1]])
                )
                for r in rows.tolist()
            ]
        stage = self._stage[slots]
        selection = select_pairs(measurements, self.thresholds)
        initial = None
        if self._placed is not None:
            initial = self._placed.stage_to_layout.apply(stage)
            known = np.isfinite(self._frame[slots]).all(axis=1)
            initial[known] = self._frame[slots][known]
        placed = place_tiles(
            stage,
            measurements,
            selection.accepted,
            reject_inconsistent=self.thresholds.method == "automatic",
            initial=initial,
        )
        assert placed.solved_positions is not None
        book.reason[rows] = [REASON_CODE[r] for r in rejection_reasons(selection, placed)]
        book.residual[rows] = placed.residuals
        self._frame[slots] = placed.solved_positions
        self._placed, self._full_at = placed, len(slots)
        self._thresholds_used = (selection.min_quality, selection.max_discrepancy)

    def _place_around(self, around: int) -> np.ndarray:
        """Place the tiles within `LOCAL_REACH_TILES` of slot ``around`` (new, replaced or
        taken out), with the tiles their pairs reach beyond them held where they are: the
        last full placement's last step (`place.place_tiles` (3)), from its stage map, stage
        spread and robust scale, on a neighbourhood of the same size whatever the scan's.
        The pairs are selected again among those of the neighbourhood (`select_pairs`: its
        stage model fitted locally). Returns the slots placed."""
        assert self._grid is not None and self._placed is not None
        last = self._placed
        book = self.book
        near = [
            s for s in self._grid.near(self._stage[around], LOCAL_REACH_TILES) if self.active[s]
        ]
        if not near:
            return np.array([around], np.int64)
        rows = book.rows_touching(near)
        near_set = set(near)
        ends = book.ij[rows].ravel().tolist() if len(rows) else []
        held = sorted({s for s in ends if s not in near_set})
        variables = np.array(near + held, dtype=np.int64)
        index = np.full(len(self.tiles), -1, np.int64)
        index[variables] = np.arange(len(variables))

        measurements = [book.measurements[r] for r in rows.tolist()]
        selection = select_pairs(measurements, self.thresholds)
        accepted = selection.accepted.copy()
        given = accepted.copy()
        automatic = self.thresholds.method == "automatic"
        if automatic:
            # Pairs the loops contradicted last time start out of the solve (they are
            # checked again: a pair that fits now comes back at the next full placement).
            accepted &= book.reason[rows] != LOOP_CODE
        table = np.column_stack([index[book.ij[rows]], book.shift[rows]]).reshape(-1, 4)

        stage_sigma = max(
            last.stage_sigma_px if last.stage_sigma_px is not None else DEFAULT_STAGE_SIGMA_PX,
            1.0,
        )
        mapped = last.stage_to_layout.apply(self._stage[variables])
        base = self._frame[variables].copy()
        unknown = ~np.isfinite(base).all(axis=1)
        base[unknown] = mapped[unknown]
        # Solved as moves from the last layout: the held tiles' priors are then zero, and the
        # solver's relative tolerance measures the moves, not the held tiles' huge weights.
        i, j = table[:, 0].astype(int), table[:, 1].astype(int)
        moves = table.copy()
        moves[:, 2:4] -= base[j] - base[i]
        priors = mapped - base
        priors[len(near) :] = 0.0
        weights = np.full(len(variables), (PAIR_SIGMA_PX / stage_sigma) ** 2)
        weights[len(near) :] = HELD_WEIGHT
        used = last.residuals[last.accepted] if last.accepted.any() else np.zeros((0, 2))
        robust_scale = max(
            ROBUST_SCALE_FLOOR_PX, ROBUST_SCALE_SIGMAS * sigma_from_lengths(np.hypot(*used.T))
        )
        result = None
        for _ in range(2):
            result = solve_positions(
                len(variables),
                moves[accepted],
                priors=priors,
                prior_weights=weights,
                robust="cauchy",
                robust_scale=robust_scale,
                initial=None if result is None else result.positions,
                # A live layout needs hundredths of a pixel, not the final run's 1e-12.
                tolerance=LIVE_TOLERANCE,
                position_tolerance=POSITION_TOLERANCE_PX,
            )
            residual = _residuals(result.positions, moves)
            size = np.hypot(residual[:, 0], residual[:, 1])
            if not accepted.any() or not automatic:
                break
            limit = max(
                LOOP_RESIDUAL_FLOOR_PX, LOOP_RESIDUAL_SIGMAS * sigma_from_lengths(size[accepted])
            )
            contradicting = accepted & (size > limit)
            if not contradicting.any():
                break
            accepted &= ~contradicting
        assert result is not None
        solved = base + result.positions
        self._frame[near] = solved[: len(near)]
        reasons = np.array([REASON_CODE[r] for r in selection.rejected], dtype=np.int8)
        reasons[given & ~accepted] = LOOP_CODE
        book.reason[rows] = reasons
        book.residual[rows] = _residuals(
            self._frame, np.column_stack([book.ij[rows], book.shift[rows]])
        )
        return np.array(sorted({*near, around}), np.int64)

    def _update(
        self, slots: np.ndarray, new_pairs: int, changed: np.ndarray | None
    ) -> LayoutUpdate:
        book = self.book
        frame = self._frame[slots].copy()
        placed = np.isfinite(frame).all(axis=1)
        if not placed.all():  # (a tile the last full placement has not seen: at its stage)
            assert self._placed is not None
            frame[~placed] = self._placed.stage_to_layout.apply(self._stage[slots][~placed])
        positions = frame - frame.min(axis=0) if len(frame) else frame
        rows = book.live_rows()
        compact = np.full(len(self.tiles), -1, np.int64)
        compact[slots] = np.arange(len(slots))
        return LayoutUpdate(
            tiles=tuple(self.tiles[s] for s in slots.tolist()),
            slots=slots,
            positions=positions,
            frame_positions=frame,
            book=book,
            pair_rows=rows,
            pair_ij=compact[book.ij[rows]].reshape(-1, 2),
            pair_reasons=book.reason[rows].copy(),
            pair_residuals=book.residual[rows].copy(),
            min_quality=self._thresholds_used[0],
            max_discrepancy=self._thresholds_used[1],
            stage_sigma_px=None if self._placed is None else self._placed.stage_sigma_px,
            new_pairs=new_pairs,
            changed_slots=changed,
        )


# The warm neighbourhood solve's conjugate-gradient tolerance (relative residual), where the
# solver falls back to conjugate gradients (the direct solve is exact). A full placement
# solves as the batch run does: factored directly, 0.2 CPU-s at 1,600 tiles.
LIVE_TOLERANCE = 1e-8
# Scans smaller than this are placed in full after every tile (a few milliseconds).
FULL_PLACEMENT_BELOW = 100
# A new tile moves the tiles within this many tile sizes of it (stage buckets: 5 x 5 tiles).
LOCAL_REACH_TILES = 2
# The weight (pair weights are 1) holding the tiles just beyond the neighbourhood in place.
HELD_WEIGHT = 1e6


def _residuals(positions: np.ndarray, table: np.ndarray) -> np.ndarray:
    i, j = table[:, 0].astype(int), table[:, 1].astype(int)
    return positions[j] - positions[i] - table[:, 2:4]
