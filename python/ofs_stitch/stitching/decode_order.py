"""The order in which pair measurement decodes tiles, and how many overlap strips it keeps waiting.

A pair is measured once both of its tiles are decoded; until then the strip cut from the tile
decoded first waits in memory. How many wait at once depends only on the order of decoding. On a
scan of R rows and C columns, row by row keeps about C waiting (each tile of a row waits for the
one below it), column by column about R; an order that jumps about (a column-by-column capture
measured row by row, files in shuffled order) keeps most of the scan waiting.

``--priority time`` decodes in capture order (the tiles' index order), as it always has.
``--priority memory`` takes, of capture order, sweeps of the scan's rows and of its columns and
the reverse Cuthill-McKee order of the pair graph (for layouts that are no grid), the one that
keeps the fewest strip pixels waiting: never more than capture order does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Tiles whose positions across the sweep differ by less than this fraction of a tile sit in one
# band (one row of a row sweep). Stage error within a row is a few percent of a tile; rows of a
# scan are (1 - overlap) of a tile apart, so this splits rows of overlaps up to 75 %.
BAND_GAP_FRACTION = 0.25


@dataclass(frozen=True)
class DecodeOrder:
    """Tiles in the order they are decoded, and what that order keeps waiting.

    Indexes into ``tiles``, ``completes``, ``waiting`` and ``waiting_pixels`` are decode steps.
    """

    tiles: tuple[int, ...]
    # The pairs (indexes into the pair list) whose second tile is tiles[k]: measured from then.
    completes: tuple[tuple[int, ...], ...]
    # Strips waiting for the other tile of their pair once tiles[k] is decoded.
    waiting: tuple[int, ...]
    waiting_pixels: tuple[int, ...]

    @property
    def most_waiting(self) -> int:
        return max(self.waiting, default=0)

    @property
    def most_waiting_pixels(self) -> int:
        return max(self.waiting_pixels, default=0)


def evaluate_order(
    tiles: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    strip_pixels: Sequence[int] | None = None,
) -> DecodeOrder:
    """What decoding ``tiles`` in this order keeps waiting; ``strip_pixels[p]``: the size of
    pair p's strips (1 each when not given). ``tiles`` must list each tile of the pairs once."""
    step_of = {tile: step for step, tile in enumerate(tiles)}
    if len(step_of) != len(tiles) or not all(i in step_of and j in step_of for i, j in pairs):
        raise ValueError("a decode order must list every tile of the pairs exactly once")
    sizes = [1] * len(pairs) if strip_pixels is None else strip_pixels
    count_change = np.zeros(len(tiles) + 1, dtype=np.int64)
    pixel_change = np.zeros(len(tiles) + 1, dtype=np.int64)
    completes: list[list[int]] = [[] for _ in tiles]
    for index, ((i, j), size) in enumerate(zip(pairs, sizes, strict=True)):
        first, second = sorted((step_of[i], step_of[j]))
        # The first tile's strip waits from its decode until the second tile's decode.
        count_change[first] += 1
        count_change[second] -= 1
        pixel_change[first] += size
        pixel_change[second] -= size
        completes[second].append(index)
    return DecodeOrder(
        tiles=tuple(int(t) for t in tiles),
        completes=tuple(tuple(c) for c in completes),
        waiting=tuple(int(n) for n in np.cumsum(count_change)[:-1]),
        waiting_pixels=tuple(int(n) for n in np.cumsum(pixel_change)[:-1]),
    )


def tiles_of(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """The tiles that take part in some pair, in index (capture) order."""
    return sorted({t for pair in pairs for t in pair})


def sweep(
    positions: np.ndarray, tile_shape: tuple[int, int], tiles: Sequence[int], axis: int
) -> list[int]:
    """``tiles`` band by band across ``axis`` (0: rows, top to bottom; 1: columns, left to
    right), each band swept along the other axis, every other band backwards (a snake, so
    consecutive tiles touch)."""
    across, along = positions[:, axis], positions[:, 1 - axis]
    gap = BAND_GAP_FRACTION * tile_shape[axis]
    bands: list[list[int]] = []
    previous = None
    for tile in sorted(tiles, key=lambda t: (across[t], t)):
        if previous is None or across[tile] - previous > gap:
            bands.append([])
        bands[-1].append(tile)
        previous = across[tile]
    order: list[int] = []
    for number, band in enumerate(bands):
        band.sort(key=lambda t: (along[t], t), reverse=number % 2 == 1)
        order += band
    return order


def pair_graph_order(tiles: Sequence[int], pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Reverse Cuthill-McKee over the pair graph: each tile close in the order to the tiles it
    pairs with, whatever the layout's shape."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    node_of = {tile: node for node, tile in enumerate(tiles)}
    rows = [node_of[i] for i, _ in pairs]
    cols = [node_of[j] for _, j in pairs]
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (rows, cols)), shape=(len(tiles), len(tiles))
    )
    graph = (graph + graph.T).tocsr()
    return [tiles[node] for node in reverse_cuthill_mckee(graph, symmetric_mode=True)]


def least_waiting_order(
    positions: np.ndarray,
    tile_shape: tuple[int, int],
    pairs: Sequence[tuple[int, int]],
    strip_pixels: Sequence[int] | None = None,
) -> DecodeOrder:
    """The order, of capture order, row and column sweeps and the pair graph's, that keeps the
    fewest strip pixels waiting at its worst moment (capture order when it ties).

    ``positions``: (n, 2) starting (row, col) of every tile; ``tile_shape``: (rows, cols).
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    tiles = tiles_of(pairs)
    candidates = [
        tiles,
        sweep(positions, tile_shape, tiles, axis=0),
        sweep(positions, tile_shape, tiles, axis=1),
        pair_graph_order(tiles, pairs),
    ]
    evaluated = [evaluate_order(order, pairs, strip_pixels) for order in candidates]
    # min() keeps the first of equals: capture order wins ties.
    return min(evaluated, key=lambda order: order.most_waiting_pixels)
