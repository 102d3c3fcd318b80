"""Groups of items joined by pairs: which tiles or frames a chain of accepted pairs connects.

A union-find in plain Python: `scipy.sparse.csgraph.connected_components` does the same, but
importing scipy.sparse costs a fresh process about 0.2 CPU s, more than this takes on 10^4
pairs (``ofs drift`` and ``ofs stack`` are often run on small series, where that import would
be a noticeable part of the run).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class DisjointSets:
    """Items 0..n-1, each in its own group until `join`ed."""

    def __init__(self, n: int) -> None:
        self._parent = list(range(n))

    def root(self, item: int) -> int:
        """The group's representative (the same for every item of a group)."""
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]  # halve the path as we go
            item = parent[item]
        return item

    def join(self, a: int, b: int) -> bool:
        """Put ``a`` and ``b`` in one group; False when they were in one already. The
        smaller representative is kept, so that `labels` names each group by its smallest
        item."""
        root_a, root_b = self.root(a), self.root(b)
        if root_a == root_b:
            return False
        self._parent[max(root_a, root_b)] = min(root_a, root_b)
        return True

    def labels(self) -> np.ndarray:
        """Each item's group, as the group's smallest item."""
        return np.array([self.root(item) for item in range(len(self._parent))], np.int64)


def component_labels(pairs: Iterable[tuple[int, int]], n: int) -> np.ndarray:
    """The connected component of each of ``n`` items in the graph of ``pairs`` (i, j), as
    the component's smallest item."""
    groups = DisjointSets(n)
    for a, b in pairs:
        groups.join(int(a), int(b))
    return groups.labels()
