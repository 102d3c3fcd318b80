"""core.components: groups of items joined by pairs, against scipy's connected components."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ofs_stitch.core.components import DisjointSets, component_labels


def test_labels_name_each_group_by_its_smallest_item() -> None:
    labels = component_labels([(4, 2), (2, 7), (5, 1), (3, 3)], 8)
    assert labels.tolist() == [0, 1, 2, 3, 2, 1, 6, 2]


def test_components_agree_with_scipy_on_random_graphs() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        pairs = rng.integers(0, n, size=(int(rng.integers(0, 80)), 2))
        labels = component_labels(pairs.tolist(), n)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, theirs = connected_components(graph, directed=False)
        # The same partition: two items share a label exactly when scipy's labels agree.
        assert ((labels[:, None] == labels[None, :]) == (theirs[:, None] == theirs[None, :])).all()
        assert all(labels[k] <= k for k in range(n))


def test_join_says_whether_it_joined_two_groups() -> None:
    groups = DisjointSets(4)
    assert groups.join(0, 1)
    assert groups.join(2, 3)
    assert not groups.join(1, 0)
    assert groups.join(3, 1)
    assert not groups.join(0, 2)
    assert groups.labels().tolist() == [0, 0, 0, 0]
