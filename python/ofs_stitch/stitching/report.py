"""``positions.json``: registered tile positions and every pair's evidence, for people and tools.

Also the camera-stage matrix that the registered positions imply, fitted and printed the way
openflexure-stitching prints its "more accurate camera stage mapping matrix".

Coordinates: positions are tile top-left corners in mosaic pixels, given as (row, col) and again
as (x, y) with x = col and y = row. Stage coordinates follow OpenFlexure's convention:
``stage_xy = [d_row, d_col] @ M`` for a displacement in pixels, M the camera-stage matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.matches import PEAK_RATIO_WITHOUT_RIVAL, PairMeasurement
from ..core.transform import fit
from ..io.tiles import Tile
from .thresholds import CONVINCING_QUALITY, REJECTION_REASONS

FORMAT_NAME = "ofs-stitch positions"
FORMAT_VERSION = 1

COORDINATES_NOTE = (
    "position_px: top-left corner of the tile in the mosaic, pixels; row/col as numpy indexes "
    "images, x = col, y = row. shift = position[j] - position[i], [d_row, d_col]. "
    "residual = the solver's misfit of that pair, [d_row, d_col]."
)
# What the entries of each tile and pair mean, for a reader of the file without this code
# (written into the file as "fields"; the README's table says the same).
FIELDS = {
    "tiles[].stage_position_px": (
        "where the starting positions put the tile's top-left corner (stage coordinates through "
        "the camera-stage matrix, file names, the --grid or the --positions file), pixels"
    ),
    "tiles[].offset_from_stage_px": (
        "position_px - stage_position_px, less the mean of that difference over all tiles: how "
        "far the registration moved this tile from its starting position once the shift of the "
        "whole mosaic is taken out; large values mark tiles the starting positions had wrong"
    ),
    "tiles[].accepted_pairs": "how many pairs used by the placement hold this tile",
    "tiles[].residual_rms_px": (
        "RMS of residual_px over this tile's accepted pairs (null: none): how well its pairs "
        "agree with where the placement put it"
    ),
    "pairs[].shift": "measured position[j] - position[i], [d_row, d_col], pixels",
    "pairs[].expected_shift": "the same according to the starting positions",
    "pairs[].pearson_r": (
        "Pearson correlation of the overlapping pixels at the found shift, -1..1 (null: the "
        "overlap is blank)"
    ),
    "pairs[].peak_ratio": (
        "height of the correlation peak over the highest competing local maximum (maxima whose "
        "pixels agree about as well as the chosen one's); >= 1 for a clear match, 0 when "
        "nothing was measured; null when nothing competes with the peak at all, an unambiguous "
        f"match (the measurement reports {PEAK_RATIO_WITHOUT_RIVAL:.0f} then, and quality "
        "treats it as such)"
    ),
    "pairs[].quality": (
        "0..1 = max(pearson_r, 0) * (1 - 1 / peak_ratio): near 0 for blank, unrelated or "
        "ambiguous overlaps"
    ),
    "pairs[].stage_discrepancy": "|shift - expected_shift|, pixels",
    "pairs[].accepted": "whether the placement used this pair",
    "pairs[].rejected": (
        "null for an accepted pair, else why it was left out: 'quality' (below "
        "thresholds.min_quality), 'discrepancy' (further from the starting positions' "
        "prediction than thresholds.max_discrepancy_px; in automatic mode measured after "
        "removing the scan's common affine stage error, and only for pairs of quality below "
        f"{CONVINCING_QUALITY}), 'loop inconsistency' (accepted by the thresholds, but the "
        "loops of other pairs around it contradict it)"
    ),
    "pairs[].residual": (
        "position[j] - position[i] - shift after placement, [d_row, d_col], pixels"
    ),
    "pairs[].residual_px": "length of residual",
}
STAGE_MAPPING_NOTE = (
    "stage_xy = stage_origin_xy + ([row, col] - position_origin_px) @ matrix; the origins are "
    "the means over the tiles that have stage coordinates, so the registered positions keep the "
    "scan's average stage position."
)


def positions_document(
    tiles: Sequence[Tile],
    positions_px: np.ndarray,
    measurements: Sequence[PairMeasurement],
    rejected: Sequence[str | None],
    residuals: np.ndarray,
    *,
    csm_matrix: np.ndarray | None = None,
    pixel_size_um: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``positions.json`` as plain JSON-ready Python values, entry by entry (the
    file itself is formatted from arrays, to the same JSON: `positions_text`).

    ``positions_px``: (n, 2) registered top-left corners, (row, col), one per tile.
    ``measurements``/``rejected``/``residuals``: one entry per measured pair; ``rejected`` is
    None for a pair the placement used, else why not (one of ``thresholds.REJECTION_REASONS``);
    ``residuals`` is (m, 2), [d_row, d_col], NaN where the solver has none. ``csm_matrix``: the
    camera-stage matrix used (stage_xy = [d_row, d_col] @ M, at the tiles' resolution); with it,
    tiles get ``registered_stage_xy``, the stage coordinates the images say they were taken at.
    ``extra``: more top-level entries (settings, thresholds, ``improved_camera_stage_matrix``,
    timings...); numpy values are converted; a key may not replace a built-in one.
    Non-finite numbers become None (null), so the file is strict JSON.
    """
    n, m = len(tiles), len(measurements)
    positions, pair_residuals = checked_positions_inputs(n, m, positions_px, rejected, residuals)
    is_accepted = np.array([reason is None for reason in rejected], dtype=bool)
    residual_norms = np.hypot(pair_residuals[:, 0], pair_residuals[:, 1])
    accepted_count, tile_rms = tile_residuals(n, measurements, is_accepted, residual_norms)

    stage_positions = np.array([t.stage_position_px for t in tiles], dtype=float).reshape(n, 2)
    offsets = positions - stage_positions
    offsets -= offsets.mean(axis=0) if n else 0.0
    mapping = stage_mapping(tiles, positions, csm_matrix)

    registered = (
        None
        if mapping is None
        else (
            mapping["stage_origin_xy"]
            + (positions - mapping["position_origin_px"]) @ mapping["matrix"]
        ).tolist()
    )
    # Plain Python numbers from here on (tolist): indexing numpy arrays per entry, and
    # converting the numpy scalars afterwards, cost more than the rest of the report.
    positions_list, stage_list, offsets_list = (
        positions.tolist(),
        stage_positions.tolist(),
        offsets.tolist(),
    )
    tile_entries = []
    for t, tile in enumerate(tiles):
        row, col = positions_list[t]
        registered_xy = None
        if registered is not None and tile.stage_xyz is not None:
            registered_xy = {"x": registered[t][0], "y": registered[t][1]}
        tile_entries.append(
            {
                "index": t,
                "name": tile.name,
                "position_px": {"row": row, "col": col, "x": col, "y": row},
                "stage_position_px": {"row": stage_list[t][0], "col": stage_list[t][1]},
                "offset_from_stage_px": {"row": offsets_list[t][0], "col": offsets_list[t][1]},
                "stage_xyz": None if tile.stage_xyz is None else list(tile.stage_xyz),
                "registered_stage_xy": registered_xy,
                "accepted_pairs": accepted_count[t],
                "residual_rms_px": tile_rms[t],
            }
        )

    residual_list, norm_list, accepted_list = (
        pair_residuals.tolist(),
        residual_norms.tolist(),
        is_accepted.tolist(),
    )
    pair_entries = []
    for k, pair in enumerate(measurements):
        entry = pair.to_json(
            i=pair.i, j=pair.j, name_i=tiles[pair.i].name, name_j=tiles[pair.j].name
        )
        if pair.peak_ratio >= PEAK_RATIO_WITHOUT_RIVAL:
            entry["peak_ratio"] = None  # nothing competed with the peak (see FIELDS)
        entry["stage_discrepancy"] = pair.stage_discrepancy
        entry["accepted"] = accepted_list[k]
        entry["residual"] = residual_list[k]
        entry["residual_px"] = norm_list[k]
        entry["rejected"] = rejected[k]
        pair_entries.append(entry)
    document = positions_entries(
        tiles,
        tile_entries,
        pair_entries,
        residual_norms,
        is_accepted,
        csm_matrix=csm_matrix,
        pixel_size_um=pixel_size_um,
        mapping=mapping,
        extra=extra,
    )
    # The tile records are plain, finite Python values already (built from tolist above):
    # walking them again cost as much as encoding them, for every live update.
    ready = json_ready({key: value for key, value in document.items() if key != "tiles"})
    return {key: tile_entries if key == "tiles" else ready[key] for key in document}


def positions_entries(
    tiles: Sequence[Tile],
    tile_entries: Any,
    pair_entries: Any,
    residual_norms: np.ndarray,
    accepted: np.ndarray,
    *,
    csm_matrix: np.ndarray | None,
    pixel_size_um: float | None,
    mapping: dict[str, np.ndarray] | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """positions.json's top-level entries in their order, around the given tile and pair
    entries, then ``extra``'s (ValueError for one that would replace a built-in entry); values
    not yet converted (see `json_ready`). ``mapping``: `stage_mapping`'s."""
    used = residual_norms[accepted & np.isfinite(residual_norms)]
    entries: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": generator(),
        "coordinates": COORDINATES_NOTE,
        "fields": FIELDS,
        "tile_count": len(tiles),
        "tile_shape": common_tile_shape(tiles),
        "pair_count": len(accepted),
        "accepted_pair_count": int(accepted.sum()),
        "rms_residual_px": float(np.sqrt(np.mean(used**2))) if used.size else None,
        "pixel_size_um": pixel_size_um,
        "camera_stage_matrix": None if csm_matrix is None else np.asarray(csm_matrix),
        "stage_mapping": None if mapping is None else {**mapping, "formula": STAGE_MAPPING_NOTE},
        "tiles": tile_entries,
        "pairs": pair_entries,
    }
    for key, value in (extra or {}).items():
        if key in entries:
            raise ValueError(f"extra[{key!r}] would replace a built-in positions.json entry")
        entries[key] = value
    return entries


def checked_positions_inputs(
    n: int,
    m: int,
    positions_px: np.ndarray,
    rejected: Sequence[str | None],
    residuals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """positions.json's (n, 2) positions and (m, 2) pair residuals as float arrays, once they
    and ``rejected`` are checked against n tiles and m pairs (ValueError naming what does not
    fit)."""
    if len(rejected) != m:
        raise ValueError(f"{m} measurements but {len(rejected)} rejection reasons")
    positions = np.asarray(positions_px, dtype=float)
    if positions.shape != (n, 2):
        raise ValueError(f"positions_px has shape {positions.shape}; expected ({n}, 2)")
    unknown = {str(reason) for reason in rejected if reason not in (None, *REJECTION_REASONS)}
    if unknown:
        raise ValueError(f"unknown rejection reasons {sorted(unknown)}; known: {REJECTION_REASONS}")
    pair_residuals = np.asarray(residuals, dtype=float).reshape(-1, 2) if m else np.zeros((0, 2))
    if pair_residuals.shape != (m, 2):
        raise ValueError(f"residuals has {pair_residuals.shape[0]} rows; expected {m}")
    return positions, pair_residuals


def tile_residuals(
    n: int,
    measurements: Sequence[PairMeasurement],
    accepted: np.ndarray,
    residual_norms: np.ndarray,
) -> tuple[list[int], list[float | None]]:
    """Per tile: how many accepted pairs hold it in place, and the RMS of those pairs' residual
    lengths (px; None for a tile without an accepted pair with a residual)."""
    pair_ij = np.array([(p.i, p.j) for p in measurements], np.int64).reshape(-1, 2)
    counts, rms = tile_residual_arrays(n, pair_ij, accepted, residual_norms)
    return counts.tolist(), [value if math.isfinite(value) else None for value in rms.tolist()]


def tile_residual_arrays(
    n: int, pair_ij: np.ndarray, accepted: np.ndarray, residual_norms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`tile_residuals` from the pairs' (m, 2) tile indices, as arrays (NaN for no RMS). One
    computation for positions.json and the report, so that they agree to the last bit."""
    accepted = np.asarray(accepted, dtype=bool)
    norms = np.asarray(residual_norms, dtype=float)[accepted]
    ends = np.asarray(pair_ij, dtype=np.int64).reshape(-1, 2)[accepted]
    counts = np.bincount(ends.ravel(), minlength=n)
    finite = np.isfinite(norms)
    squared = np.where(finite, norms, 0.0) ** 2
    sums = np.bincount(ends[:, 0], squared, n) + np.bincount(ends[:, 1], squared, n)
    with_residual = np.bincount(ends[:, 0], finite, n) + np.bincount(ends[:, 1], finite, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, np.sqrt(sums / with_residual)


def fit_camera_stage_matrix(stage_xy: np.ndarray, positions_px: np.ndarray) -> np.ndarray | None:
    """The 2x2 M that best maps registered positions to stage coordinates.

    Least squares over tiles: ``stage_xy - mean(stage_xy) = (positions_px - mean(positions_px))
    @ M``, positions as (row, col). This is the camera-stage matrix the images imply, at the
    tiles' resolution (compare with the one used; print it with
    :func:`format_camera_stage_matrix`). None when the positions do not span two dimensions
    (fewer than 3 tiles, or a single row or column of tiles), as M is then undetermined.
    """
    stage = np.asarray(stage_xy, dtype=float).reshape(-1, 2)
    positions = np.asarray(positions_px, dtype=float).reshape(-1, 2)
    if len(stage) != len(positions):
        raise ValueError(f"{len(stage)} stage positions but {len(positions)} tile positions")
    finite = np.isfinite(stage).all(axis=1) & np.isfinite(positions).all(axis=1)
    stage, positions = stage[finite], positions[finite]
    if len(stage) < 3:
        return None
    centred = positions - positions.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    # A strip scan: the across-strip spread is stage noise only, so M would fit noise.
    if singular[1] <= 1e-3 * singular[0]:
        return None
    # Fitted in (row, col) on both sides, stage (y, x) ~ L @ (row, col) + t: then
    # stage_xy = (row, col) @ L^T with L^T's columns swapped back into (x, y) order.
    linear = fit("affine", positions, stage[:, ::-1]).matrix[:2, :2]
    return linear.T[:, ::-1].copy()


def format_camera_stage_matrix(matrix: np.ndarray, scale: float = 1.0) -> str:
    """One-line text of a camera-stage matrix, in openflexure-stitching's printed form.

    ``scale``: calibration image width / tile width. Matrices here are at the tiles' resolution;
    dividing by ``scale`` gives the matrix for the calibration resolution, which is what a user
    puts back into the microscope's settings or ``--csm_matrix`` (with
    ``--csm_calibration_width``). Example: ``[[-0.0022,  3.3979], [ 3.4064,  0.0039]]``.
    """
    # precision 4 and suppress_small keep one tiny term from switching all to e-notation.
    text = np.array2string(
        np.asarray(matrix, dtype=float) / scale, separator=", ", precision=4, suppress_small=True
    )
    return text.replace("\n", "")


# ------------------------------------------------------------------------------------------------


def stage_mapping(
    tiles: Sequence[Tile], positions: np.ndarray, csm_matrix: np.ndarray | None
) -> dict[str, np.ndarray] | None:
    """positions.json's ``stage_mapping`` (see ``STAGE_MAPPING_NOTE``) without its formula;
    None without a camera-stage matrix or without tiles that have stage coordinates."""
    with_stage = [t for t, tile in enumerate(tiles) if tile.stage_xyz is not None]
    if csm_matrix is None or not with_stage:
        return None
    matrix = np.asarray(csm_matrix, dtype=float)
    if matrix.shape != (2, 2):
        raise ValueError(f"csm_matrix has shape {matrix.shape}; expected (2, 2)")
    stage_xy = np.array(
        [[tile.stage_xyz[0], tile.stage_xyz[1]] for tile in tiles if tile.stage_xyz is not None],
        dtype=float,
    )
    return {
        "matrix": matrix,
        "stage_origin_xy": stage_xy.mean(axis=0),
        "position_origin_px": positions[with_stage].mean(axis=0),
    }


def generator() -> str:
    """positions.json's ``generator``: this package and its version."""
    # Imported here: the package's __init__ may import this module before defining it.
    from .._version import __version__

    return f"ofs-stitch {__version__}"


def common_tile_shape(tiles: Sequence[Tile]) -> list[int] | None:
    """positions.json's ``tile_shape``: [rows, cols] when every tile has it, else None."""
    shapes = {tile.shape for tile in tiles}
    return list(shapes.pop()) if len(shapes) == 1 else None


# Values that are already plain JSON: the common case, checked by exact type first (the
# abstract Mapping check below costs several times more, for each of ~13,000 values).
_PLAIN = (str, int, bool, type(None))


def json_ready(value: Any) -> Any:
    """Plain Python containers and numbers; non-finite floats become None (strict JSON)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(key): json_ready(item) for key, item in value.items()}
    if kind is list:
        return [json_ready(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"positions.json cannot hold a {type(value).__name__}")
