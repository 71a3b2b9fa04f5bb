"""Replicate fits for stability: seeded subsamples of cells, random starts, refits with fixed loadings.

A replicate differs from another in what a real replicate differs in: its random starting
factors and the cells it sees. The scales (thresholds) are shared by all replicates; each
replicate's graphs are built at those thresholds from the edges between its own cells
(the induced subgraph of the kNN graph), exactly as :func:`pnmf.tl.pnmf` builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .expression import Factorized
from .graphs import ScaleGraph
from .least_squares import clipped_least_squares
from .multigrid import Aggregates
from .solver import (
    Fit,
    Weights,
    adjacent_scales,
    graph_penalty,
    scale_couplings,
    solve,
    squared_norm,
    total_objective,
    update_coupled_embedding,
)

__all__ = ["Refit", "fit_replicate", "random_start", "refit_embeddings", "subsample_cells"]


def subsample_cells(n_cells: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``round(fraction · n_cells)`` cells drawn without replacement (all cells when 1)."""
    if fraction >= 1.0:
        return np.arange(n_cells)
    size = max(round(fraction * n_cells), 1)
    return np.sort(rng.choice(n_cells, size=size, replace=False))


def random_start(expression: Factorized, n_comps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random nonnegative factors, W with unit-norm columns, U scaled so that ``mean(U Wᵀ) = mean(X)``."""
    n_cells, n_genes = expression.shape
    W = rng.random((n_genes, n_comps)) + 1e-3
    W /= np.linalg.norm(W, axis=0)
    U = rng.random((n_cells, n_comps)) + 1e-3
    mean = float(U.sum(axis=0) @ W.sum(axis=0)) / (n_cells * n_genes)
    U *= (expression.mean if expression.mean > 0 else 1e-6) / mean
    return U, W


def fit_replicate(
    expression: Factorized,
    graphs: Sequence[ScaleGraph],
    n_comps: int,
    rng: np.random.Generator,
    weights: Weights,
    *,
    max_iter: int,
    max_sweeps: int,
    tol: float,
) -> tuple[Fit, np.ndarray]:
    """Fit the multi-scale model from a random start; return the fit and each scale's relative error.

    The relative error at scale t is ``‖X − U_t W_tᵀ‖² / ‖X‖²``.
    """
    U0, W0 = random_start(expression, n_comps, rng)
    fit = solve(
        expression, graphs, U0, W0, weights, max_iter=max_iter, max_sweeps=max_sweeps, tol=tol, overwrite_start=True
    )
    errors = np.array(
        [
            _error(expression.sq_norm, expression.times(W), U, W.T @ W)
            for U, W in zip(fit.embeddings, fit.loadings, strict=True)
        ]
    )
    return fit, errors / max(expression.sq_norm, np.finfo(float).tiny)


def _error(sq_norm: float, XW: np.ndarray, U: np.ndarray, gram_W: np.ndarray) -> float:
    """``‖X − U Wᵀ‖²`` from ``X W`` and ``Wᵀ W``."""
    return max(sq_norm - 2.0 * np.einsum("ij,ij->", U, XW) + np.einsum("ij,ij->", U.T @ U, gram_W), 0.0)


@dataclass(frozen=True)
class Refit:
    """Embeddings refitted with fixed loadings, and how the refit went.

    ``history`` is the total objective before and after every iteration; ``per_scale``
    (iterations + 1) × scales holds each scale's own terms (reconstruction, graph, anchor, pooling).
    """

    embeddings: list[np.ndarray]
    n_iter: int
    converged: bool
    objective: float
    terms: dict[str, float]
    history: list[float]
    per_scale: np.ndarray


def refit_embeddings(
    expression: Factorized,
    graphs: Sequence[ScaleGraph],
    loadings: Sequence[np.ndarray],
    weights: Weights,
    *,
    max_iter: int,
    tol: float,
) -> Refit:
    """Minimize the coupled objective over the embeddings of every scale with the loadings fixed.

    Every iteration updates each scale's embedding in turn (fine to coarse) by exact
    coordinate descent, seeing the newest neighbouring scales, so the objective never
    increases; it stops when the relative decrease falls below ``tol`` or after
    ``max_iter`` iterations. Each scale starts from ``[X W (WᵀW)⁻¹]₊``, the clipped
    least-squares embedding.
    """
    n_scales = len(graphs)
    couplings = scale_couplings(graphs, weights)
    products = [expression.times(W) for W in loadings]
    grams = [W.T @ W for W in loadings]
    embeddings = [
        np.ascontiguousarray(clipped_least_squares(XW, gram)) for XW, gram in zip(products, grams, strict=True)
    ]

    def objective() -> tuple[float, dict[str, float], np.ndarray]:
        errors = [
            _error(expression.sq_norm, XW, U, gram) for XW, U, gram in zip(products, embeddings, grams, strict=True)
        ]
        graph_terms = [graph_penalty(g, U, weights) for g, U in zip(graphs, embeddings, strict=True)]
        own = np.array(
            [
                e + graph_term + weights.anchor * squared_norm(U) + g.pooling.penalty(U, weights.pooling)
                for e, graph_term, g, U in zip(errors, graph_terms, graphs, embeddings, strict=True)
            ]
        )
        return (*total_objective(errors, embeddings, graphs, weights, couplings, graph_terms), own)

    value, terms, own = objective()
    history, per_scale = [value], [own]
    converged = False
    n_iter = 0
    aggregates: list[Aggregates | None] = [None] * n_scales  # each scale's coarse levels, built once
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is read after the loop
        for t in range(n_scales):
            adjacent = adjacent_scales(t, embeddings, couplings)
            _, aggregates[t] = update_coupled_embedding(
                embeddings[t], products[t].copy(), grams[t], graphs[t], weights, adjacent, aggregates=aggregates[t]
            )
        previous = value
        value, terms, own = objective()
        history.append(value)
        per_scale.append(own)
        if previous - value <= tol * max(abs(previous), np.finfo(float).tiny):
            converged = True
            break
    return Refit(embeddings, n_iter, converged, float(value), terms, history, np.stack(per_scale))
