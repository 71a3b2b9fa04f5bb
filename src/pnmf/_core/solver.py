"""Block-coordinate descent for the coupled multi-scale objective.

In cells × genes layout (U_t = H_tᵀ, n × k; W_t, m × k) the objective is

    F = Σ_t ‖X − U_t W_tᵀ‖² + λ1 Σ_t tr(U_tᵀ L_t U_t)
        + λ2 Σ_{t≥2} ‖U_t − U_{t−1}‖² + λ3 Σ_t ‖U_t‖²,   U_t, W_t ≥ 0, ‖W_t[:, j]‖ = 1.

Every update below minimizes F exactly over one block with the others fixed, so F never
increases:

* a column of W_t: exact, ``w = [r]₊ / ‖[r]₊‖`` (the unit-norm constraint turns the
  quadratic into a linear objective on the nonnegative unit sphere);
* an entry of U_t: exact, by coordinate descent over cells (Gauss–Seidel), in all terms.

The reconstruction error is evaluated from k × k Gram matrices and the products that the
updates already need, so X − U Wᵀ is never formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from tqdm import tqdm

from .expression import Factorized
from .graphs import ScaleGraph
from .kernels import embedding_pass

__all__ = [
    "Fit",
    "Weights",
    "coupled_products",
    "solve",
    "squared_distance",
    "squared_norm",
    "total_objective",
    "update_embedding",
    "update_loadings",
]

# Coordinate-descent passes over U per product with X. Passes continue while one still moves
# U by more than INNER_RATIO of the first pass's move (Gillis & Glineur's rule for
# accelerated HALS): a strong graph term diffuses slowly and needs many cheap passes, a weak
# one needs few. Measured on 30k cells: 0.2 and 10 solve in 21 s where 0.05 and 20 take 31 s.
MAX_INNER = 10
INNER_RATIO = 0.2

#: Rows per chunk of the row-wise operations on embeddings: temporaries of a few MB, not the size
#: of an embedding.
ROW_CHUNK = 1 << 15


@dataclass(frozen=True)
class Weights:
    """The weights of the objective: λ1 (graph), λ2 (coupling between scales), λ3 (anchoring)."""

    graph: float = 10.0
    coupling: float = 1.0
    anchor: float = 0.0


@dataclass
class Fit:
    """Factors per scale (fine to coarse) and how the solver got there."""

    embeddings: list[np.ndarray]
    loadings: list[np.ndarray]
    n_iter: np.ndarray
    converged: np.ndarray
    n_sweeps: int
    sweeps_converged: bool
    objective: float
    terms: dict[str, float]
    history: dict[str, list] = field(
        default_factory=lambda: {"phase": [], "scale": [], "iteration": [], "objective": []}
    )

    def record(self, phase: str, scale: int, iteration: int, objective: float) -> None:
        """Append one row to the objective history."""
        for key, value in zip(
            ("phase", "scale", "iteration", "objective"), (phase, scale, iteration, objective), strict=True
        ):
            self.history[key].append(value)


def coupled_products(XW: np.ndarray, adjacent: Sequence[np.ndarray], coupling: float) -> np.ndarray:
    """Return ``XW + coupling · Σ adjacent``, written into ``XW``: the linear term of an embedding update.

    By chunks of rows, so no cells × k temporary is made (160 MB per million cells and
    adjacent scale). The caller owns ``XW``, a fresh product.
    """
    for embedding in adjacent:
        for start in range(0, XW.shape[0], ROW_CHUNK):
            rows = slice(start, start + ROW_CHUNK)
            XW[rows] += coupling * embedding[rows]
    return XW


def update_embedding(
    U: np.ndarray,
    linear: np.ndarray,
    gram_W: np.ndarray,
    graph: ScaleGraph,
    weights: Weights,
    n_adjacent: int,
    max_inner: int = MAX_INNER,
    buffer: np.ndarray | None = None,
) -> None:
    """Run passes of exact coordinate descent over the entries of ``U`` (in place) with ``W`` fixed.

    Parameters
    ----------
    U
        Current embedding, cells × k, nonnegative, C-contiguous float64.
    linear
        ``X W + λ2 Σ_s U_s`` over the adjacent scales s (:func:`coupled_products`); ``X W`` alone
        when there are none.
    gram_W
        ``Wᵀ W``.
    graph
        This scale's graph.
    weights
        Objective weights.
    n_adjacent
        How many adjacent scales ``linear`` includes.
    max_inner
        Maximum number of passes.
    buffer
        Where to write the graph's edge weights (one float64 per entry of ``graph.edges``),
        reused across calls; ``None``: a new array.
    """
    diagonal = weights.anchor + weights.coupling * n_adjacent
    edge_weights = graph.edge_weights(buffer)
    first_move = None
    for _ in range(max_inner):
        move = embedding_pass(
            U,
            linear,
            gram_W,
            graph.starts,
            graph.stops,
            graph.edges.indices,
            edge_weights,
            graph.degree,
            weights.graph,
            diagonal,
            graph.order,
            graph.color_starts,
        )
        first_move = move if first_move is None else first_move
        if move <= INNER_RATIO**2 * first_move:
            break


def update_loadings(W: np.ndarray, XtU: np.ndarray, gram_U: np.ndarray, n_inner: int = 2) -> None:
    """Exact passes over the unit-norm nonnegative columns of ``W`` (in place) with ``U`` fixed.

    With ``‖w_j‖ = 1`` the objective in column j is ``-2 w_jᵀ r_j`` + const, with
    ``r_j = Xᵀu_j − Σ_{l≠j} w_l (u_lᵀu_j)``; its minimizer on the nonnegative unit sphere is
    ``[r_j]₊ / ‖[r_j]₊‖``, or the best coordinate vector when ``r_j ≤ 0``.
    """
    for _ in range(n_inner):
        for j in range(W.shape[1]):
            r = XtU[:, j] - W @ gram_U[:, j] + W[:, j] * gram_U[j, j]
            positive = np.maximum(r, 0.0)
            norm = np.linalg.norm(positive)
            if norm > 0:
                W[:, j] = positive / norm
            elif r.max() > W[:, j] @ r:
                W[:, j] = 0.0
                W[r.argmax(), j] = 1.0


def reconstruction_error(sq_norm: float, XtU: np.ndarray, U: np.ndarray, W: np.ndarray) -> float:
    """``‖X − U Wᵀ‖²`` from ``‖X‖²``, ``Xᵀ U`` and the Gram matrices."""
    cross = np.einsum("ij,ij->", XtU, W)
    return max(sq_norm - 2.0 * cross + np.einsum("ij,ij->", U.T @ U, W.T @ W), 0.0)


def squared_norm(U: np.ndarray) -> float:
    """Return ``‖U‖²``, without a temporary."""
    return float(np.einsum("ij,ij->", U, U))


def squared_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Return ``‖A − B‖²``, by chunks of rows: the difference is never formed whole (160 MB per million cells)."""
    total = 0.0
    for start in range(0, A.shape[0], ROW_CHUNK):
        difference = A[start : start + ROW_CHUNK] - B[start : start + ROW_CHUNK]
        total += float(np.einsum("ij,ij->", difference, difference))
    return total


def total_objective(
    reconstruction: Sequence[float], embeddings: Sequence[np.ndarray], graphs: Sequence[ScaleGraph], weights: Weights
) -> tuple[float, dict[str, float]]:
    """Evaluate the coupled objective and its four terms, given each scale's reconstruction error."""
    terms = {
        "reconstruction": float(sum(reconstruction)),
        "graph": weights.graph * sum(g.quadratic_form(U) for g, U in zip(graphs, embeddings, strict=True)),
        "coupling": weights.coupling * sum(squared_distance(a, b) for a, b in pairwise(embeddings)),
        "anchor": weights.anchor * sum(squared_norm(U) for U in embeddings),
    }
    return sum(terms.values()), terms


def _fit_step(
    expression: Factorized,
    U: np.ndarray,
    W: np.ndarray,
    graph: ScaleGraph,
    weights: Weights,
    adjacent: Sequence[np.ndarray],
    buffer: np.ndarray,
) -> float:
    """Update one scale's embedding (seeing its ``adjacent`` scales), then its loadings; return its reconstruction error."""
    linear = coupled_products(expression.times(W), adjacent, weights.coupling)
    update_embedding(U, linear, W.T @ W, graph, weights, len(adjacent), buffer=buffer)
    del linear  # the product is no longer needed while Xᵀ U is formed
    XtU = expression.transpose_times(U)
    update_loadings(W, XtU, U.T @ U)
    return reconstruction_error(expression.sq_norm, XtU, U, W)


def _converged(previous: float, current: float, tol: float) -> bool:
    return bool(np.isfinite(previous)) and previous - current <= tol * max(abs(previous), np.finfo(float).tiny)


def solve(
    expression: Factorized,
    graphs: Sequence[ScaleGraph],
    U0: np.ndarray,
    W0: np.ndarray,
    weights: Weights,
    *,
    max_iter: int = 200,
    max_sweeps: int = 50,
    tol: float = 1e-4,
    progress: bool = False,
    overwrite_start: bool = False,
) -> Fit:
    """Fit all scales: a warm-started path from coarse to fine, then coupled sweeps.

    Path: the coarsest scale is fitted from ``(U0, W0)``; each finer scale starts from the
    solution of the next coarser one and is fitted with the coupling term towards it, so the
    graph structure of coarse scales reaches the fine ones. Each scale stops when its
    objective decreases by less than ``tol`` (relative) or after ``max_iter`` iterations.

    Sweeps: block-coordinate descent on the full objective, scale by scale from fine to
    coarse, each scale's embedding (seeing the newest neighbouring scales) then its
    loadings; stops on the same rule. Products with X are made per scale: one wide product
    for all scales is slower, its dense operand no longer fits in cache.

    With ``overwrite_start``, a C-contiguous float64 ``U0`` becomes the coarsest scale's
    embedding instead of being copied (one cells × k array less, 160 MB per million cells).
    """
    n_scales = len(graphs)
    embeddings: list[np.ndarray] = [np.empty(0)] * n_scales
    loadings: list[np.ndarray] = [np.empty(0)] * n_scales
    n_iter = np.zeros(n_scales, dtype=np.int64)
    converged = np.zeros(n_scales, dtype=bool)
    fit = Fit(embeddings, loadings, n_iter, converged, 0, False, np.nan, {})
    bar = tqdm(total=n_scales + max_sweeps, desc="pNMF", unit="step", disable=not progress, leave=False)

    # one array for the edge weights of whichever scale is being updated (the scales share their edges)
    buffer = np.empty(max((len(graph.edges.indices) for graph in graphs), default=0))
    U = np.require(U0, np.float64, "C") if overwrite_start else np.array(U0, np.float64, order="C")
    W = W0.astype(np.float64, copy=True)
    for t in reversed(range(n_scales)):
        coarser = embeddings[t + 1] if t + 1 < n_scales else None
        if coarser is not None:
            U = coarser.copy()  # each finer scale starts from the next coarser one's solution
        previous = np.inf
        bar.set_postfix_str(f"scale {t}")
        for iteration in range(1, max_iter + 1):
            error = _fit_step(expression, U, W, graphs[t], weights, [] if coarser is None else [coarser], buffer)
            value = error + weights.graph * graphs[t].quadratic_form(U) + weights.anchor * squared_norm(U)
            if coarser is not None:
                value += weights.coupling * squared_distance(U, coarser)
            fit.record("path", t, iteration, value)
            n_iter[t] = iteration
            if _converged(previous, value, tol):
                converged[t] = True
                break
            previous = value
        embeddings[t], loadings[t] = U, W.copy()
        bar.update()

    errors = [
        reconstruction_error(expression.sq_norm, expression.transpose_times(U), U, W)
        for U, W in zip(embeddings, loadings, strict=True)
    ]
    fit.objective, fit.terms = total_objective(errors, embeddings, graphs, weights)
    fit.record("sweep", -1, 0, fit.objective)
    bar.set_postfix_str("coupled sweeps")
    for sweep in range(1, max_sweeps + 1):
        for t in range(n_scales):
            adjacent = [embeddings[s] for s in (t - 1, t + 1) if 0 <= s < n_scales]
            errors[t] = _fit_step(expression, embeddings[t], loadings[t], graphs[t], weights, adjacent, buffer)
        previous = fit.objective
        fit.objective, fit.terms = total_objective(errors, embeddings, graphs, weights)
        fit.record("sweep", -1, sweep, fit.objective)
        fit.n_sweeps = sweep
        bar.update()
        if _converged(previous, fit.objective, tol):
            fit.sweeps_converged = True
            break
    bar.close()
    return fit
