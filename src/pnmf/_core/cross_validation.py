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
  the fit's weights; from the scale with the smallest error the recommendation moves
  coarser while the next scale's error stays within one standard error of the smallest
  (the one-standard-error rule: among models the data cannot tell apart, the simplest,
  here the one that smooths most, as glmnet's ``lambda.1se`` is the largest penalty).

Both see the same cells and the same split (:class:`GeneSplit`). Above :data:`MAX_CELLS`
cells they see :data:`MAX_CELLS` of them, in neighbourhoods (:func:`sample_neighbourhoods`):
a uniform sample would keep only ``MAX_CELLS / n`` of every cell's edges (2 % at a million
cells), and a graph weight chosen on a graph that sparse would mean nothing on the whole one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .expression import Expression
from .graphs import NestedEdges, ScaleGraph
from .least_squares import nonnegative_least_squares
from .solver import Weights, solve

__all__ = [
    "CANDIDATE_WEIGHTS",
    "FALLBACK_WEIGHT",
    "MAX_CELLS",
    "NEIGHBOURHOODS",
    "GeneSplit",
    "ScaleSelection",
    "WeightSelection",
    "cross_validate_graph_weight",
    "cross_validate_scales",
    "held_out_error",
    "held_out_gene_errors",
    "one_standard_error_scale",
    "sample_neighbourhoods",
]

#: Graph weights tried by ``graph_weight='auto'`` (log-spaced: what matters is the order of magnitude).
CANDIDATE_WEIGHTS = (1.0, 3.0, 10.0, 30.0, 100.0)
#: The weight used when there are too few genes to split (fewer than two per factor in each half).
FALLBACK_WEIGHT = 10.0
#: At most this many cells (seeded neighbourhoods, :func:`sample_neighbourhoods`) take part in the cross-validation.
MAX_CELLS = 20_000
#: Above :data:`MAX_CELLS` cells, the cross-validation's cells form this many neighbourhoods.
NEIGHBOURHOODS = 20
#: The fits only rank a handful of weights or scales: a looser stopping rule than the main fit's is enough.
CV_TOL = 1e-3
#: Coupled sweeps of the multi-scale fit that ranks the scales.
CV_SWEEPS = 5
#: Passes of nonnegative least squares for the held-out genes' loadings, from the clipped
#: least-squares start: enough to rank weights and scales (converging fully, from a zero
#: start, doubled the cross-validation's time at 10k cells: 5.3 s against 2.6 s).
HELD_OUT_PASSES = 50


@dataclass(frozen=True)
class GeneSplit:
    """What one fit's cross-validation sees: some cells, the genes fitted (A) and the genes held out (B).

    ``cells`` are the sampled cells (sorted; ``None``: all of them), ``train`` and ``test``
    the matrix on those cells restricted to A and B, ``test_squares`` every held-out gene's
    squared norm (float64), ``start`` the fit's starting factors restricted to the cells
    and to A.
    """

    cells: np.ndarray | None
    fitted: np.ndarray
    held_out: np.ndarray
    train: Expression
    test: Expression
    test_squares: np.ndarray
    start: tuple[np.ndarray, np.ndarray]

    @classmethod
    def draw(
        cls,
        X: np.ndarray | sparse.spmatrix,
        start: tuple[np.ndarray, np.ndarray],
        neighbours: NestedEdges,
        *,
        random_state: int | None = 0,
        max_cells: int = MAX_CELLS,
    ) -> GeneSplit | None:
        """Split the genes of ``X`` (cells × genes, as factorized) in two random halves; ``None`` with too few genes.

        With more than ``max_cells`` cells, that many of them are used, in neighbourhoods
        grown along ``neighbours`` (the filtration's edges; :func:`sample_neighbourhoods`);
        ``X`` is only indexed by those rows, so it need not be in memory. There is nothing to
        split when a half would hold fewer than two genes per factor.
        """
        n_cells, n_genes = X.shape
        U, W = start
        if n_genes // 2 < 2 * U.shape[1]:
            return None
        rng = np.random.default_rng(random_state)
        cells = None
        if n_cells > max_cells:
            cells = sample_neighbourhoods(neighbours, max_cells, rng)
            X, U = X[cells], U[cells]
        genes = rng.permutation(n_genes)
        fitted, held_out = np.sort(genes[: n_genes // 2]), np.sort(genes[n_genes // 2 :])
        test = Expression(X[:, held_out])
        return cls(
            cells, fitted, held_out, Expression(X[:, fitted]), test, _gene_squares(test), _restricted(U, W, fitted)
        )


def sample_neighbourhoods(
    neighbours: NestedEdges, size: int, rng: np.random.Generator, n_neighbourhoods: int = NEIGHBOURHOODS
) -> np.ndarray:
    """Return ``size`` cells (sorted) that keep much of each other's graph: neighbourhoods around random cells.

    From each of ``n_neighbourhoods`` random cells (more if the graph runs out of cells
    nearby), a neighbourhood of ``size / n_neighbourhoods`` cells grows along the shortest
    edges first (Prim's order): it fills the dense region around the seed before crossing
    to another. Seeds drawn uniformly land in populations in proportion to their size. On
    a 100k-cell, 15-NN graph, 20,000 cells so sampled keep 52 to 53 % of their edges (three
    seeds, 0.7 s), against 20 % for a uniform sample of as many cells.

    Parameters
    ----------
    neighbours
        The filtration's edges in their symmetric layout (every scale's graph shares them).
    size
        How many cells to return (all of them when there are no more).
    rng
        Draws the seeds.
    n_neighbourhoods
        How many neighbourhoods to grow (more when the graph runs out of cells near a seed).
    """
    n = len(neighbours.indptr) - 1
    if size >= n:
        return np.arange(n)
    indptr, indices, lengths = neighbours.indptr, neighbours.indices, neighbours.lengths
    taken = np.zeros(n, dtype=bool)
    per_neighbourhood = max(size // n_neighbourhoods, 1)
    count = 0
    for seed in rng.permutation(n):
        if count >= size:
            break
        if taken[seed]:
            continue
        limit, grown = min(per_neighbourhood, size - count), 0
        frontier = [(0.0, int(seed))]
        while frontier and grown < limit:
            _, cell = heapq.heappop(frontier)
            if taken[cell]:
                continue
            taken[cell] = True
            grown += 1
            for entry in range(indptr[cell], indptr[cell + 1]):
                if not taken[indices[entry]]:
                    heapq.heappush(frontier, (float(lengths[entry]), int(indices[entry])))
        count += grown
    return np.flatnonzero(taken)


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
    on_fit: Callable[[], object] | None = None,
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
    on_fit
        Called after each candidate's fit (a progress bar's tick).
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
        errors[i] = held_out_error(split, U)
        if on_fit is not None:
            on_fit()
    return WeightSelection(float(tried[np.argmin(errors)]), tried, errors)


def cross_validate_scales(
    split: GeneSplit,
    graphs: Sequence[ScaleGraph],
    weights: Weights,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> ScaleSelection:
    """Recommend the coarsest scale reached from the best one through scales within one standard error of it.

    All scales are fitted together on the genes of A with the fit's ``weights`` (the
    multi-scale solver, a few coupled sweeps), and each scale's embedding predicts the
    genes of B. The standard error of a scale's difference to the best one is taken over the
    held-out genes, each gene's error being one paired observation. From the scale with the
    smallest error, the recommendation moves to the next coarser scale while that scale's
    error is within its standard error of the smallest (:func:`one_standard_error_scale`).

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
    fit = solve(split.train, graphs, U, W, weights, max_iter=max_iter, max_sweeps=CV_SWEEPS, tol=max(tol, CV_TOL))
    per_gene = np.stack([held_out_gene_errors(split, embedding) for embedding in fit.embeddings])
    scale = max(split.test.sq_norm, np.finfo(float).tiny)
    totals = per_gene.sum(axis=1)
    best = int(np.argmin(totals))
    differences = per_gene - per_gene[best]
    n_genes = per_gene.shape[1]
    standard_errors = np.sqrt(n_genes) * differences.std(axis=1, ddof=1) if n_genes > 1 else np.zeros_like(totals)
    recommended = one_standard_error_scale(totals, standard_errors)
    return ScaleSelection(recommended, totals / scale, standard_errors / scale)


def one_standard_error_scale(errors: np.ndarray, standard_errors: np.ndarray) -> int:
    """Return the coarsest scale reached from the smallest error through scales within one standard error of it.

    ``errors`` are the scales' held-out errors, fine to coarse, and ``standard_errors`` the
    standard errors of their differences to the smallest. Breiman's rule takes, among the
    models the data cannot tell from the best, the simplest: for smoothing, the most
    smoothed (glmnet's ``lambda.1se`` is the largest penalty within one standard error).
    Scales finer than the best are never taken, and a coarser scale is taken only if every
    scale between it and the best is within too.
    """
    within = errors - errors.min() <= standard_errors
    scale = int(np.argmin(errors))
    while scale + 1 < len(errors) and within[scale + 1]:
        scale += 1
    return scale


def _restricted(U: np.ndarray, W: np.ndarray, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Restrict the start to some genes: W's rows renormalized to unit columns, U rescaled to keep U Wᵀ."""
    W = W[genes]
    norms = np.linalg.norm(W, axis=0)
    norms[norms == 0] = 1.0
    return U * norms, W / norms


def _gene_squares(test: Expression) -> np.ndarray:
    """Every gene's squared norm over the cells, in float64."""
    X = test.matrix
    if isinstance(X, np.ndarray):
        X = X.astype(np.float64, copy=False)
        return np.einsum("ij,ij->j", X, X)
    values = sparse.csr_matrix((X.data.astype(np.float64) ** 2, X.indices, X.indptr), shape=X.shape)
    return np.asarray(values.sum(axis=0), dtype=np.float64).ravel()


def held_out_gene_errors(split: GeneSplit, U: np.ndarray) -> np.ndarray:
    """Every held-out gene's squared error under its best nonnegative prediction from the embedding ``U``.

    The genes' loadings ``W ≥ 0`` minimize ``‖X_B − U Wᵀ‖²`` (no norm constraint,
    :func:`~pnmf._core.least_squares.nonnegative_least_squares`, :data:`HELD_OUT_PASSES`
    passes); the errors come from k × k Gram matrices, so ``X_B − U Wᵀ`` is never formed.
    """
    XtU = split.test.transpose_times(U)
    gram = U.T @ U
    W = nonnegative_least_squares(gram, XtU, max_passes=HELD_OUT_PASSES)
    errors = split.test_squares - 2.0 * np.einsum("gk,gk->g", XtU, W) + np.einsum("gk,kl,gl->g", W, gram, W)
    return np.maximum(errors, 0.0)


def held_out_error(split: GeneSplit, U: np.ndarray) -> float:
    """Relative error of the best nonnegative prediction of the held-out genes from ``U`` (:func:`held_out_gene_errors`)."""
    if split.test.sq_norm == 0:
        return 0.0
    return float(held_out_gene_errors(split, U).sum() / split.test.sq_norm)
