"""The live ``positions.json``: the batch file's schema (`report.positions_document`), pairs
included, written after every tile.

Every tile's position, offset and registered stage coordinates change a little with each
tile (the mean offset and the stage mapping are over all tiles), so the whole file is written
each time, atomically. What does not change is encoded once: a tile's name and stage position,
a pair's measurement. After each tile only numbers are formatted, from arrays: about a
microsecond per tile and per pair, where building and encoding the batch document cost fifty
times that (0.16 s per update at 1,600 tiles).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...core.matches import PEAK_RATIO_WITHOUT_RIVAL
from ...io import json_text
from ...io.atomic import write_text_atomic
from ...io.tiles import Tile
from ..report import (
    COORDINATES_NOTE,
    FIELDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    STAGE_MAPPING_NOTE,
    _json_ready,
)
from .layout import LayoutUpdate
from .pair_book import REASONS

_REASON_JSON = tuple(json.dumps(reason) for reason in REASONS)
# Stand-ins for the two long lists in the encoded header, replaced by their text.
_TILES, _PAIRS = "\x00tiles\x00", "\x00pairs\x00"


class LivePositionsFile:
    """Writes ``path`` from each `LayoutUpdate`, keeping what does not change encoded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tile_text: dict[int, tuple[Tile, str, str]] = {}  # slot -> (tile, name, stage)
        self._pair_text: list[str] = []  # by pair-book row: the measurement's entries
        self._pair_line: list[str] = []  # by pair-book row: its whole line, as last written
        self._pair_state = np.zeros((0, 5))  # by row: (i, j, reason, residual) of that line

    def write(
        self,
        update: LayoutUpdate,
        *,
        csm_matrix: np.ndarray | None,
        pixel_size_um: float | None,
        extra: dict[str, Any],
    ) -> None:
        write_text_atomic(self.path, self.text(update, csm_matrix, pixel_size_um, extra))

    def text(
        self,
        update: LayoutUpdate,
        csm_matrix: np.ndarray | None,
        pixel_size_um: float | None,
        extra: dict[str, Any],
    ) -> str:
        n, m = len(update.tiles), len(update.pair_rows)
        positions = update.positions
        stage = np.array([t.stage_position_px for t in update.tiles], dtype=float).reshape(n, 2)
        offsets = positions - stage
        if n:
            offsets -= offsets.mean(axis=0)
        accepted = update.pair_reasons == 0
        norms = np.hypot(update.pair_residuals[:, 0], update.pair_residuals[:, 1])
        ends = update.pair_ij[accepted]
        accepted_count = np.bincount(ends.ravel(), minlength=n)
        finite = np.isfinite(norms[accepted])
        squared = np.where(finite, norms[accepted], 0.0) ** 2
        sums = np.bincount(ends[:, 0], squared, n) + np.bincount(ends[:, 1], squared, n)
        counts = np.bincount(ends[:, 0], finite, n) + np.bincount(ends[:, 1], finite, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            tile_rms = np.sqrt(sums / counts)
        has_xyz = np.array([t.stage_xyz is not None for t in update.tiles], dtype=bool)
        mapping, registered = None, None
        if csm_matrix is not None and has_xyz.any():
            matrix = np.asarray(csm_matrix, dtype=float)
            stage_xy = np.array(
                [t.stage_xyz[:2] for t in update.tiles if t.stage_xyz is not None], dtype=float
            )
            mapping = {
                "matrix": matrix,
                "stage_origin_xy": stage_xy.mean(axis=0),
                "position_origin_px": positions[has_xyz].mean(axis=0),
            }
            registered = (
                mapping["stage_origin_xy"] + (positions - mapping["position_origin_px"]) @ matrix
            )
        names: list[str] = []  # each tile's name as JSON, for the pairs
        tiles = self._tiles_text(update, offsets, registered, accepted_count, tile_rms, names)
        pairs = self._pairs_text(update, names, accepted, norms)
        used = norms[accepted & np.isfinite(norms)]
        shapes = {t.shape for t in update.tiles}
        header: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "generator": _generator(),
            "coordinates": COORDINATES_NOTE,
            "fields": FIELDS,
            "tile_count": n,
            "tile_shape": list(shapes.pop()) if len(shapes) == 1 else None,
            "pair_count": m,
            "accepted_pair_count": int(accepted.sum()),
            "rms_residual_px": float(np.sqrt(np.mean(used**2))) if used.size else None,
            "pixel_size_um": pixel_size_um,
            "camera_stage_matrix": None if csm_matrix is None else np.asarray(csm_matrix),
            "stage_mapping": None
            if mapping is None
            else {**mapping, "formula": STAGE_MAPPING_NOTE},
            "tiles": _TILES,
            "pairs": _PAIRS,
        }
        for key, value in extra.items():
            if key in header:
                raise ValueError(f"extra[{key!r}] would replace a built-in positions.json entry")
            header[key] = value
        text = json_text.dumps(_json_ready(header), allow_nan=False)
        return (
            text.replace(json.dumps(_TILES), tiles, 1).replace(json.dumps(_PAIRS), pairs, 1) + "\n"
        )

    def _tiles_text(
        self,
        update: LayoutUpdate,
        offsets: np.ndarray,
        registered: np.ndarray | None,
        accepted_count: np.ndarray,
        tile_rms: np.ndarray,
        names: list[str],
    ) -> str:
        n = len(update.tiles)
        numbers = np.column_stack(
            [
                update.positions,
                offsets,
                registered if registered is not None else np.zeros((n, 2)),
                tile_rms,
            ]
        ).reshape(n, 7)
        # Every number of every tile in one call of the compiled encoder, split back by row.
        text = _finite_or_null(json.dumps(numbers.tolist()))
        rows = text[2:-2].split("], [") if n else []
        lines = []
        for k, (tile, slot, count, row_text) in enumerate(
            zip(update.tiles, update.slots.tolist(), accepted_count.tolist(), rows, strict=True)
        ):
            name, stage = self._static_tile(slot, tile)
            names.append(name)
            row, col, off_row, off_col, x, y, rms = row_text.split(", ")
            xy = "null"
            if registered is not None and tile.stage_xyz is not None:
                xy = f'{{"x": {x}, "y": {y}}}'
            lines.append(
                f'{{"index": {k}, "name": {name}, "position_px": {{"row": {row}, '
                f'"col": {col}, "x": {col}, "y": {row}}}, {stage}, '
                f'"offset_from_stage_px": {{"row": {off_row}, "col": {off_col}}}, '
                f'"registered_stage_xy": {xy}, "accepted_pairs": {count}, '
                f'"residual_rms_px": {rms}}}'
            )
        return _list(lines)

    def _static_tile(self, slot: int, tile: Tile) -> tuple[str, str]:
        cached = self._tile_text.get(slot)
        if cached is None or cached[0] is not tile:
            row, col = tile.stage_position_px
            stage = json.dumps(
                _json_ready(
                    {
                        "stage_position_px": {"row": float(row), "col": float(col)},
                        "stage_xyz": None if tile.stage_xyz is None else list(tile.stage_xyz),
                    }
                ),
                allow_nan=False,
            )[1:-1]
            cached = (tile, json.dumps(tile.name), stage)
            self._tile_text[slot] = cached
        return cached[1], cached[2]

    def _pairs_text(
        self, update: LayoutUpdate, names: list[str], accepted: np.ndarray, norms: np.ndarray
    ) -> str:
        book = update.book
        for row in range(len(self._pair_text), len(book)):
            pair = book.measurements[row]
            entry = pair.to_json()
            if pair.peak_ratio >= PEAK_RATIO_WITHOUT_RIVAL:
                entry["peak_ratio"] = None  # nothing competed with the peak (see FIELDS)
            entry["stage_discrepancy"] = pair.stage_discrepancy
            self._pair_text.append(json.dumps(_json_ready(entry), allow_nan=False)[1:-1])
            self._pair_line.append("")
        if len(self._pair_state) < len(book):
            grown = np.full((max(64, 2 * len(book)), 5), -1.0)
            grown[: len(self._pair_state)] = self._pair_state
            self._pair_state = grown
        # A pair's line changes only when its tiles' numbers, its verdict or its residual do:
        # after a local placement, the pairs around the new tile. The others are kept.
        rows = update.pair_rows
        state = np.column_stack(
            [update.pair_ij, update.pair_reasons, update.pair_residuals]
        ).reshape(-1, 5)
        known = self._pair_state[rows]
        same = ((known == state) | (np.isnan(known) & np.isnan(state))).all(axis=1)
        redo = np.flatnonzero(~same)
        numbers = _finite_or_null(
            json.dumps(np.column_stack([update.pair_residuals, norms])[redo].tolist())
        )
        redone = numbers[2:-2].split("], [") if len(redo) else []
        for k, numbers_text in zip(redo.tolist(), redone, strict=True):
            row = int(rows[k])
            i, j = int(update.pair_ij[k, 0]), int(update.pair_ij[k, 1])
            d_row, d_col, norm = numbers_text.split(", ")
            self._pair_line[row] = (
                f'{{"i": {i}, "j": {j}, "name_i": {names[i]}, "name_j": {names[j]}, '
                f"{self._pair_text[row]}, "
                f'"accepted": {"true" if accepted[k] else "false"}, '
                f'"residual": [{d_row}, {d_col}], '
                f'"residual_px": {norm}, "rejected": {_REASON_JSON[update.pair_reasons[k]]}}}'
            )
            self._pair_state[row] = state[k]
        return _list([self._pair_line[row] for row in rows.tolist()])


def _finite_or_null(text: str) -> str:
    """JSON text of numbers (``json.dumps`` writes NaN and infinities as words) with null for
    what is not a finite number."""
    if "N" not in text and "I" not in text:
        return text
    return text.replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null")


def _list(lines: list[str]) -> str:
    """A JSON list, one record per line, as `json_text` writes a list of records."""
    if not lines:
        return "[]"
    return "[\n  " + ",\n  ".join(lines) + "\n ]"


def _generator() -> str:
    from ..._version import __version__

    return f"ofs-stitch {__version__}"
