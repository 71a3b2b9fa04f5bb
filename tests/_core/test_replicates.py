"""Subsampled graphs, random starts and the refit with fixed loadings."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from pnmf._core.expression import Expression
from pnmf._core.graphs import scale_graph
from pnmf._core.persistence import EdgeList
from pnmf._core.replicates import random_start, refit_embeddings, subsample_cells
from pnmf._core.solver import Weights


def test_subsample_is_sorted_seeded_and_sized():
    a = subsample_cells(100, 0.8, np.random.default_rng(1))
    b = subsample_cells(100, 0.8, np.random.default_rng(1))
    c = subsample_cells(100, 0.8, np.random.default_rng(2))
    assert len(a) == 80
    assert (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(subsample_cells(10, 1.0, np.random.default_rng(0)), np.arange(10))


def test_induced_edges_are_the_subsample_edges_renumbered(rng):
    points = rng.standard_normal((40, 3))
    rows, cols = np.triu_indices(40, k=1)
    keep = rng.random(len(rows)) < 0.3
    edges = EdgeList.from_pairs(40, rows[keep], cols[keep], points)
    cells = np.sort(rng.choice(40, 25, replace=False))
    sub = edges.induced(cells)
    # the same edges, found by brute force on the subsample's own points
    pairs = {(a, b) for a, b in zip(edges.rows, edges.cols, strict=True)}
    expected = [(i, j) for i in range(25) for j in range(i + 1, 25) if (cells[i], cells[j]) in pairs]
    assert sub.n_nodes == 25
    assert list(zip(sub.rows.tolist(), sub.cols.tolist(), strict=True)) == expected
    np.testing.assert_allclose(sub.lengths, np.linalg.norm(points[cells[sub.rows]] - points[cells[sub.cols]], axis=1))
    graph = scale_graph(sub, 1.0)
    assert graph.adjacency.shape == (25, 25)
    # the colour classes are valid: no edge inside a class
    colors = np.empty(25, dtype=int)
    for c in range(len(graph.color_starts) - 1):
        colors[graph.order[graph.color_starts[c] : graph.color_starts[c + 1]]] = c
    coo = sparse.coo_matrix(graph.adjacency)
    assert (colors[coo.row] != colors[coo.col]).all()


def test_random_start_matches_the_mean_and_differs_by_seed(rng):
    X = rng.random((50, 20))
    expression = Expression(X)
    U, W = random_start(expression, 3, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
    assert np.isclose((U @ W.T).mean(), X.mean())
    U2, _ = random_start(expression, 3, np.random.default_rng(1))
    assert not np.allclose(U, U2)


def test_refit_recovers_embeddings_of_known_loadings_and_decreases(rng):
    W = np.abs(rng.standard_normal((30, 3)))
    W /= np.linalg.norm(W, axis=0)
    U = np.abs(rng.standard_normal((60, 3)))
    expression = Expression(U @ W.T)
    rows, cols = np.triu_indices(60, k=1)
    graph = scale_graph(EdgeList.from_pairs(60, rows, cols, rng.standard_normal((60, 2))), 0.5)
    refit = refit_embeddings(
        expression, [graph], [W], Weights(graph=0.0, coupling=0.0, anchor=0.0), max_iter=200, tol=1e-12
    )
    np.testing.assert_allclose(refit.embeddings[0], U, atol=1e-5)
    smooth = refit_embeddings(
        expression, [graph, graph], [W, W], Weights(graph=5.0, coupling=1.0), max_iter=50, tol=1e-9
    )
    assert (np.diff(smooth.history) <= 1e-9 * smooth.history[0]).all()
    assert smooth.per_scale.shape == (len(smooth.history), 2)
