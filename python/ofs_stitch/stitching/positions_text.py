"""``positions.json``: its text, formatted from arrays.

The schema is `report.positions_document`'s, a dict built entry by entry. Building that dict
and encoding it record by record took 0.12-0.28 s at 1,600 tiles and 3,150 pairs, on a thread
while the mosaics render, whose own Python it slowed. Here the numbers are formatted from
arrays, many at a time by the compiled encoder and split back by row, into the same text byte
for byte: 0.08-0.09 s, most of it the shortest round-tripping text of about 49,000 floats.
What does not change between writes (a tile's name and stage position, a pair's measurement)
is encoded once per `PositionsText`: live stitching keeps one for its session and rewrites the
file after every tile, formatting again only the tiles' numbers and the pairs whose numbers
changed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.matches import PEAK_RATIO_WITHOUT_RIVAL, PairMeasurement
from ..io import json_text
from ..io.atomic import write_text_atomic
from ..io.tiles import Tile
from .report import (
    checked_positions_inputs,
    json_ready,
    positions_entries,
    stage_mapping,
    tile_residual_arrays,
)
from .thresholds import REASON_CODE, REASONS

_REASON_JSON = tuple(json.dumps(reason) for reason in REASONS)
# A string as JSON, as json.dumps writes it (ASCII, escaped), without making an encoder per call.
_JSON_STRING = json.encoder.encode_basestring_ascii
# Stand-ins for the two long lists in the encoded header, replaced by their text.
_TILES, _PAIRS = "\x00tiles\x00", "\x00pairs\x00"


@dataclass(frozen=True)
class PositionsTable:
    """What positions.json says, as arrays: n tiles and m pairs."""

    tiles: Sequence[Tile]
    positions: np.ndarray  # (n, 2) registered top-left corners, (row, col)
    # (n,) what names each tile from one write to the next (live: its slot; a tile under a key
    # must stay the same Tile object for the key's encoded text to be reused)
    tile_keys: Sequence[int]
    # The measured pairs, by pair key; (m,) each listed pair's key (live: its pair-book row;
    # its measurement must not change under the key)
    measurements: Sequence[PairMeasurement]
    pair_keys: np.ndarray
    pair_ij: np.ndarray  # (m, 2) each pair's tiles, as indices into ``tiles``
    pair_reasons: np.ndarray  # (m,) code in `thresholds.REASONS` of why it is not used (0: used)
    pair_residuals: np.ndarray  # (m, 2) (p_j - p_i) - measured shift, NaN where unknown


def write_positions_json(
    path: Path,
    tiles: Sequence[Tile],
    positions_px: np.ndarray,
    measurements: Sequence[PairMeasurement],
    rejected: Sequence[str | None],
    residuals: np.ndarray,
    *,
    csm_matrix: np.ndarray | None = None,
    pixel_size_um: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``positions.json`` (atomically) describing the registration result: the JSON
    of `report.positions_document` with the same arguments (see there).

    ``measurements`` number their tiles (``i``, ``j``) by index in ``tiles``.
    """
    n, m = len(tiles), len(measurements)
    positions, pair_residuals = checked_positions_inputs(n, m, positions_px, rejected, residuals)
    table = PositionsTable(
        tiles=tiles,
        positions=positions,
        tile_keys=range(n),
        measurements=measurements,
        pair_keys=np.arange(m),
        pair_ij=np.array([(p.i, p.j) for p in measurements], np.int64).reshape(m, 2),
        pair_reasons=np.array([REASON_CODE[r] for r in rejected], np.int8),
        pair_residuals=pair_residuals,
    )
    text = PositionsText().text(
        table, csm_matrix=csm_matrix, pixel_size_um=pixel_size_um, extra=dict(extra or {})
    )
    write_text_atomic(Path(path), text)


class PositionsText:
    """Formats positions.json from `PositionsTable`s, keeping what does not change encoded."""

    def __init__(self) -> None:
        # tile key -> (tile, name, stage position, stage_xyz), encoded
        self._tile_text: dict[int, tuple[Tile, str, str, str]] = {}
        self._pair_text: list[str] = []  # by pair key: the measurement's entries
        self._pair_line: list[str] = []  # by pair key: its whole line, as last written
        self._pair_state = np.zeros((0, 5))  # by pair key: (i, j, reason, residual) of that line

    def text(
        self,
        table: PositionsTable,
        *,
        csm_matrix: np.ndarray | None,
        pixel_size_um: float | None,
        extra: Mapping[str, Any],
    ) -> str:
        tiles, positions = table.tiles, table.positions
        n = len(tiles)
        stage = np.array([t.stage_position_px for t in tiles], dtype=float).reshape(n, 2)
        offsets = positions - stage
        if n:
            offsets -= offsets.mean(axis=0)
        accepted = table.pair_reasons == 0
        norms = np.hypot(table.pair_residuals[:, 0], table.pair_residuals[:, 1])
        accepted_count, tile_rms = tile_residual_arrays(n, table.pair_ij, accepted, norms)
        mapping = stage_mapping(tiles, positions, csm_matrix)
        registered = (
            None
            if mapping is None
            else mapping["stage_origin_xy"]
            + (positions - mapping["position_origin_px"]) @ mapping["matrix"]
        )
        names: list[str] = []  # each tile's name as JSON, for the pairs
        tiles_text = self._tiles_text(table, offsets, registered, accepted_count, tile_rms, names)
        pairs_text = self._pairs_text(table, names, accepted, norms)
        header = positions_entries(
            tiles,
            _TILES,
            _PAIRS,
            norms,
            accepted,
            csm_matrix=csm_matrix,
            pixel_size_um=pixel_size_um,
            mapping=mapping,
            extra=extra,
        )
        text = json_text.dumps(json_ready(header), allow_nan=False)
        return (
            text.replace(json.dumps(_TILES), tiles_text, 1).replace(
                json.dumps(_PAIRS), pairs_text, 1
            )
            + "\n"
        )

    def _tiles_text(
        self,
        table: PositionsTable,
        offsets: np.ndarray,
        registered: np.ndarray | None,
        accepted_count: np.ndarray,
        tile_rms: np.ndarray,
        names: list[str],
    ) -> str:
        n = len(table.tiles)
        numbers = np.column_stack(
            [
                table.positions,
                offsets,
                registered if registered is not None else np.zeros((n, 2)),
                tile_rms,
            ]
        ).reshape(n, 7)
        # Every number of every tile in one call of the compiled encoder, split back by row.
        rows = _rows_of_numbers(numbers)
        lines = []
        for k, (tile, key, count, row_text) in enumerate(
            zip(table.tiles, table.tile_keys, accepted_count.tolist(), rows, strict=True)
        ):
            name, stage, xyz = self._static_tile(key, tile)
            names.append(name)
            row, col, off_row, off_col, x, y, rms = row_text.split(", ")
            xy = "null"
            if registered is not None and tile.stage_xyz is not None:
                xy = f'{{"x": {x}, "y": {y}}}'
            lines.append(
                f'{{"index": {k}, "name": {name}, "position_px": {{"row": {row}, '
                f'"col": {col}, "x": {col}, "y": {row}}}, '
                f'"stage_position_px": {stage}, '
                f'"offset_from_stage_px": {{"row": {off_row}, "col": {off_col}}}, '
                f'"stage_xyz": {xyz}, "registered_stage_xy": {xy}, '
                f'"accepted_pairs": {count}, "residual_rms_px": {rms}}}'
            )
        return _list(lines)

    def _static_tile(self, key: int, tile: Tile) -> tuple[str, str, str]:
        """A tile's name, stage position and stage_xyz, encoded."""
        cached = self._tile_text.get(key)
        if cached is None or cached[0] is not tile:
            row, col = tile.stage_position_px
            stage = {"row": float(row), "col": float(col)}
            xyz = None if tile.stage_xyz is None else list(tile.stage_xyz)
            cached = (
                tile,
                _JSON_STRING(tile.name),
                json.dumps(json_ready(stage)),
                json.dumps(json_ready(xyz)),
            )
            self._tile_text[key] = cached
        return cached[1], cached[2], cached[3]

    def _pairs_text(
        self, table: PositionsTable, names: list[str], accepted: np.ndarray, norms: np.ndarray
    ) -> str:
        measurements = table.measurements
        self._pair_text += _measurement_entries(measurements[len(self._pair_text) :])
        self._pair_line += [""] * (len(measurements) - len(self._pair_line))
        if len(self._pair_state) < len(measurements):
            grown = np.full((max(64, 2 * len(measurements)), 5), -1.0)
            grown[: len(self._pair_state)] = self._pair_state
            self._pair_state = grown
        # A pair's line changes only when its tiles' numbers, its verdict or its residual do:
        # after a live tile's local placement, the pairs around the new tile. The others are
        # kept.
        keys = table.pair_keys
        state = np.column_stack([table.pair_ij, table.pair_reasons, table.pair_residuals]).reshape(
            -1, 5
        )
        known = self._pair_state[keys]
        same = ((known == state) | (np.isnan(known) & np.isnan(state))).all(axis=1)
        redo = np.flatnonzero(~same)
        redone = _rows_of_numbers(np.column_stack([table.pair_residuals, norms])[redo])
        for k, numbers_text in zip(redo.tolist(), redone, strict=True):
            key = int(keys[k])
            i, j = int(table.pair_ij[k, 0]), int(table.pair_ij[k, 1])
            d_row, d_col, norm = numbers_text.split(", ")
            self._pair_line[key] = (
                f'{{"i": {i}, "j": {j}, "name_i": {names[i]}, "name_j": {names[j]}, '
                f"{self._pair_text[key]}, "
                f'"accepted": {"true" if accepted[k] else "false"}, '
                f'"residual": [{d_row}, {d_col}], '
                f'"residual_px": {norm}, "rejected": {_REASON_JSON[table.pair_reasons[k]]}}}'
            )
            self._pair_state[key] = state[k]
        return _list([self._pair_line[key] for key in keys.tolist()])


def _measurement_entries(measurements: Sequence[PairMeasurement]) -> list[str]:
    """Each measurement's entries of its pair's line (``"shift": [..], ...,
    "stage_discrepancy": ..``), formatted together."""
    numbers = np.array(
        [
            (
                *pair.shift,
                *pair.expected_shift,
                pair.pearson_r,
                # Nothing competed with the peak: null (see FIELDS).
                math.nan if pair.peak_ratio >= PEAK_RATIO_WITHOUT_RIVAL else pair.peak_ratio,
                pair.quality,
                pair.stage_discrepancy,
            )
            for pair in measurements
        ],
        dtype=float,
    ).reshape(-1, 8)
    entries = []
    for row_text in _rows_of_numbers(numbers):
        row, col, expected_row, expected_col, pearson_r, peak_ratio, quality, discrepancy = (
            row_text.split(", ")
        )
        entries.append(
            f'"shift": [{row}, {col}], "expected_shift": [{expected_row}, {expected_col}], '
            f'"pearson_r": {pearson_r}, "peak_ratio": {peak_ratio}, "quality": {quality}, '
            f'"stage_discrepancy": {discrepancy}'
        )
    return entries


def _rows_of_numbers(numbers: np.ndarray) -> list[str]:
    """Each row of a 2-D array of floats as JSON numbers joined by ", " (null where not
    finite): all formatted in one call of the compiled encoder, then split by row."""
    if not len(numbers):
        return []
    text = json.dumps(numbers.tolist())
    if "N" in text or "I" in text:  # NaN, Infinity, -Infinity: not JSON numbers
        text = text.replace("-Infinity", "null").replace("Infinity", "null")
        text = text.replace("NaN", "null")
    return text[2:-2].split("], [")


def _list(lines: list[str]) -> str:
    """A JSON list, one record per line, as `json_text` writes a list of records."""
    if not lines:
        return "[]"
    return "[\n  " + ",\n  ".join(lines) + "\n ]"
