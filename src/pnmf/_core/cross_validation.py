"""The graph weight λ1 and the recommended scale chosen by the data: bi-cross-validation over a split of the genes.

How much to trust the neighbour graph, and how coarse a view to recommend, differ between
datasets, and the data can tell without labels. The genes are split at random into two
halves A and B. Embeddings are fitted on the genes of A only; the genes of B are then
predicted from each embedding alone (nonnegative least squares for their loadings) and the
error on B is measured. Noise fitted in A does not carry over to B, and smoothing that
joins unrelated cells blurs what B needs, so the embedding with the smallest held-out
error is the one the data support (Owen & Perry's bi-cross-validation).

* **λ1** (:func:`cross_validate_graph_weight`): the coarsest scale, where the graph term is
  strongest, is fitted with each candidate weight; the weight with the smallest error wins.
* **The recommended scale** (:func:`cross_validate_scales`): every scale is fitted with
  the fit's weights and the least smoothed (finest) scale whose error is within one
  standard error of the smallest is recommended (the one-standard-error rule: among models
  the data cannot tell apart, the simplest; here the one that smooths least).

Both see the same cells (at most :data:`MAX_CELLS`, a seeded subsample) and the same split
(:class:`GeneSplit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .expression import Expression
from .graphs import ScaleGraph
from .solver import Weights, solve

__all__ = [
    "CANDIDATE_WEIGHTS",
    "FALLBACK_WEIGHT",
    "MAX_CELLS",
    "GeneSplit",
    "ScaleSelection",
    "WeightSelection",
    "cross_validate_graph_weight",
    "cross_validate_scales",
    "held_out_error",
    "held_out_gene_errors",
]

#: Graph weights tried by ``graph_weight='auto'`` (log-spaced: what matters is the order of magnitude).
CANDIDATE_WEIGHTS = (1.0, 3.0, 10.0, 30.0, 100.0)
#: The weight used when there are too few genes to split (fewer than two per factor in each half).
FALLBACK_WEIGHT = 10.0
#: At most this many cells (drawn at random, seeded) take part in the cross-validation.
MAX_CELLS = 20_000
#: The fits only rank a handful of weights or scales: a looser stopping rule than the main fit's is enough.
CV_TOL = 1e-3
#: Coupled sweeps of the multi-scale fit that ranks the scales.
CV_SWEEPS = 5
#: Passes of nonnegative least squares for the held-out genes' loadings.
HELD_OUT_PASSES = 50


@dataclass(frozen=True)
class GeneSplit:
    """What one fit's cross-validation sees: some cells, the genes fitted (A) and the genes held out (B).

    ``cells`` are the sampled cells (sorted; ``None``: all of them), ``train`` and ``test``
    the matrix on those cells restricted to A and B, ``start`` the fit's starting factors
    restricted to the cells and to A.
    """

    cells: np.ndarray | None
    fitted: np.ndarray
    held_out: np.ndarray
    train: Expression
    test: Expression
    start: tuple[np.ndarray, np.ndarray]

    @classmethod
    def draw(
        cls,
        X: np.ndarray | sparse.spmatrix,
        start: tuple[np.ndarray, np.ndarray],
        *,
        random_state: int | None = 0,
        subsample: bool = True,
    ) -> GeneSplit | None:
        """Split the genes of ``X`` (cells × genes, as factorized) in two random halves; ``None`` with too few genes.

        With ``subsample`` and more than :data:`MAX_CELLS` cells, a seeded subsample of them
        is used (``X`` is only indexed by those rows, so it need not be in memory). There is
        nothing to split when a half would hold fewer than two genes per factor.
        """
        n_cells, n_genes = X.shape
        U, W = start
        if n_genes // 2 < 2 * U.shape[1]:
            return None
        rng = np.random.default_rng(random_state)
        cells = None
        if subsample and n_cells > MAX_CELLS:
            cells = np.sort(rng.choice(n_cells, size=MAX_CELLS, replace=False))
            X, U = X[cells], U[cells]
        genes = rng.permutation(n_genes)
        fitted, held_out = np.sort(genes[: n_genes // 2]), np.sort(genes[n_genes // 2 :])
        return cls(
            cells, fitted, held_out, Expression(X[:, fitted]), Expression(X[:, held_out]), _restricted(U, W, fitted)
        )


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

    @classmethod
    def fallback(cls, candidates: Sequence[float] = CANDIDATE_WEIGHTS) -> WeightSelection:
        """Return the weight used when there is nothing to cross-validate."""
        return cls(FALLBACK_WEIGHT, np.asarray(candidates, dtype=np.float64), np.empty(0))


@dataclass(frozen=True)
class ScaleSelection:
    """The recommended scale and the evidence for it.

    ``errors`` holds every scale's held-out relative error, ``standard_errors`` the
    standard error of its difference to the smallest one (0 at the smallest), both relative
    to ``‖X_B‖²``.
    """

    recommended: int
    errors: np.ndarray
    standard_errors: np.ndarray


def cross_validate_graph_weight(
    split: GeneSplit,
    graph: ScaleGraph,
    *,
    candidates: Sequence[float] = CANDIDATE_WEIGHTS,
    anchor_weight: float = 0.0,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> WeightSelection:
    """Choose the graph weight with the smallest held-out error.

    Parameters
    ----------
    split
        The cells and genes seen (:meth:`GeneSplit.draw`).
    graph
        The graph whose weight is chosen (the coarsest scale's, where the graph term is
        strongest), on the split's cells.
    candidates
        Weights to try.
    anchor_weight
        λ3 of the fit, kept as it is.
    max_iter, tol
        Stopping rule of each single-scale fit.
    """
    tried = np.asarray(candidates, dtype=np.float64)
    # increasing weights, each fit warm-started from the previous one: the embedding moves
    # little from one weight to the next, so each fit needs a few iterations, not a cold start
    U, W = split.start
    errors = np.empty(len(tried))
    for i in np.argsort(tried):
        weights = Weights(graph=float(tried[i]), coupling=0.0, anchor=anchor_weight)
        fit = solve(split.train, [graph], U, W, weights, max_iter=max_iter, max_sweeps=0, tol=max(tol, CV_TOL))
        U, W = fit.embeddings[0], fit.loadings[0]
        errors[i] = held_out_error(split.test, U)
    return WeightSelection(float(tried[np.argmin(errors)]), tried, errors)


def cross_validate_scales(
    split: GeneSplit,
    graphs: Sequence[ScaleGraph],
    weights: Weights,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> ScaleSelection:
    """Recommend the finest scale whose held-out error is within one standard error of the smallest.

    All scales are fitted together on the genes of A with the fit's ``weights`` (the
    multi-scale solver, a few coupled sweeps), and each scale's embedding predicts the
    genes of B. The standard error of a scale's difference to the best one is taken over the
    held-out genes, each gene's error being one paired observation.

    Parameters
    ----------
    split
        The cells and genes seen (:meth:`GeneSplit.draw`).
    graphs
        Every scale's graph on the split's cells, fine to coarse.
    weights
        The fit's weights.
    max_iter, tol
        Stopping rule of the fit.
    """
    U, W = split.start
    fit = solve(
        split.train,
        graphs,
        U.copy(),
        W,
        weights,
        max_iter=max_iter,
        max_sweeps=CV_SWEEPS,
        tol=max(tol, CV_TOL),
        overwrite_start=True,
    )
    per_gene = np.stack([held_out_gene_errors(split.test, embedding) for embedding in fit.embeddings])
    scale = max(split.test.sq_norm, np.finfo(float).tiny)
    totals = per_gene.sum(axis=1)
    best = int(np.argmin(totals))
    differences = per_gene - per_gene[best]
    n_genes = per_gene.shape[1]
    standard_errors = np.sqrt(n_genes) * differences.std(axis=1, ddof=1) if n_genes > 1 else np.zeros_like(totals)
    recommended = int(np.flatnonzero(totals - totals[best] <= standard_errors)[0])
    return ScaleSelection(recommended, totals / scale, standard_errors / scale)


def _restricted(U: np.ndarray, W: np.ndarray, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Restrict the start to some genes: W's rows renormalized to unit columns, U rescaled to keep U Wᵀ."""
    W = W[genes]
    norms = np.linalg.norm(W, axis=0)
    norms[norms == 0] = 1.0
    return U * norms, W / norms


def held_out_gene_errors(test: Expression, U: np.ndarray) -> np.ndarray:
    """Every held-out gene's squared error under its best nonnegative prediction from the embedding ``U``.

    The genes' loadings ``W ≥ 0`` minimize ``‖X − U Wᵀ‖²`` (exact coordinate passes over the
    columns of W, no norm constraint); the errors come from k × k Gram matrices, so
    ``X − U Wᵀ`` is never formed.
    """
    XtU = test.transpose_times(U)
    gram = U.T @ U
    W = np.maximum(XtU @ np.linalg.pinv(gram), 0.0)
    for _ in range(HELD_OUT_PASSES):
        for j in range(W.shape[1]):
            if gram[j, j] > 0:
                W[:, j] = np.maximum(W[:, j] + (XtU[:, j] - W @ gram[:, j]) / gram[j, j], 0.0)
    X = test.matrix
    if isinstance(X, np.ndarray):
        squares = np.einsum("ij,ij->j", X, X)
    else:
        squares = np.asarray(X.multiply(X).sum(axis=0)).ravel()
    errors = squares - 2.0 * np.einsum("gk,gk->g", XtU, W) + np.einsum("gk,kl,gl->g", W, gram, W)
    return np.maximum(errors, 0.0)


def held_out_error(test: Expression, U: np.ndarray) -> float:
    """Relative error of the best nonnegative prediction of ``test`` from the embedding ``U`` (:func:`held_out_gene_errors`)."""
    if test.sq_norm == 0:
        return 0.0
    return float(held_out_gene_errors(test, U).sum() / test.sq_norm)
