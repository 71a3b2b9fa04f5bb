"""Bridging a disconnected graph by the dual-tree search: the exact closest pairs, checked by brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist, pdist, squareform

from pnmf._core.persistence import (
    TREE_MAX_DIMS,
    DualTreeSearch,
    EdgeList,
    bridge_components,
    graph_persistence,
    join_below,
)


def grouped_points(generator, sizes, dims, spread=3.0):
    """Groups of the given sizes around random centres, PCA-like spread, and chains joining each group's points."""
    axis_spread = np.geomspace(1.0, 0.05, dims)
    centres = generator.normal(size=(len(sizes), dims)) * axis_spread * spread
    points = np.vstack(
        [c + generator.normal(size=(s, dims)) * axis_spread * 0.3 for c, s in zip(centres, sizes, strict=True)]
    )
    groups = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rows = np.concatenate([np.arange(b, b + s - 1) for b, s in zip(starts, sizes, strict=True)])
    return points, groups, EdgeList.from_pairs(len(points), rows, rows + 1, points)


def component_merge_heights(points, groups):
    """Exact single-linkage merge heights of the groups: the spanning tree of their closest-pair distances."""
    n_groups = groups.max() + 1
    between = np.zeros((n_groups, n_groups))
    for a in range(n_groups):
        for b in range(a + 1, n_groups):
            between[a, b] = cdist(points[groups == a], points[groups == b]).min()
    return np.sort(minimum_spanning_tree(between).data)


@pytest.mark.parametrize("dims", [5, TREE_MAX_DIMS + 10, 50])
def test_dual_tree_bridges_are_the_exact_merge_heights(rng, dims):
    # components of very different sizes, a single point among them
    sizes = [400, 1, 120, 3, 60, 1, 250, 17]
    points, groups, edges = grouped_points(rng, sizes, dims)
    dual = bridge_components(points, edges, method="dual")
    brute = bridge_components(points, edges, method="brute")
    assert len(dual) == len(brute) == len(sizes) - 1
    exact = component_merge_heights(points, groups)
    np.testing.assert_allclose(np.sort(dual.lengths), exact, rtol=1e-12)
    np.testing.assert_allclose(np.sort(brute.lengths), exact, rtol=1e-12)
    assert np.all(dual.rows < dual.cols)
    assert np.all(groups[dual.rows] != groups[dual.cols])


def test_default_bridging_is_the_dual_tree(rng):
    points, _, edges = grouped_points(rng, [200, 1, 40, 90], TREE_MAX_DIMS + 10)
    chosen, dual = bridge_components(points, edges), bridge_components(points, edges, method="dual")
    np.testing.assert_array_equal(chosen.rows, dual.rows)
    np.testing.assert_array_equal(chosen.cols, dual.cols)


def test_bridged_deaths_are_single_linkage_heights(rng):
    # groups far apart: the bridged graph's largest deaths are the single-linkage merge heights of all the points
    sizes = [300, 1, 80, 150, 5]
    points, _, edges = grouped_points(rng, sizes, 30, spread=40.0)
    bridged = graph_persistence(edges.concat(bridge_components(points, edges)))
    assert bridged.n_essential == 1
    heights = np.sort(linkage(points, method="single")[:, 2])
    np.testing.assert_allclose(bridged.deaths[-(len(sizes) - 1) :], heights[-(len(sizes) - 1) :], rtol=1e-12)
    # the groups are apart: the merges that join them are the largest of all
    assert heights[-len(sizes)] < heights[-(len(sizes) - 1)] / 2


def test_every_point_alone_gives_the_euclidean_spanning_tree(rng):
    # no edges at all: Borůvka over single points, many rounds
    points = rng.normal(size=(300, 25)) * np.geomspace(1.0, 0.1, 25)
    empty = np.empty(0, dtype=np.int64)
    bridges = bridge_components(points, EdgeList(len(points), empty, empty, np.empty(0)), method="dual")
    assert len(bridges) == len(points) - 1
    np.testing.assert_allclose(
        np.sort(bridges.lengths), np.sort(minimum_spanning_tree(squareform(pdist(points))).data), rtol=1e-12
    )


def test_duplicates_across_components_bridge_at_zero(rng):
    points, _, edges = grouped_points(rng, [50, 30, 20], 30)
    points[60] = points[10]  # a point of the second group on top of one of the first
    bridges = bridge_components(points, edges, method="dual")
    assert len(bridges) == 2
    assert np.sort(bridges.lengths)[0] == 0.0


def test_connected_graph_needs_no_bridge(rng):
    points, _, edges = grouped_points(rng, [70], 30)
    assert len(bridge_components(points, edges, method="dual")) == 0


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 60), min_size=2, max_size=12),
    dims=st.integers(1, 40),
    spread=st.floats(0.0, 10.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_dual_tree_equals_brute_force_on_random_groups(sizes, dims, spread, seed):
    # overlapping or apart groups, from one dimension to forty: the same closest pairs' lengths as brute force
    generator = np.random.default_rng(seed)
    points, groups, edges = grouped_points(generator, sizes, dims, spread)
    dual = bridge_components(points, edges, method="dual")
    brute = bridge_components(points, edges, method="brute")
    assert len(dual) == len(brute)
    # brute force measures by the expansion |a|² + |b|² - 2ab, which loses digits on near pairs
    np.testing.assert_allclose(np.sort(dual.lengths), np.sort(brute.lengths), rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(np.sort(dual.lengths), component_merge_heights(points, groups), rtol=1e-12, atol=1e-12)


def test_join_below_finds_exactly_the_merges_below_its_threshold(rng):
    points, groups, edges = grouped_points(rng, [300, 80, 40, 25, 12], 8)
    heights = component_merge_heights(points, groups)
    threshold = float(np.median(heights))  # some merges below it, some above
    search = DualTreeSearch(points)
    joined = join_below(edges, threshold, search)
    assert (joined.lengths < threshold).all()
    assert len(joined) == int((heights < threshold).sum())
    np.testing.assert_allclose(np.sort(joined.lengths), heights[heights < threshold])


def test_join_below_leaves_a_lone_cell_alone(rng):
    # stray cells near a cluster whose edges to it the graph lacks, as an approximate kNN search can miss them
    cluster = rng.normal(scale=0.1, size=(30, 2))
    chain = np.arange(29)

    def joined(strays, stray_edges):
        points = np.vstack([cluster, strays])
        rows = np.r_[chain, stray_edges[0]]
        edges = EdgeList.from_pairs(len(points), rows, np.r_[chain + 1, stray_edges[1]], points)
        return join_below(edges, 1.0, DualTreeSearch(points))

    # a lone cell is left out: its nearest neighbour should have been one of its edges
    assert len(joined(np.array([[0.5, 0.0]]), ([], []))) == 0
    # two cells joined to each other are a component, searched: they join the cluster below the threshold
    pair = joined(np.array([[0.5, 0.0], [0.6, 0.0]]), ([30], [31]))
    assert len(pair) == 1
    assert pair.lengths[0] < 1.0
    assert pair.rows[0] < 30 <= pair.cols[0]
