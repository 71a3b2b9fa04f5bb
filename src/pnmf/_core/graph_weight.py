"""The graph weight λ1 chosen by the data: bi-cross-validation over a split of the genes.

How much to trust the neighbour graph differs between datasets: on some, smoothing the
embedding along the graph removes noise; on others the graph joins cells of different
populations and smoothing blurs them. The data can tell which, without labels. The genes
are split at random into two halves A and B. For each candidate λ1, the embedding U is
fitted on the genes of A with the graph term; then the genes of B are predicted from U
alone (nonnegative least squares for their loadings) and the relative error on B is
measured. Noise fitted in A does not carry over to B, and a graph that joins unrelated cells
blurs U, so the weight with the smallest held-out error is the one the data support
(Owen & Perry's bi-cross-validation, applied to the graph weight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .expression import Expression
from .graphs import ScaleGraph
from .solver import Weights, solve

__all__ = ["CANDIDATE_WEIGHTS", "FALLBACK_WEIGHT", "MAX_CELLS", "WeightSelection", "cross_validate_graph_weight"]

#: Graph weights tried by ``graph_weight='auto'`` (log-spaced: what matters is the order of magnitude).
CANDIDATE_WEIGHTS = (1.0, 3.0, 10.0, 30.0, 100.0)
#: The weight used when there are too few genes to split (fewer than two per factor in each half).
FALLBACK_WEIGHT = 10.0
#: At most this many cells (drawn at random, seeded) take part in the cross-validation.
MAX_CELLS = 20_000
#: The fits only rank a handful of weights: a looser stopping rule than the main fit's is enough.
CV_TOL = 1e-3
#: Passes of nonnegative least squares for the held-out genes' loadings.
HELD_OUT_PASSES = 50


@dataclass(frozen=True)
class WeightSelection:
    """The chosen graph weight and the evidence for it.

    ``errors`` holds the held-out relative error ``‖X_B − U W_Bᵀ‖² / ‖X_B‖²`` of every
    candidate (empty when there were too few genes to cross-validate).
    """

    weight: float
    candidates: np.ndarray
    errors: np.ndarray

    @property
    def cross_validated(self) -> bool:
        """Whether the weight was chosen by cross-validation (not the fallback)."""
        return len(self.errors) > 0


def cross_validate_graph_weight(
    X: np.ndarray | sparse.spmatrix,
    graph: ScaleGraph,
    start: tuple[np.ndarray, np.ndarray],
    *,
    candidates: Sequence[float] = CANDIDATE_WEIGHTS,
    anchor_weight: float = 0.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    random_state: int | None = 0,
    restrict: Callable[[np.ndarray], ScaleGraph] | None = None,
) -> WeightSelection:
    """Choose the graph weight with the smallest held-out error on a random half of the genes.

    Parameters
    ----------
    X
        Cells × genes, as factorized (cells already normalized when they are).
    graph
        The graph whose weight is chosen (the coarsest scale's, where the graph term is strongest).
    start
        Starting factors ``(U, W)`` of the full fit (cells × k, genes × k); the first fit
        starts from them, restricted to the cells and genes it sees.
    candidates
        Weights to try.
    anchor_weight
        λ3 of the fit, kept as it is.
    max_iter, tol
        Stopping rule of each single-scale fit.
    random_state
        Seed of the gene split and of the cell subsample.
    restrict
        ``restrict(cells) -> ScaleGraph``: the graph of a subset of cells, used when there are
        more than :data:`MAX_CELLS` cells. ``None``: all cells are used.
    """
    tried = np.asarray(candidates, dtype=np.float64)
    n_cells, n_genes = X.shape
    U, W = start
    n_comps = U.shape[1]
    if n_genes // 2 < 2 * n_comps:
        return WeightSelection(FALLBACK_WEIGHT, tried, np.empty(0))
    rng = np.random.default_rng(random_state)
    if restrict is not None and n_cells > MAX_CELLS:
        cells = np.sort(rng.choice(n_cells, size=MAX_CELLS, replace=False))
        X, graph, U = X[cells], restrict(cells), U[cells]
    genes = rng.permutation(n_genes)
    fitted_genes, held_out = np.sort(genes[: n_genes // 2]), np.sort(genes[n_genes // 2 :])
    train = Expression(X[:, fitted_genes])
    test = Expression(X[:, held_out])
    # increasing weights, each fit warm-started from the previous one: the embedding moves
    # little from one weight to the next, so each fit needs a few iterations, not a cold start
    U, W = _restricted_start(U, W, fitted_genes)
    errors = np.empty(len(tried))
    for i in np.argsort(tried):
        weights = Weights(graph=float(tried[i]), coupling=0.0, anchor=anchor_weight)
        fit = solve(train, [graph], U, W, weights, max_iter=max_iter, max_sweeps=0, tol=max(tol, CV_TOL))
        U, W = fit.embeddings[0], fit.loadings[0]
        errors[i] = held_out_error(test, U)
    return WeightSelection(float(tried[np.argmin(errors)]), tried, errors)


def _restricted_start(U: np.ndarray, W: np.ndarray, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Restrict the start to some genes: W's rows renormalized to unit columns, U rescaled to keep U Wᵀ."""
    W = W[genes]
    norms = np.linalg.norm(W, axis=0)
    norms[norms == 0] = 1.0
    return U * norms, W / norms


def held_out_error(test: Expression, U: np.ndarray) -> float:
    """Relative error of the best nonnegative prediction of ``test`` from the embedding ``U``.

    The held-out genes' loadings ``W ≥ 0`` minimize ``‖X − U Wᵀ‖²`` (exact coordinate passes
    over the columns of W, no norm constraint); the error comes from k × k Gram matrices,
    so ``X − U Wᵀ`` is never formed.
    """
    if test.sq_norm == 0:
        return 0.0
    XtU = test.transpose_times(U)
    gram = U.T @ U
    W = np.maximum(XtU @ np.linalg.pinv(gram), 0.0)
    for _ in range(HELD_OUT_PASSES):
        for j in range(W.shape[1]):
            if gram[j, j] > 0:
                W[:, j] = np.maximum(W[:, j] + (XtU[:, j] - W @ gram[:, j]) / gram[j, j], 0.0)
    error = test.sq_norm - 2.0 * np.einsum("ij,ij->", XtU, W) + np.einsum("ij,ij->", gram, W.T @ W)
    return float(max(error, 0.0) / test.sq_norm)
