"""get.cluster_tree: clustree's nodes and edges."""

import numpy as np
import pytest

import pnmf
from pnmf.get._clusters import cluster_tree_tables


def test_cluster_tree_tables_on_a_hand_built_example():
    # 6 cells; finest scale 0 has clusters a,b,c; scale 1 merges a+b into X, c stays Y
    fine = ["a", "a", "b", "b", "c", "c"]
    mid = ["X", "X", "X", "Y", "Y", "Y"]  # one cell of b went to Y
    coarse = ["Z"] * 6
    nodes, edges = cluster_tree_tables([fine, mid, coarse])
    assert nodes.to_dict("records") == [
        {"node": "0:a", "scale": 0, "cluster": "a", "n_cells": 2},
        {"node": "0:b", "scale": 0, "cluster": "b", "n_cells": 2},
        {"node": "0:c", "scale": 0, "cluster": "c", "n_cells": 2},
        {"node": "1:X", "scale": 1, "cluster": "X", "n_cells": 3},
        {"node": "1:Y", "scale": 1, "cluster": "Y", "n_cells": 3},
        {"node": "2:Z", "scale": 2, "cluster": "Z", "n_cells": 6},
    ]
    lookup = edges.set_index(["parent", "child"])
    assert lookup.loc[("1:X", "0:a"), "n_cells"] == 2
    assert lookup.loc[("1:X", "0:a"), "in_prop"] == 1.0
    assert lookup.loc[("1:X", "0:b"), "in_prop"] == 0.5
    assert lookup.loc[("1:Y", "0:b"), "in_prop"] == 0.5
    assert lookup.loc[("1:Y", "0:c"), "in_prop"] == 1.0
    assert ("1:X", "0:c") not in lookup.index
    assert lookup.loc[("2:Z", "1:X"), "in_prop"] == 1.0
    # in_prop of the edges into each child sums to one
    assert np.allclose(edges.groupby("child")["in_prop"].sum(), 1.0)


def test_numeric_cluster_names_sort_naturally():
    nodes, _ = cluster_tree_tables([np.array(["10", "2", "1", "2"])])
    assert nodes["cluster"].tolist() == ["1", "2", "10"]


def test_cluster_tree_needs_leiden(populations):
    pnmf.tl.pnmf(populations, 4, n_scales=3, max_iter=20, max_sweeps=1)
    with pytest.raises(KeyError, match=r"run pnmf.tl.leiden"):
        pnmf.get.cluster_tree(populations)
