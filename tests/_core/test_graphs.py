import numpy as np
import pytest

from pnmf._core.graphs import scale_graph
from pnmf._core.persistence import EdgeList


@pytest.fixture
def edges(rng):
    points = rng.normal(size=(60, 3))
    rows, cols = np.triu_indices(60, k=1)
    return EdgeList(
        60, rows.astype(np.int64), cols.astype(np.int64), np.linalg.norm(points[rows] - points[cols], axis=1)
    )


def dense_laplacian(graph):
    return np.diag(graph.degree) - graph.adjacency.toarray()


def test_keeps_only_edges_strictly_below_threshold(edges):
    threshold = float(np.median(edges.lengths))
    graph = scale_graph(edges, threshold)
    assert graph.n_edges == int(np.sum(edges.lengths < threshold))
    exact = scale_graph(edges, float(np.sort(edges.lengths)[10]))
    assert exact.n_edges == 10


def test_laplacian_is_symmetric_psd_with_zero_row_sums(edges, rng):
    graph = scale_graph(edges, float(np.quantile(edges.lengths, 0.3)))
    laplacian = dense_laplacian(graph)
    np.testing.assert_allclose(laplacian, laplacian.T)
    np.testing.assert_allclose(laplacian.sum(axis=1), 0, atol=1e-12)
    assert np.linalg.eigvalsh(laplacian).min() > -1e-10
    U = rng.random((60, 4))
    assert graph.quadratic_form(U) == pytest.approx(np.trace(U.T @ laplacian @ U))


def test_weights_follow_the_scale_and_mean_degree_is_one(edges):
    threshold = float(np.quantile(edges.lengths, 0.5))
    graph = scale_graph(edges, threshold)
    connected = graph.degree > 0
    assert graph.degree[connected].mean() == pytest.approx(1.0)
    raw = np.exp(-((edges.lengths[edges.lengths < threshold] / threshold) ** 2))
    assert raw.min() > np.exp(-1)
    # the stored weights are the heat-kernel weights divided by one constant
    ratios = np.sort(np.r_[raw, raw]) / np.sort(graph.adjacency.data)
    assert np.ptp(ratios) < 1e-9 * ratios[0]


def test_below_every_edge_the_graph_is_empty(edges):
    graph = scale_graph(edges, float(edges.lengths.min()))
    assert graph.n_edges == 0
    assert graph.adjacency.nnz == 0
    assert not graph.degree.any()
