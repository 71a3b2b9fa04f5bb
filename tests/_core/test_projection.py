"""The per-cell problem behind tl.project: exact minimizers, graph weights and label transfer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from pnmf._core.expression import Expression
from pnmf._core.projection import Neighbours, find_neighbours, project_cells, scale_weights, transfer_labels
from pnmf._core.solver import Weights


@pytest.fixture
def problem(rng):
    n_ref, n_query, genes, k, scales = 60, 25, 30, 4, 3
    loadings = [np.abs(rng.normal(size=(genes, k))) for _ in range(scales)]
    loadings = [W / np.linalg.norm(W, axis=0) for W in loadings]
    reference = [np.abs(rng.normal(size=(n_ref, k))) for _ in range(scales)]
    X = sparse.random(n_query, genes, density=0.4, random_state=1, format="csr")
    points = rng.normal(size=(n_ref, 3))
    neighbours = find_neighbours(points, rng.normal(size=(n_query, 3)), 6, 0)
    thresholds = np.array([0.3, 0.8, 2.0])
    return Expression(X), loadings, reference, neighbours, thresholds


def _objective(U, X, loadings, reference, neighbours, thresholds, weights):
    total = 0.0
    for t, (W, R) in enumerate(zip(loadings, reference, strict=True)):
        a = scale_weights(neighbours, thresholds[t])
        total += np.sum((X - U[t] @ W.T) ** 2)
        # query cells are in no group: smoothed as the fit's bulk, λ1 + 3 ρ ((ε_t / ε_0)² − 1)
        factor = (thresholds[t] / thresholds.min()) ** 2 - 1
        total += (weights.graph + 3 * weights.pooling * factor) * np.sum(
            a[:, :, None] * (U[t][:, None, :] - R[neighbours.indices]) ** 2
        )
        total += weights.anchor * np.sum(U[t] ** 2)
        if t:
            # what the finer scale's neighbours lack of a full pull ties the cell to this scale
            lacking = np.clip(1 - scale_weights(neighbours, thresholds[t - 1]).sum(axis=1), 0, None)
            # tied less to a coarser scale that smooths more
            fade = 1 + 3 * weights.pooling * factor
            total += np.sum(((weights.coupling + weights.graph * lacking) / fade)[:, None] * (U[t] - U[t - 1]) ** 2)
    return total


def test_each_query_cell_reaches_the_minimum_of_its_objective(problem, rng):
    expression, loadings, reference, neighbours, thresholds = problem
    weights = Weights(graph=3.0, coupling=1.0, anchor=0.1, pooling=0.5)
    result = project_cells(expression, loadings, reference, neighbours, thresholds, weights)
    U = np.stack(result.embeddings)
    X = expression.matrix.toarray()
    best = _objective(U, X, loadings, reference, neighbours, thresholds, weights)
    np.testing.assert_allclose(result.objective, best, rtol=1e-8)
    for _ in range(20):  # no nonnegative perturbation does better
        moved = np.maximum(U + rng.normal(scale=1e-3, size=U.shape), 0.0)
        assert _objective(moved, X, loadings, reference, neighbours, thresholds, weights) >= best - 1e-9
    assert result.converged.all()


def test_weights_keep_only_neighbours_closer_than_the_threshold():
    neighbours = Neighbours(np.array([[0, 1, 2], [3, 4, 5]]), np.array([[0.1, 0.2, 5.0], [0.9, 4.0, 5.0]]))
    weights = scale_weights(neighbours, 1.0)
    assert weights[0, 2] == 0.0
    assert weights[0, :2].sum() == pytest.approx(1.0)  # normalized: a full pull among close cells
    assert weights[1, 0] == pytest.approx(np.exp(-0.81))  # alone below 1: not scaled up
    assert weights[1, 1:].sum() == 0.0
    far = Neighbours(np.array([[0, 1]]), np.array([[2.0, 3.0]]))
    assert not scale_weights(far, 1.0).any()  # no neighbour below the threshold: no pull at all


def test_transferred_levels_nest_like_the_reference():
    fine = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    coarse = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    # fine cluster 0 (inside coarse 0) has the most votes, coarse cluster 1 has the most overall
    neighbours = Neighbours(np.array([[0, 1, 4, 6, 8]]), np.zeros((1, 5)))
    free, _ = transfer_labels(neighbours, [fine, coarse], [5, 2], nested=False)
    nested, confidence = transfer_labels(neighbours, [fine, coarse], [5, 2], nested=True)
    assert (free[0][0], free[1][0]) == (0, 1)  # chosen independently, the levels do not nest
    assert nested[1][0] == 1
    assert nested[0][0] in (2, 3, 4)
    assert confidence[1][0] == pytest.approx(0.6)
    assert confidence[0][0] == pytest.approx(0.2)


def test_approximate_neighbours_find_almost_all_exact_ones(rng):
    centres = rng.normal(scale=5.0, size=(20, 10))
    reference = centres[rng.integers(20, size=3000)] + rng.normal(size=(3000, 10))
    query = centres[rng.integers(20, size=300)] + rng.normal(size=(300, 10))
    exact = find_neighbours(reference, query, 15, 0, exact=True)
    approximate = find_neighbours(reference, query, 15, 0, exact=False)
    recall = np.mean([len(set(a) & set(e)) / 15 for a, e in zip(approximate.indices, exact.indices, strict=True)])
    assert recall > 0.9
    assert np.all(np.diff(approximate.distances, axis=1) >= 0)  # nearest first, as the weights assume
