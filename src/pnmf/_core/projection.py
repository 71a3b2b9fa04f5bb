"""New cells embedded at every scale of a fitted result, its loadings fixed.

A query cell q solves the fit's objective restricted to its own embeddings u_0 … u_{T-1}:
the reconstruction of its expression by the fixed loadings W_t, the graph term through its
neighbours among the reference cells (whose embeddings r_j are fixed), the coupling between
its own consecutive scales and the anchoring::

    Σ_t ‖x − W_t u_t‖² + Σ_t (λ1 + 3 ρ_t) Σ_j a_tj ‖u_t − r_tj‖² + Σ_t c_t ‖u_t − u_{t+1}‖² + λ3 Σ_t ‖u_t‖²

with c_t = (λ2 + λ1 (1 − Σ_j a_tj)₊) / (1 + 3 ρ_{t+1}), as in the fit: what a scale's
neighbours lack of a full pull ties the cell to its own next coarser embedding. A query
cell is in no pooling group, so it is smoothed as the fit smooths its bulk, with
ρ_t = ρ ((ε_t / ε_0)² − 1).

Query cells never touch each other in it, so it splits into one small convex problem per
cell (scales × k nonnegative variables), solved exactly by coordinate descent, all cells in
parallel. Reference cells stay as they were fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy import sparse

from .expression import Expression
from .least_squares import clipped_least_squares
from .pooling import pooling_scales
from .solver import Weights, pair_coupling

__all__ = [
    "Neighbours",
    "ProjectedCells",
    "find_neighbours",
    "neighbour_mean",
    "project_cells",
    "scale_weights",
    "transfer_labels",
]

#: Below this many reference × query pairs neighbours are found exactly (scikit-learn);
#: above, by NN-descent (pynndescent), as ``sc.pp.neighbors`` does for large data.
EXACT_PAIRS = 50_000_000
MAX_PASSES = 500
PASS_TOL = 1e-6


@dataclass(frozen=True)
class Neighbours:
    """Each query cell's nearest reference cells (``indices``, nearest first) and their ``distances``."""

    indices: np.ndarray
    distances: np.ndarray


def find_neighbours(
    reference: np.ndarray, query: np.ndarray, n_neighbors: int, random_state: int | None, *, exact: bool | None = None
) -> Neighbours:
    """Return the ``n_neighbors`` nearest reference points of every query point (Euclidean).

    ``exact=None``: exact for small problems, approximate NN-descent above
    :data:`EXACT_PAIRS` pairs.
    """
    n_neighbors = min(n_neighbors, len(reference))
    if exact if exact is not None else len(reference) * len(query) <= EXACT_PAIRS:
        from sklearn.neighbors import NearestNeighbors

        distances, indices = NearestNeighbors(n_neighbors=n_neighbors).fit(reference).kneighbors(query)
    else:
        from pynndescent import NNDescent

        index = NNDescent(reference, n_neighbors=max(n_neighbors, 15), random_state=random_state, n_jobs=-1)
        indices, distances = index.query(query, k=n_neighbors)
    return Neighbours(np.asarray(indices, dtype=np.int64), np.asarray(distances, dtype=np.float64))


def scale_weights(neighbours: Neighbours, threshold: float) -> np.ndarray:
    """Graph weights of every query cell's reference neighbours at one scale.

    As in the fit's graphs (:func:`pnmf._core.graphs.scale_graph`): the neighbours closer
    than the threshold, weighted ``exp(-(d / threshold)**2)``. The fit normalizes weights
    so that a cell's total pull is about 1 whatever its number of neighbours; a query
    cell's weights are divided by their sum when it exceeds 1, so its pull is 1 among
    close reference cells and smaller when its neighbours are few or far; what it lacks
    goes to its coupling to its own coarser embedding
    (:func:`~pnmf._core.solver.pair_coupling`). The reference cells' own degrees, which the
    fit's symmetric normalization uses, are not part of a shipped reference.
    """
    d = neighbours.distances
    if threshold <= 0:
        return np.zeros_like(d)
    weights = np.where(d < threshold, np.exp(-((d / threshold) ** 2)), 0.0)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)


def neighbour_mean(neighbours: Neighbours, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``Σ_j weights[q, j] · values[neighbour j of q]`` for every query cell q."""
    n_query, m = neighbours.indices.shape
    mixing = sparse.csr_array(
        (weights.ravel(), neighbours.indices.ravel(), np.arange(0, n_query * m + 1, m)), shape=(n_query, len(values))
    )
    return np.asarray(mixing @ values, dtype=np.float64)


@dataclass(frozen=True)
class ProjectedCells:
    """Query embeddings per scale (fine to coarse), the coordinate-descent passes per cell and the objective's terms."""

    embeddings: list[np.ndarray]
    n_passes: np.ndarray
    converged: np.ndarray
    objective: float
    terms: dict[str, float]
    reconstruction: np.ndarray


def project_cells(
    expression: Expression,
    loadings: list[np.ndarray],
    reference_embeddings: list[np.ndarray],
    neighbours: Neighbours,
    thresholds: np.ndarray,
    weights: Weights,
) -> ProjectedCells:
    """Embed the query cells of ``expression`` at every scale, the loadings and reference cells fixed.

    Parameters
    ----------
    expression
        Query cells × genes, preprocessed as the fit's matrix (same genes, same order as the
        rows of ``loadings``).
    loadings
        Genes × k loadings per scale.
    reference_embeddings
        Reference cells × k embedding per scale.
    neighbours
        Every query cell's reference neighbours in the fit's representation.
    thresholds
        The scales' thresholds ε_t.
    weights
        λ1, λ2, λ3 of the fit.
    """
    n_scales = len(loadings)
    n_query, k = expression.shape[0], loadings[0].shape[1]
    XW = np.empty((n_scales, n_query, k))
    gram = np.empty((n_scales, k, k))
    total = np.empty((n_scales, n_query))  # Σ_j a_j
    weighted = np.empty((n_scales, n_query, k))  # Σ_j a_j r_j
    weighted_sq = np.empty((n_scales, n_query))  # Σ_j a_j ‖r_j‖²
    for t in range(n_scales):
        W, R = loadings[t], reference_embeddings[t]
        XW[t] = expression.times(W)
        gram[t] = W.T @ W
        a = scale_weights(neighbours, float(thresholds[t]))
        total[t] = a.sum(axis=1)
        weighted[t] = neighbour_mean(neighbours, a, R)
        weighted_sq[t] = neighbour_mean(neighbours, a, np.einsum("ij,ij->i", R, R)[:, None])[:, 0]
    factors = pooling_scales(thresholds)
    # row t weighs ‖u_t − u_{t+1}‖², as in the fit
    coupling = np.stack([pair_coupling(total[t], weights, factors[t + 1]) for t in range(n_scales - 1)])
    # query cells are pooled into no group: all of them are smoothed as the fit's bulk is
    graph_weights = weights.graph + np.array([weights.bulk_graph(factor) for factor in factors])
    U = _start(XW, gram, weighted, total)
    n_passes = _solve_cells(
        XW,
        gram,
        graph_weights[:, None, None] * weighted,
        graph_weights[:, None] * total + weights.anchor,
        np.ascontiguousarray(coupling),
        U,
        MAX_PASSES,
        PASS_TOL,
    )
    reconstruction = np.array(
        [
            max(
                expression.sq_norm
                - 2 * np.einsum("ij,ij->", U[t], XW[t])
                + np.einsum("ij,jl,il->", U[t], gram[t], U[t]),
                0.0,
            )
            for t in range(n_scales)
        ]
    )
    # Σ_j a_j ‖u − r_j‖² = ‖u‖² Σ_j a_j − 2 uᵀ Σ_j a_j r_j + Σ_j a_j ‖r_j‖²
    roughness = np.einsum("tq,tqj->t", total, U**2) - 2 * np.einsum("tqj,tqj->t", U, weighted) + weighted_sq.sum(axis=1)
    terms = {
        "reconstruction": float(reconstruction.sum()),
        "graph": float(graph_weights @ roughness),
        "coupling": float(np.einsum("tq,tqj->", coupling, np.diff(U, axis=0) ** 2)),
        "anchor": weights.anchor * float(np.sum(U**2)),
    }
    embeddings = [U[t].copy() for t in range(n_scales)]
    return ProjectedCells(embeddings, n_passes, n_passes < MAX_PASSES, sum(terms.values()), terms, reconstruction)


def _start(XW: np.ndarray, gram: np.ndarray, weighted: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Return the starting embeddings: the weighted mean of the neighbours' embeddings.

    At a scale where a cell has no neighbour, its clipped least-squares embedding
    ``[x W (WᵀW)⁻¹]₊`` instead.
    """
    U = np.empty_like(XW)
    for t in range(len(XW)):
        alone = total[t] <= 0
        U[t] = weighted[t] / np.where(alone, 1.0, total[t])[:, None]
        if alone.any():
            U[t][alone] = clipped_least_squares(XW[t][alone], gram[t])
    return np.ascontiguousarray(U)


@njit(cache=True, parallel=True, nogil=True)
def _solve_cells(XW, gram, pull, diagonal, coupling, U, max_passes, tol):  # pragma: no cover - compiled
    """Exact coordinate descent on every query cell's own problem until its largest step is below ``tol``.

    ``coupling[t, i]`` weighs ``‖u_t − u_{t+1}‖²`` for cell i.
    """
    n_scales, n_cells, k = XW.shape
    passes = np.zeros(n_cells, dtype=np.int64)
    for i in prange(n_cells):
        for p in range(max_passes):
            largest_step = 0.0
            largest_value = 0.0
            for t in range(n_scales):
                finer = coupling[t - 1, i] if t > 0 else 0.0
                coarser = coupling[t, i] if t < n_scales - 1 else 0.0
                c = diagonal[t, i] + finer + coarser
                for j in range(k):
                    g = c * U[t, i, j] - XW[t, i, j] - pull[t, i, j]
                    for m in range(k):
                        g += gram[t, j, m] * U[t, i, m]
                    if t > 0:
                        g -= finer * U[t - 1, i, j]
                    if t < n_scales - 1:
                        g -= coarser * U[t + 1, i, j]
                    h = gram[t, j, j] + c
                    if h <= 0.0:
                        continue
                    new = max(U[t, i, j] - g / h, 0.0)
                    largest_step = max(largest_step, abs(new - U[t, i, j]))
                    largest_value = max(largest_value, new)
                    U[t, i, j] = new
            passes[i] = p + 1
            if largest_step <= tol * max(largest_value, 1e-300):
                break
    return passes


def transfer_labels(
    neighbours: Neighbours, labels: list[np.ndarray], n_classes: list[int], *, nested: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Give every query cell the labels of its reference neighbours, at every scale, with the share of votes.

    ``labels[t]`` holds the reference cells' integer labels at scale t (-1: none). Every
    neighbour votes once. With ``nested`` (the reference's levels nest, each cluster inside
    one coarser cluster) the labels are chosen coarse to fine, each level among the
    children of the cluster chosen one level up, so the query's levels nest as the
    reference's do. The confidence is the share of the neighbours whose label at that
    scale is the one given.
    """
    n_query = neighbours.indices.shape[0]
    votes = [_votes(level[neighbours.indices], n) for level, n in zip(labels, n_classes, strict=True)]
    chosen = [np.argmax(v, axis=1) for v in votes]
    if nested:
        for t in reversed(range(len(labels) - 1)):
            parent = _parents(labels[t], labels[t + 1], n_classes[t])
            allowed = parent[None, :] == chosen[t + 1][:, None]
            chosen[t] = np.argmax(np.where(allowed, votes[t], -1.0), axis=1)
    confidence = [v[np.arange(n_query), c] / neighbours.indices.shape[1] for v, c in zip(votes, chosen, strict=True)]
    return chosen, confidence


def _votes(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Count, per query cell, its neighbours with each label (cells without a label do not vote)."""
    n_query = neighbour_labels.shape[0]
    counts = np.zeros((n_query, n_classes))
    rows = np.repeat(np.arange(n_query), neighbour_labels.shape[1])
    flat = neighbour_labels.ravel()
    voted = flat >= 0
    np.add.at(counts, (rows[voted], flat[voted]), 1.0)
    return counts


def _parents(fine: np.ndarray, coarse: np.ndarray, n_fine: int) -> np.ndarray:
    """Return the coarser cluster holding most of each finer cluster's cells (-1 for an empty one)."""
    parent = np.full(n_fine, -1, dtype=np.int64)
    labelled = (fine >= 0) & (coarse >= 0)
    for c in range(n_fine):
        inside = coarse[labelled & (fine == c)]
        if len(inside):
            parent[c] = np.bincount(inside).argmax()
    return parent
