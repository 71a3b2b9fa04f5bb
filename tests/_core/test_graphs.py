from dataclasses import replace

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from pnmf._core.graphs import scale_graph, scale_graphs
from pnmf._core.persistence import EdgeList, graph_persistence
from pnmf._core.pooling import Pooling


@pytest.fixture
def edges(rng):
    points = rng.normal(size=(60, 3))
    rows, cols = np.triu_indices(60, k=1)
    return EdgeList(
        60, rows.astype(np.int64), cols.astype(np.int64), np.linalg.norm(points[rows] - points[cols], axis=1)
    )


def dense_laplacian(graph):
    return np.diag(graph.degree) - graph.adjacency.toarray()


def test_keeps_exactly_the_edges_strictly_below_threshold(edges):
    for threshold in (float(np.median(edges.lengths)), float(np.sort(edges.lengths)[10])):
        graph = scale_graph(edges, threshold)
        expected = set(np.flatnonzero(edges.lengths < threshold).tolist())
        assert graph.n_edges == len(expected)
        coo = graph.adjacency.tocoo()
        kept = {(int(r), int(c)) for r, c in zip(coo.row, coo.col, strict=True) if r < c}
        assert kept == {(int(edges.rows[e]), int(edges.cols[e])) for e in expected}


def test_components_are_the_persistence_components_at_every_threshold(edges):
    persistence = graph_persistence(edges)
    thresholds = np.quantile(edges.lengths, [0.002, 0.01, 0.05, 0.2])
    for graph, threshold in zip(scale_graphs(edges, thresholds), thresholds, strict=True):
        n_components, _ = connected_components(graph.adjacency, directed=False)
        assert n_components == persistence.n_connected(np.array([threshold]))[0]


def test_cells_without_an_edge_below_the_threshold_have_degree_zero(edges):
    threshold = float(np.sort(edges.lengths)[10])
    graph = scale_graph(edges, threshold)
    short = edges.lengths < threshold
    joined = np.zeros(60, dtype=bool)
    joined[edges.rows[short]] = joined[edges.cols[short]] = True
    assert (~joined).sum() > 30  # most cells are alone at this threshold
    np.testing.assert_array_equal(graph.degree == 0, ~joined)


def test_laplacian_is_symmetric_psd_with_zero_row_sums(edges, rng):
    graph = scale_graph(edges, float(np.quantile(edges.lengths, 0.3)))
    laplacian = dense_laplacian(graph)
    np.testing.assert_allclose(laplacian, laplacian.T)
    np.testing.assert_allclose(laplacian.sum(axis=1), 0, atol=1e-12)
    assert np.linalg.eigvalsh(laplacian).min() > -1e-10
    U = rng.random((60, 4))
    assert graph.quadratic_form(U) == pytest.approx(np.trace(U.T @ laplacian @ U))


def test_weights_are_the_heat_kernel_normalized_symmetrically(edges):
    threshold = float(np.quantile(edges.lengths, 0.2))
    graph = scale_graph(edges, threshold)
    coo = graph.adjacency.tocoo()
    lengths = {(int(r), int(c)): d for r, c, d in zip(edges.rows, edges.cols, edges.lengths, strict=True)}
    kernel = np.zeros((60, 60))
    for r, c in zip(coo.row, coo.col, strict=True):
        d = lengths[(min(r, c), max(r, c))]
        kernel[r, c] = np.exp(-((d / threshold) ** 2))
    scaling = np.zeros(60)
    raw_degree = kernel.sum(axis=1)
    scaling[raw_degree > 0] = 1 / np.sqrt(raw_degree[raw_degree > 0])  # a cell without edges keeps none
    expected = kernel * np.outer(scaling, scaling)
    np.testing.assert_allclose(graph.adjacency.toarray(), expected, rtol=1e-12)
    np.testing.assert_allclose(graph.degree, expected.sum(axis=1), rtol=1e-12)


def test_at_the_shortest_edge_no_edge_remains(edges):
    graph = scale_graph(edges, float(edges.lengths.min()))
    assert graph.n_edges == 0
    assert not graph.degree.any()


def test_scales_share_one_edge_array_and_match_graphs_built_alone(edges):
    thresholds = np.append(np.quantile(edges.lengths, [0.0, 0.05, 0.3]), 1.01 * edges.lengths.max())
    graphs = scale_graphs(edges, thresholds)
    assert all(graph.edges is graphs[0].edges for graph in graphs)
    assert len(graphs[0].edges.indices) == 2 * len(edges)  # every edge stored once per direction, not once per scale
    for graph, threshold in zip(graphs, thresholds, strict=True):
        alone = scale_graph(edges, float(threshold))
        np.testing.assert_allclose(graph.adjacency.toarray(), alone.adjacency.toarray(), rtol=1e-14)
        assert graph.n_edges == alone.n_edges
    counts = [graph.n_edges for graph in graphs]
    assert counts == sorted(counts)
    assert counts[0] < counts[-1] == len(edges)


def test_a_zero_threshold_gives_an_empty_laplacian(edges, rng):
    graph = scale_graph(edges, 0.0)
    assert not graph.degree.any()
    assert graph.quadratic_form(rng.random((60, 3))) == 0.0


def test_the_bulk_term_smooths_only_edges_between_cells_not_pooled(edges, rng):
    graph = scale_graph(edges, float(np.median(edges.lengths)))
    groups = np.where(rng.random(60) < 0.5, rng.integers(0, 3, 60), -1)
    _, groups[groups >= 0] = np.unique(groups[groups >= 0], return_inverse=True)
    graph = replace(graph, pooling=Pooling(groups, np.bincount(groups[groups >= 0]).astype(float), 1.0))
    bulk = groups < 0
    adjacency = graph.adjacency.toarray() * np.outer(bulk, bulk)
    laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
    U = rng.random((60, 3))
    assert graph.bulk_quadratic_form(U) == pytest.approx(np.trace(U.T @ laplacian @ U), rel=1e-10)
    np.testing.assert_allclose(graph.bulk_degree[~bulk], 0.0)
    # the combined term reads as weight · L + bulk_weight · B
    edge_weights, degree, factor = graph.smoothing(2.0, 5.0)
    combined = np.zeros((60, 60))
    for i in range(60):
        entries = slice(graph.starts[i], graph.stops[i])
        combined[i, graph.edges.indices[entries]] = edge_weights[entries] * factor
    np.testing.assert_allclose(combined, 2.0 * graph.adjacency.toarray() + 5.0 * adjacency, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(degree * factor, 2.0 * graph.degree + 5.0 * adjacency.sum(axis=1), rtol=1e-12)
    # and its quadratic form, from the weights as filled, is tr(Uᵀ (2 L + 5 B) U)
    full = graph.adjacency.toarray()
    combined_laplacian = 2.0 * (np.diag(full.sum(axis=1)) - full) + 5.0 * laplacian
    assert graph.smoothed_quadratic_form(U, graph.smoothing(2.0, 5.0)) == pytest.approx(
        np.trace(U.T @ combined_laplacian @ U), rel=1e-10
    )
    # without a bulk weight, the graph's own weights
    smoothing = graph.smoothing(2.0, 0.0)
    edge_weights, degree, factor = smoothing
    assert factor == 2.0
    np.testing.assert_array_equal(degree, graph.degree)
    assert graph.smoothed_quadratic_form(U, smoothing) == pytest.approx(2.0 * graph.quadratic_form(U), rel=1e-12)
