import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_array
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform
from sklearn.neighbors import NearestNeighbors

from pnmf._core.persistence import (
    TREE_MAX_DIMS,
    EdgeList,
    bridge_components,
    graph_persistence,
    graph_persistence_gudhi,
    rips_persistence,
)


def knn_edges(points, k):
    graph = NearestNeighbors(n_neighbors=k).fit(points).kneighbors_graph(mode="connectivity").tocoo()
    return EdgeList.from_pairs(len(points), graph.row, graph.col, points)


def mst_weights(edges):
    graph = coo_array((edges.lengths, (edges.rows, edges.cols)), shape=(edges.n_nodes,) * 2).tocsr()
    return np.sort(minimum_spanning_tree(graph).data)


def test_edge_list_deduplicates_and_measures(rng):
    points = rng.normal(size=(5, 3))
    edges = EdgeList.from_pairs(5, np.array([0, 1, 2, 2]), np.array([1, 0, 2, 4]), points)
    assert list(zip(edges.rows, edges.cols, strict=True)) == [(0, 1), (2, 4)]
    np.testing.assert_allclose(
        edges.lengths, [np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[4])]
    )


def test_graph_deaths_equal_minimum_spanning_tree(rng):
    points = rng.normal(size=(400, 5))
    edges = knn_edges(points, 8)
    edges = edges.concat(bridge_components(points, edges))
    persistence = graph_persistence(edges)
    assert persistence.n_essential == 1
    np.testing.assert_allclose(persistence.deaths, mst_weights(edges))


def test_rips_matches_gudhi_and_complete_graph_mst(rng):
    points = rng.normal(size=(120, 4))
    persistence = rips_persistence(points)
    complete = squareform(pdist(points))
    np.testing.assert_allclose(persistence.deaths, np.sort(minimum_spanning_tree(complete).data))
    reference = gudhi.RipsComplex(points=points).create_simplex_tree(max_dimension=1)
    reference.compute_persistence()
    finite = reference.persistence_intervals_in_dimension(0)[:, 1]
    np.testing.assert_allclose(persistence.deaths, np.sort(finite[np.isfinite(finite)]))


def test_bridged_knn_equals_rips_on_separated_blobs(rng):
    # three far-apart blobs: the 5-NN graph is disconnected, bridging must recover the exact
    # single-linkage merge heights, which are the two largest Rips deaths
    centres = np.array([[0.0, 0, 0], [40, 0, 0], [0, 90, 0]])
    points = np.vstack([c + rng.normal(size=(60, 3)) for c in centres])
    edges = knn_edges(points, 5)
    bridges = bridge_components(points, edges)
    assert len(bridges) == 2
    bridged = graph_persistence(edges.concat(bridges))
    exact = rips_persistence(points)
    np.testing.assert_allclose(bridged.deaths[-2:], exact.deaths[-2:])
    # a subgraph merges no earlier than the complete graph: its sorted deaths dominate
    assert np.all(bridged.deaths >= exact.deaths - 1e-12)
    assert np.mean(np.isclose(bridged.deaths, exact.deaths)) > 0.9


def test_unbridged_disconnected_graph_misses_separation_scales(rng):
    points = np.vstack([rng.normal(size=(50, 2)), 100 + rng.normal(size=(50, 2))])
    edges = knn_edges(points, 4)
    persistence = graph_persistence(edges)
    assert persistence.n_essential == 2
    assert persistence.deaths.max() < 10


def test_duplicate_points_die_at_zero(rng):
    points = rng.normal(size=(30, 3))
    points = np.vstack([points, points[:5]])
    edges = knn_edges(points, 6)
    persistence = graph_persistence(edges.concat(bridge_components(points, edges)))
    assert np.sum(persistence.deaths == 0) == 5
    assert persistence.n_connected(0.0) == 35
    assert persistence.n_connected(1e-12) == 30


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_deaths_are_mst_weights_on_random_graphs(n, density, seed):
    generator = np.random.default_rng(seed)
    rows, cols = np.triu_indices(n, k=1)
    keep = generator.random(len(rows)) < density
    lengths = generator.random(keep.sum()) + 0.01
    edges = EdgeList(n, rows[keep].astype(np.int64), cols[keep].astype(np.int64), lengths)
    persistence = graph_persistence(edges)
    np.testing.assert_allclose(persistence.deaths, mst_weights(edges))
    thresholds = np.sort(generator.random(10) * 1.2)
    counts = persistence.n_connected(thresholds)
    assert np.all(np.diff(counts) <= 0)
    assert counts[0] <= n
    assert persistence.n_connected(np.inf) == persistence.n_essential


@pytest.mark.parametrize("block_bytes", [1 << 10, 1 << 27])
def test_bridging_is_independent_of_block_size(rng, block_bytes):
    points = np.vstack([rng.normal(size=(40, 2)) + offset for offset in (0, 30, 70)])
    edges = knn_edges(points, 3)
    bridges = bridge_components(points, edges, block_bytes=block_bytes, method="brute")
    reference = bridge_components(points, edges, method="brute")
    np.testing.assert_allclose(np.sort(bridges.lengths), np.sort(reference.lengths))


@pytest.mark.parametrize("dims", [3, TREE_MAX_DIMS + 30])
def test_bridging_chooses_a_search_and_finds_the_exact_bridges(rng, dims):
    # the default dual-tree search, below and above TREE_MAX_DIMS dimensions: the same closest pairs as brute force
    points = np.vstack([rng.normal(size=(60, dims)) + offset for offset in (0, 8, 20, 45)])
    edges = knn_edges(points, 3)
    chosen = bridge_components(points, edges)
    brute = bridge_components(points, edges, method="brute")
    assert len(chosen) == len(brute) >= 3
    np.testing.assert_allclose(np.sort(chosen.lengths), np.sort(brute.lengths), rtol=1e-12)


#: The arguments of :func:`tied_edges`, for hypothesis.
TIED_GRAPHS = {
    "n": st.integers(1, 40),
    "density": st.floats(0.0, 1.0),
    "zeros": st.floats(0.0, 0.5),
    "seed": st.integers(0, 2**31 - 1),
}


def tied_edges(n, density, zeros, generator):
    """A random graph on n nodes whose lengths tie, with zero-length edges, each edge doubled by a longer parallel one."""
    rows, cols = np.triu_indices(n, k=1)
    keep = generator.random(len(rows)) < density
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    lengths = np.round(generator.random(len(rows)), 1)  # ties
    lengths[generator.random(len(rows)) < zeros] = 0.0
    edges = EdgeList(n, rows, cols, lengths)
    return edges.concat(EdgeList(n, rows, cols, lengths + 0.05))  # parallel, longer: must not count


@settings(max_examples=40, deadline=None)
@given(**TIED_GRAPHS)
def test_spanning_forest_deaths_are_gudhis(n, density, zeros, seed):
    # scipy's minimum spanning tree against gudhi's simplex tree, with ties, zero-length and parallel edges
    edges = tied_edges(n, density, zeros, np.random.default_rng(seed))
    ours, theirs = graph_persistence(edges), graph_persistence_gudhi(edges)
    np.testing.assert_array_equal(ours.deaths, theirs.deaths)
    assert ours.n_essential == theirs.n_essential


def test_bridging_many_components_by_trees_is_exact(rng):
    # a giant blob and 400 small clusters of 1 to 6 cells, scattered: hundreds of bridges in several rounds
    giant = rng.normal(size=(1500, 4))
    small = [rng.normal(size=(1 + i % 6, 4)) * 0.05 + rng.uniform(-12, 12, size=4) for i in range(400)]
    points = np.vstack([giant, *small])
    edges = knn_edges(points, 3)
    edges = EdgeList(edges.n_nodes, edges.rows, edges.cols, edges.lengths)
    tree = bridge_components(points, edges, method="tree")
    brute = bridge_components(points, edges, method="brute")
    assert len(tree) == len(brute) > 100
    np.testing.assert_allclose(np.sort(tree.lengths), np.sort(brute.lengths), rtol=1e-12)
    bridged_tree = graph_persistence(edges.concat(tree))
    bridged_brute = graph_persistence(edges.concat(brute))
    assert bridged_tree.n_essential == bridged_brute.n_essential == 1
    np.testing.assert_allclose(bridged_tree.deaths, bridged_brute.deaths, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(**TIED_GRAPHS)
def test_the_forest_stands_for_its_graph_when_edges_are_added(n, density, zeros, seed):
    # a subgraph with the graph's persistence, before and after the same new edges (ties, zeros, parallel edges)
    generator = np.random.default_rng(seed)
    edges = tied_edges(n, density, zeros, generator)
    persistence = graph_persistence(edges)
    forest = persistence.forest
    assert set(zip(forest.rows, forest.cols, forest.lengths, strict=True)) <= set(
        zip(edges.rows, edges.cols, edges.lengths, strict=True)
    )
    assert len(forest) == n - persistence.n_essential - np.sum(persistence.deaths == 0) + np.sum(edges.lengths == 0)
    np.testing.assert_array_equal(graph_persistence(forest).deaths, persistence.deaths)
    more = generator.integers(0, max(n, 1), (2, 10))
    added = EdgeList(n, more.min(axis=0), more.max(axis=0), np.round(generator.random(10), 2))
    on_graph, on_forest = graph_persistence(edges.concat(added)), graph_persistence(forest.concat(added))
    np.testing.assert_array_equal(on_forest.deaths, on_graph.deaths)
    assert on_forest.n_essential == on_graph.n_essential
