from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from pnmf._core.expression import Expression
from pnmf._core.graphs import scale_graph, scale_graphs
from pnmf._core.init import nndsvda
from pnmf._core.persistence import EdgeList
from pnmf._core.pooling import Pooling
from pnmf._core.solver import (
    PATH_TOL_FACTOR,
    Weights,
    coupled_products,
    coupling_diagonal,
    pair_coupling,
    reconstruction_error,
    solve,
    total_objective,
    update_embedding,
    update_loadings,
)


def random_problem(seed, n=40, m=25, k=3, n_scales=3, density=0.4):
    generator = np.random.default_rng(seed)
    X = generator.random((n, m)) * (generator.random((n, m)) < density)
    points = generator.normal(size=(n, 2))
    rows, cols = np.triu_indices(n, k=1)
    edges = EdgeList(
        n, rows.astype(np.int64), cols.astype(np.int64), np.linalg.norm(points[rows] - points[cols], axis=1)
    )
    thresholds = np.quantile(edges.lengths, np.linspace(0.02, 0.5, n_scales))
    graphs = scale_graphs(edges, thresholds)
    return X, [replace(graph, pooling=random_pooling(graph.pooling, generator)) for graph in graphs], generator


def random_pooling(pooling, generator, n_groups=4):
    """The graph's pooling with random groups (about 40 % of the cells left out: the bulk), so that every scale pools."""
    groups = generator.integers(0, n_groups, len(pooling.groups))
    groups[generator.random(len(groups)) < 0.4] = -1
    _, groups[groups >= 0] = np.unique(groups[groups >= 0], return_inverse=True)
    return Pooling(groups, np.bincount(groups[groups >= 0]).astype(float), pooling.scale)


def dense_coupling(graph, weights, coarser=None):
    """Per-cell weight between a scale and the next coarser one.

    λ2, plus λ1 for what the cell lacks of degree 1, over 1 + 3 ρ_(t+1), the coarser scale's added smoothing.
    """
    degree = graph.adjacency.toarray().sum(axis=1)
    fade = 1 + (3 * weights.pooling * coarser.pooling.scale if coarser is not None else 0.0)
    return (weights.coupling + weights.graph * np.clip(1 - degree, 0, None)) / fade


def dense_bulk_laplacian(graph):
    """The Laplacian of the edges between cells that the scale does not pool."""
    bulk = graph.pooling.groups < 0
    adjacency = graph.adjacency.toarray() * np.outer(bulk, bulk)
    return np.diag(adjacency.sum(axis=1)) - adjacency


def dense_pooling(U, graph, weights):
    """ρ_t Σ_i ‖u_i − mean of i's group‖² over the pooled cells, group by group."""
    groups = graph.pooling.groups
    return (
        weights.pooling
        * graph.pooling.scale
        * sum(np.sum((U[groups == g] - U[groups == g].mean(axis=0)) ** 2) for g in np.unique(groups[groups >= 0]))
    )


def dense_objective(X, embeddings, loadings, graphs, weights):
    value = 0.0
    for t, (U, W, graph) in enumerate(zip(embeddings, loadings, graphs, strict=True)):
        adjacency = graph.adjacency.toarray()
        laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
        value += (
            np.sum((X - U @ W.T) ** 2)
            + weights.graph * np.trace(U.T @ laplacian @ U)
            # coarser scales smooth their bulk (the cells not pooled) more: 3 ρ ((ε_t / ε_0)² − 1)
            + 3 * weights.pooling * graph.pooling.scale * np.trace(U.T @ dense_bulk_laplacian(graph) @ U)
            + weights.anchor * np.sum(U**2)
            + dense_pooling(U, graph, weights)
        )
        if t:
            coupling = dense_coupling(graphs[t - 1], weights, graph)
            value += np.sum(coupling[:, None] * (U - embeddings[t - 1]) ** 2)
    return value


def test_cells_alone_at_a_scale_are_coupled_by_the_graph_weight():
    _, graphs, _ = random_problem(0)
    weights = Weights(graph=7.0, coupling=0.5)
    alone = graphs[0].degree == 0
    assert alone.any()
    assert not alone.all()
    coupling = pair_coupling(graphs[0].degree, weights)
    np.testing.assert_allclose(coupling, dense_coupling(graphs[0], weights), rtol=1e-12)
    np.testing.assert_allclose(coupling[alone], 7.5)
    assert (coupling[~alone] < 7.5).all()
    assert (coupling >= 0.5).all()


def test_a_coarser_scale_that_smooths_more_is_tied_less():
    _, graphs, _ = random_problem(0)
    weights = Weights(graph=7.0, coupling=0.5, pooling=2.0)
    plain = pair_coupling(graphs[0].degree, weights)
    faded = pair_coupling(graphs[0].degree, weights, 1.5)
    np.testing.assert_allclose(faded, plain / (1 + 3 * 2.0 * 1.5), rtol=1e-12)
    np.testing.assert_allclose(
        faded,
        dense_coupling(graphs[0], weights, replace(graphs[1], pooling=replace(graphs[1].pooling, scale=1.5))),
        rtol=1e-12,
    )


def test_objective_from_grams_equals_the_dense_formula():
    X, graphs, generator = random_problem(0)
    embeddings = [generator.random((40, 3)) for _ in graphs]
    loadings = [generator.random((25, 3)) for _ in graphs]
    weights = Weights(graph=2.0, coupling=0.5, anchor=0.3, pooling=1.5)
    expression = Expression(X)
    errors = [
        reconstruction_error(expression.sq_norm, X.T @ U, U, W) for U, W in zip(embeddings, loadings, strict=True)
    ]
    couplings = [pair_coupling(graph.degree, weights, coarser.pooling.scale) for graph, coarser in pairwise(graphs)]
    value, terms = total_objective(errors, embeddings, graphs, weights, couplings)
    assert value == pytest.approx(dense_objective(X, embeddings, loadings, graphs, weights), rel=1e-10)
    assert set(terms) == {"reconstruction", "graph", "coupling", "anchor", "pooling"}
    assert terms["pooling"] > 0
    assert sum(terms.values()) == pytest.approx(value)


def test_loadings_update_is_the_exact_minimizer_on_the_unit_sphere():
    generator = np.random.default_rng(1)
    X = generator.random((30, 8))
    U = generator.random((30, 2))
    W = generator.random((8, 2))
    W /= np.linalg.norm(W, axis=0)
    update_loadings(W, X.T @ U, U.T @ U, n_inner=50)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
    assert (W >= 0).all()
    best = np.sum((X - U @ W.T) ** 2)
    for _ in range(2000):  # no feasible perturbation of one column does better
        j = generator.integers(2)
        candidate = W.copy()
        candidate[:, j] = np.abs(candidate[:, j] + generator.normal(scale=0.05, size=8))
        candidate[:, j] /= np.linalg.norm(candidate[:, j])
        assert np.sum((X - U @ candidate.T) ** 2) >= best - 1e-9


def test_loadings_update_with_no_positive_correlation_picks_a_coordinate():
    W = np.array([[0.6], [0.8], [0.0]])
    XtU = np.array([[-1.0], [-3.0], [-0.5]])
    update_loadings(W, XtU, np.array([[1.0]]))
    np.testing.assert_array_equal(W[:, 0], [0.0, 0.0, 1.0])


def test_embedding_update_without_graph_is_exact_hals():
    generator = np.random.default_rng(2)
    XW = generator.random((20, 1)) - 0.2
    U = generator.random((20, 1))
    empty = scale_graph(EdgeList(20, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)), 1.0)
    update_embedding(U, XW, np.array([[1.0]]), empty, 0.0, np.full(20, 0.5))
    np.testing.assert_allclose(U[:, 0], np.maximum(XW[:, 0] / 1.5, 0))


@pytest.mark.parametrize("graph_weight", [0.0, 1.0, 100.0, 1e4])
def test_embedding_update_never_increases_its_objective(graph_weight):
    X, graphs, generator = random_problem(3)
    W = generator.random((25, 3))
    W /= np.linalg.norm(W, axis=0)
    U = generator.random((40, 3))
    coarser = generator.random((40, 3))
    weights = Weights(graph=graph_weight, coupling=0.7, anchor=0.1)

    def objective(U):
        return dense_objective(X, [coarser, U], [W, W], [graphs[1], graphs[1]], weights) - dense_objective(
            X, [coarser], [W], [graphs[1]], weights
        )

    before = objective(U)
    adjacent = [(coarser, pair_coupling(graphs[1].degree, weights))]
    for _ in range(5):
        linear = coupled_products(X @ W, adjacent)
        update_embedding(
            U, linear, W.T @ W, graphs[1], weights.graph, coupling_diagonal(adjacent, 0.1, 40), max_inner=3
        )
        after = objective(U)
        assert after <= before + 1e-9 * abs(before)
        before = after
    assert (U >= 0).all()


def fit_problem(seed, weights, **kwargs):
    X, graphs, _ = random_problem(seed)
    expression = Expression(sparse.csr_matrix(X))
    U0, W0 = nndsvda(expression, 3, random_state=0)
    return X, graphs, solve(expression, graphs, U0, W0, weights, **kwargs)


def test_solve_returns_nonnegative_unit_norm_factors_and_a_consistent_objective():
    weights = Weights(graph=10.0, coupling=1.0, anchor=0.1, pooling=0.5)
    X, graphs, fit = fit_problem(4, weights, max_iter=300, max_sweeps=5, tol=1e-5)
    assert len(fit.embeddings) == len(fit.loadings) == 3
    for U, W in zip(fit.embeddings, fit.loadings, strict=True):
        assert (U >= 0).all()
        assert (W >= 0).all()
        np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
    assert fit.objective == pytest.approx(dense_objective(X, fit.embeddings, fit.loadings, graphs, weights), rel=1e-9)
    assert fit.n_iter.shape == (3,)
    assert fit.converged.all()


def test_a_cell_alone_at_a_fine_scale_follows_its_coarser_embedding():
    X, graphs, _ = random_problem(6)
    expression = Expression(sparse.csr_matrix(X))
    U0, W0 = nndsvda(expression, 3, random_state=0)
    alone = graphs[0].degree == 0
    assert 3 <= alone.sum() < 37
    fit = solve(expression, graphs, U0, W0, Weights(graph=100.0, coupling=0.1), max_iter=200, max_sweeps=20)
    fine, coarse = fit.embeddings[0], fit.embeddings[1]
    gap = np.linalg.norm(fine - coarse, axis=1)
    # joined cells are smoothed by the fine scale's own graph; lone ones are tied to the coarser scale
    # with the weight the graph would have had (λ1 + λ2 against λ2 = 0.1 alone)
    assert gap[alone].mean() < 0.1 * gap[~alone].mean()


def test_warm_started_path_runs_fine_to_coarse():
    _, _, fit = fit_problem(5, Weights(), max_iter=30, max_sweeps=0)
    scales = [s for s, phase in zip(fit.history["scale"], fit.history["phase"], strict=True) if phase == "path"]
    first_seen = list(dict.fromkeys(scales))
    assert first_seen == [0, 1, 2]


def path_decreases(fit):
    """Every scale's relative objective decreases along the path, in order."""
    traces = {}
    for phase, scale, value in zip(fit.history["phase"], fit.history["scale"], fit.history["objective"], strict=True):
        if phase == "path":
            traces.setdefault(scale, []).append(value)
    return {scale: [(a - b) / abs(a) for a, b in pairwise(trace)] for scale, trace in traces.items()}


def test_the_path_stops_at_a_looser_tolerance_only_where_sweeps_follow():
    tol = 1e-6
    _, _, alone = fit_problem(5, Weights(), max_iter=300, max_sweeps=0, tol=tol)
    _, _, swept = fit_problem(5, Weights(), max_iter=300, max_sweeps=1, tol=tol)
    for fit, path_tol in ((alone, tol), (swept, PATH_TOL_FACTOR * tol)):
        for decreases in path_decreases(fit).values():
            assert decreases[-1] <= path_tol  # stopped by the rule (max_iter is never reached here)
            assert all(d > path_tol for d in decreases[:-1])  # and at the first decrease below it
    assert swept.n_iter.sum() < alone.n_iter.sum()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    graph_weight=st.sampled_from([0.0, 0.5, 10.0, 300.0]),
    coupling=st.sampled_from([0.0, 0.3, 5.0]),
    anchor=st.sampled_from([0.0, 0.2]),
    pooling=st.sampled_from([0.0, 3.0, 100.0]),
)
def test_objective_never_increases(seed, graph_weight, coupling, anchor, pooling):
    weights = Weights(graph_weight, coupling, anchor, pooling)
    _, _, fit = fit_problem(seed, weights, max_iter=15, max_sweeps=6, tol=0.0)
    phase = np.array(fit.history["phase"])
    scale = np.array(fit.history["scale"])
    objective = np.array(fit.history["objective"])
    for t in range(3):
        path = objective[(phase == "path") & (scale == t)]
        assert np.all(np.diff(path) <= 1e-9 * path[0])
    sweeps = objective[phase == "sweep"]
    assert np.all(np.diff(sweeps) <= 1e-9 * sweeps[0])
    for U in fit.embeddings:
        assert np.isfinite(U).all()
        assert (U >= 0).all()
