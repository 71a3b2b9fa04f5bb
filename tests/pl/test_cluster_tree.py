"""pl.cluster_tree: one node per cluster and scale, edges by shared cells, coloured by clusters or a column."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from plot_checks import assert_drawn

import pnmf


def test_cluster_tree_draws_one_node_per_cluster(result):
    fig = pnmf.pl.cluster_tree(result, return_fig=True)
    ax = fig.axes[0]
    nodes = next(c for c in ax.collections if isinstance(c, PathCollection))
    n_clusters = int(result.uns["pnmf"]["clusters"]["leiden"]["n_clusters"].sum())
    assert len(nodes.get_offsets()) == n_clusters
    _, edges = pnmf.get.cluster_tree(result)
    lines = next(c for c in ax.collections if isinstance(c, LineCollection))
    assert len(lines.get_segments()) == int((edges["in_prop"] >= 0.1).sum())
    # coarsest scale is drawn on the top row
    assert max(np.asarray(nodes.get_offsets())[:, 1]) == 3
    assert_drawn(fig)


@pytest.mark.parametrize("color", ["cell_type", "total_counts"])
def test_cluster_tree_colour_by_obs(result, color):
    fig = pnmf.pl.cluster_tree(result, color, min_edge_share=0.3, return_fig=True)
    assert_drawn(fig)


def test_cluster_tree_needs_leiden(populations_base):
    adata = populations_base.copy()
    pnmf.tl.pnmf(adata, 3, n_scales=2, max_iter=5, max_sweeps=0)
    with pytest.raises(KeyError, match=r"run pnmf\.tl\.leiden"):
        pnmf.pl.cluster_tree(adata, show=False)


def test_cluster_tree_accepts_a_column_with_missing_values(annotated):
    fig = pnmf.pl.cluster_tree(annotated, "group", return_fig=True)
    assert fig.axes
    plt.close(fig)
