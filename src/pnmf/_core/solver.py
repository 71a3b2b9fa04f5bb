"""Block-coordinate descent for the coupled multi-scale objective.

In cells × genes layout (U_t = H_tᵀ, n × k; W_t, m × k) the objective is

    F = Σ_t ‖X − U_t W_tᵀ‖² + Σ_t tr(U_tᵀ (λ1 L_t + 3 ρ_t B_t) U_t)
        + Σ_t Σ_i c_ti ‖u_ti − u_(t+1)i‖² + λ3 Σ_t ‖U_t‖² + Σ_t ρ_t Σ_i ‖u_ti − ū_tg(i)‖²,
    U_t, W_t ≥ 0, ‖W_t[:, j]‖ = 1,

with c_ti = (λ2 + λ1 (1 − d_ti)₊) / (1 + 3 ρ_(t+1)) (:func:`pair_coupling`), d_ti cell i's degree in scale t's
normalized graph: what a scale's graph lacks of a full pull on a cell is spent on tying
the cell to its own next coarser embedding; ū_tg(i) is the mean embedding of cell i's
group at scale t and ρ_t = ρ ((ε_t / ε_0)² − 1) the pooling weight
(:mod:`pnmf._core.pooling`), which makes coarse scales contract what persistence has joined;
B_t is the Laplacian of L_t's edges between the cells that scale t pools into no group (its
bulk, :attr:`ScaleGraph.bulk_arrays`), which a coarse scale smooths more instead.

Every update below minimizes F exactly over one block with the others fixed, so F never
increases:

* a column of W_t: exact, ``w = [r]₊ / ‖[r]₊‖`` (the unit-norm constraint turns the
  quadratic into a linear objective on the nonnegative unit sphere);
* an entry of U_t: exact, by coordinate descent over cells (Gauss–Seidel), in all terms,
  with the group means fixed (the pooling term is the minimum over free group centres of
  the cells' squared distances to them, and the means are those centres' exact update);
* a shift of every cell of an aggregate of neighbouring cells by one vector, after each pass
  (:mod:`pnmf._core.multigrid`): not an exact minimization but descent on the same objective
  over the aggregates, so F still never increases; it carries the graph term's smooth modes,
  which a pass moves by about one edge.

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
from .graphs import ScaleGraph, Smoothing
from .kernels import embedding_pass
from .multigrid import Aggregates, CoarseLevels

__all__ = [
    "GRAPH_COARSENING",
    "Adjacent",
    "Fit",
    "Weights",
    "adjacent_scales",
    "coupled_products",
    "coupling_diagonal",
    "graph_penalty",
    "pair_coupling",
    "scale_couplings",
    "solve",
    "squared_norm",
    "total_objective",
    "update_coupled_embedding",
    "update_embedding",
    "update_loadings",
    "weighted_squared_distance",
]

# Coordinate-descent passes over U per product with X. Passes continue while one still moves
# U by more than INNER_RATIO of the first pass's move (Gillis & Glineur's rule for
# accelerated HALS): a strong graph term diffuses slowly and needs many cheap passes, a weak
# one needs few. Measured on 30k cells: 0.2 and 10 solve in 21 s where 0.05 and 20 take 31 s.
# Before the coarse corrections, fewer passes or a looser tolerance on the path left the
# coarse scales short of their contraction (the stiff bulk term diffuses about one edge per
# pass): on 30k cells 5 passes and the path at 10 × tol made 39 % fewer passes for the same
# objective within 5e-5, but of the four separable 4 × 4 and 6 × 4 hierarchies one collapsed
# its subtypes at some scale, not four; the path at 10 × tol alone, none (subtype ARI
# 0.46–0.54 at the coarsest). Since every pass is followed by a coarse correction
# (:mod:`pnmf._core.multigrid`), an update stops after about 3 passes instead of 7 (100k
# cells, cross-validation included: 251 passes against 850) and ends nearer its minimum.
MAX_INNER = 10
INNER_RATIO = 0.2

#: Where coupled sweeps follow, the path stops each scale at this multiple of ``tol``: it is
#: their start, and they refine every scale to ``tol``. With the coarse corrections each update
#: contracts the coarse scales far enough that a looser path keeps the hierarchy: at 3 × tol
#: the 100k fit makes 25 path updates instead of 45 (45 s against 53 s, the objective 0.04 %
#: higher), and the separable hierarchies collapse their subtypes on the same 5 of 6 sets.
PATH_TOL_FACTOR = 3.0

#: On the bulk of a scale (the cells it does not pool) the graph weight grows by
#: GRAPH_COARSENING · ρ_t (:meth:`Weights.bulk_graph`). A cell's neighbours sit about one edge
#: away, a group's mean a group's radius away, so smoothing along the graph needs a stronger
#: pull than pooling to move a cell as far. Measured with ρ = 10 on an earlier form of the
#: term (on every cell, the path from coarse to fine): at 1, paul15's coarse lineages fell to
#: ARI 0.38 at their best scale (0.50 without it) and pbmc68k's coarsest scale (10-NN) moved
#: 0.41 from its finest; at 3, 0.53 and 0.49.
GRAPH_COARSENING = 3.0

#: Rows per chunk of the row-wise operations on embeddings: temporaries of a few MB, not the size
#: of an embedding.
ROW_CHUNK = 1 << 15


@dataclass(frozen=True)
class Weights:
    """The weights of the objective: λ1 (graph), λ2 (coupling between scales), λ3 (anchoring), ρ (pooling)."""

    graph: float = 10.0
    coupling: float = 1.0
    anchor: float = 0.0
    pooling: float = 0.0

    def bulk_graph(self, coarsening: float) -> float:
        """Return the weight added on the graph of a scale's bulk, for its pooling factor ``coarsening``.

        ``GRAPH_COARSENING · ρ · coarsening``, ``coarsening`` being ``(ε_t / ε_0)² − 1``, on
        the edges between cells that the scale does not pool (:attr:`ScaleGraph.bulk_arrays`):
        a chained bulk, which persistence never sets apart as groups, contracts along its
        graph as a coarse scale's groups contract to their means, as diffusion for a time
        that grows with the scale would contract it.
        """
        return GRAPH_COARSENING * self.pooling * coarsening

    @property
    def couples_scales(self) -> bool:
        """Whether the objective ties the scales to each other, so that factor j is one program at every scale.

        Through λ2, and through λ1 too: a cell that a scale's graph leaves short of a full
        pull is tied to its coarser embedding (:func:`pair_coupling`).
        """
        return self.coupling > 0 or self.graph > 0


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


#: An adjacent scale as an embedding update sees it: its embedding and the per-cell coupling weights to it.
Adjacent = tuple[np.ndarray, np.ndarray]


def pair_coupling(degree: np.ndarray, weights: Weights, coarsening: float = 0.0) -> np.ndarray:
    """Per-cell weight of the coupling between a scale and the next coarser one, ``(λ2 + λ1 (1 − d_i)₊) / (1 + w)``.

    ``degree`` holds every cell's ``d_i``, the total pull of its neighbours at the finer
    scale (in the fit, its degree in the scale's normalized graph, ``ScaleGraph.degree``;
    any shape): about 1 for a cell with neighbours below the scale's threshold, 0 for a
    cell with none. Every cell is then smoothed about as much at every scale (its pull
    totals about λ1 + λ2): by its neighbours where the scale's graph gives it some, and
    where it gives it none (a cell in a sparse region, not yet joined to anything), by its
    own embedding at the next coarser scale, where it is joined. Adding an edge to such a
    cell instead would join components that the scale keeps apart.

    ``coarsening`` is the coarser scale's pooling factor ``(ε_t / ε_0)² − 1`` and
    ``w = GRAPH_COARSENING · ρ · coarsening`` the weight it adds on its bulk
    (:meth:`Weights.bulk_graph`): a coarser scale that smooths 1 + w times as much keeps
    about 1 / (1 + w) of the finer scale's detail, and the tie to it weighs that much less,
    so that it keeps the factors aligned without carrying the coarse smoothing down to the
    finer scale (with full ties, the finest scale of the mouse ES cell-cycle data fell from
    ARI 0.667 to 0.004).
    """
    return (weights.coupling + weights.graph * np.maximum(1.0 - degree, 0.0)) / (1.0 + weights.bulk_graph(coarsening))


def scale_couplings(graphs: Sequence[ScaleGraph], weights: Weights) -> list[np.ndarray]:
    """Per-cell coupling weights between every scale and the next coarser one (:func:`pair_coupling`)."""
    return [pair_coupling(graph.degree, weights, coarser.pooling.scale) for graph, coarser in pairwise(graphs)]


def coupled_products(XW: np.ndarray, adjacent: Sequence[Adjacent]) -> np.ndarray:
    """Return ``XW + Σ_s c_s ⊙ U_s``, written into ``XW``: the linear term of an embedding update.

    ``adjacent`` holds each adjacent scale's embedding ``U_s`` with its per-cell coupling
    weights ``c_s``. By chunks of rows, so no cells × k temporary is made (160 MB per
    million cells and adjacent scale). The caller owns ``XW``, a fresh product.
    """
    for embedding, coupling in adjacent:
        for start in range(0, XW.shape[0], ROW_CHUNK):
            rows = slice(start, start + ROW_CHUNK)
            XW[rows] += coupling[rows, None] * embedding[rows]
    return XW


def coupling_diagonal(adjacent: Sequence[Adjacent], anchor: float, n_cells: int) -> np.ndarray:
    """Return every cell's curvature from the coupling and anchor terms, ``λ3 + Σ_s c_s``."""
    diagonal = np.full(n_cells, anchor, dtype=np.float64)
    for _, coupling in adjacent:
        diagonal += coupling
    return diagonal


def update_embedding(
    U: np.ndarray,
    linear: np.ndarray,
    gram_W: np.ndarray,
    graph: ScaleGraph,
    graph_weight: float,
    diagonal: np.ndarray,
    max_inner: int = MAX_INNER,
    buffer: np.ndarray | None = None,
    *,
    bulk_weight: float = 0.0,
    aggregates: Aggregates | None = None,
) -> tuple[Smoothing, Aggregates]:
    """Run passes of exact coordinate descent over the entries of ``U`` (in place) with ``W`` fixed; return the graph term used.

    Each pass is followed by a coarse correction on aggregates of the scale's graph
    (:class:`~pnmf._core.multigrid.CoarseLevels`; none without a graph term); the passes
    stop by :data:`INNER_RATIO` on the moves of both.

    Parameters
    ----------
    U
        Current embedding, cells × k, nonnegative, C-contiguous float64.
    linear
        ``X W + Σ_s c_s ⊙ U_s`` over the adjacent scales s (:func:`coupled_products`); ``X W``
        alone when there are none.
    gram_W
        ``Wᵀ W``.
    graph
        This scale's graph.
    graph_weight
        λ1.
    diagonal
        Every cell's curvature from the coupling and anchor terms (:func:`coupling_diagonal`).
    max_inner
        Maximum number of passes.
    buffer
        Where to write the graph's edge weights (one float64 per entry of ``graph.edges``),
        reused across calls; ``None``: a new array.
    bulk_weight
        The weight added on the edges of the bulk (:meth:`Weights.bulk_graph`).
    aggregates
        The coarse levels of this graph term (the same graph and weights), returned by an
        earlier update; ``None``: built here.

    Returns
    -------
    smoothing
        The graph term as the passes read it (:meth:`ScaleGraph.smoothing`; its edge weights are
        ``buffer`` when given), for :meth:`ScaleGraph.smoothed_quadratic_form`.
    aggregates
        Its coarse levels, for the next update of this scale.
    """
    smoothing = graph.smoothing(graph_weight, bulk_weight, buffer)
    edge_weights, degree, factor = smoothing
    coarse = CoarseLevels(
        graph.starts, graph.stops, graph.edges.indices, edge_weights, degree, factor, diagonal, aggregates
    )
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
            degree,
            factor,
            diagonal,
            graph.order,
            graph.color_starts,
        )
        move += coarse.correct(U, linear, gram_W)
        first_move = move if first_move is None else first_move
        if move <= INNER_RATIO**2 * first_move:
            break
    return smoothing, coarse.aggregates


def update_coupled_embedding(
    U: np.ndarray,
    XW: np.ndarray,
    gram_W: np.ndarray,
    graph: ScaleGraph,
    weights: Weights,
    adjacent: Sequence[Adjacent],
    buffer: np.ndarray | None = None,
    aggregates: Aggregates | None = None,
) -> tuple[Smoothing, Aggregates]:
    """Minimize the objective over one scale's embedding ``U`` (in place), its loadings and the ``adjacent`` scales fixed.

    ``XW`` is the fresh product ``X W`` (overwritten by the linear term, :func:`coupled_products`);
    ``buffer``, ``aggregates`` and what is returned as in :func:`update_embedding`.
    """
    linear = coupled_products(XW, adjacent)
    diagonal = coupling_diagonal(adjacent, weights.anchor, U.shape[0])
    if weights.pooling > 0:
        graph.pooling.add_pull(linear, U, weights.pooling)
        diagonal += graph.pooling.cell_weights(weights.pooling)
    return update_embedding(
        U,
        linear,
        gram_W,
        graph,
        weights.graph,
        diagonal,
        buffer=buffer,
        bulk_weight=weights.bulk_graph(graph.pooling.scale),
        aggregates=aggregates,
    )


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


def weighted_squared_distance(A: np.ndarray, B: np.ndarray, weights: np.ndarray) -> float:
    """Return ``Σ_i weights_i ‖a_i − b_i‖²``, by chunks of rows (no cells × k temporary)."""
    total = 0.0
    for start in range(0, A.shape[0], ROW_CHUNK):
        rows = slice(start, start + ROW_CHUNK)
        difference = A[rows] - B[rows]
        total += float(weights[rows] @ np.einsum("ij,ij->i", difference, difference))
    return total


def squared_norm(U: np.ndarray) -> float:
    """Return ``‖U‖²``, without a temporary."""
    return float(np.einsum("ij,ij->", U, U))


def graph_penalty(graph: ScaleGraph, U: np.ndarray, weights: Weights) -> float:
    """``λ1 tr(Uᵀ L U) + w_t tr(Uᵀ L_bulk U)``, one scale's graph term (``w_t`` from :meth:`Weights.bulk_graph`)."""
    bulk_weight = weights.bulk_graph(graph.pooling.scale)
    bulk = bulk_weight * graph.bulk_quadratic_form(U) if bulk_weight else 0.0
    return weights.graph * graph.quadratic_form(U) + bulk


def total_objective(
    reconstruction: Sequence[float],
    embeddings: Sequence[np.ndarray],
    graphs: Sequence[ScaleGraph],
    weights: Weights,
    couplings: Sequence[np.ndarray],
    graph_terms: Sequence[float] | None = None,
) -> tuple[float, dict[str, float]]:
    """Evaluate the coupled objective and its four terms, given each scale's reconstruction error.

    ``couplings[t]`` holds the per-cell weights between scales t and t + 1 (:func:`pair_coupling`).
    ``graph_terms``: each scale's graph term when known (:func:`graph_penalty` otherwise).
    """
    if graph_terms is None:
        graph_terms = [graph_penalty(g, U, weights) for g, U in zip(graphs, embeddings, strict=True)]
    terms = {
        "reconstruction": float(sum(reconstruction)),
        "graph": float(sum(graph_terms)),
        "coupling": sum(
            weighted_squared_distance(a, b, c) for (a, b), c in zip(pairwise(embeddings), couplings, strict=True)
        ),
        "anchor": weights.anchor * sum(squared_norm(U) for U in embeddings),
        "pooling": sum(g.pooling.penalty(U, weights.pooling) for g, U in zip(graphs, embeddings, strict=True)),
    }
    return sum(terms.values()), terms


def adjacent_scales(t: int, embeddings: Sequence[np.ndarray], couplings: Sequence[np.ndarray]) -> list[Adjacent]:
    """Scale t's neighbours on the scale path, each with its per-cell coupling weights to scale t."""
    adjacent = []
    if t > 0:
        adjacent.append((embeddings[t - 1], couplings[t - 1]))
    if t + 1 < len(embeddings):
        adjacent.append((embeddings[t + 1], couplings[t]))
    return adjacent


def _fit_step(
    expression: Factorized,
    U: np.ndarray,
    W: np.ndarray,
    graph: ScaleGraph,
    weights: Weights,
    adjacent: Sequence[Adjacent],
    buffer: np.ndarray,
    aggregates: Aggregates | None,
) -> tuple[float, float, Aggregates]:
    """Update one scale's embedding (seeing its ``adjacent`` scales), then its loadings.

    Returns the scale's reconstruction error, its graph term (:func:`graph_penalty`, from
    the edge weights the update filled) and its coarse levels (``aggregates`` when given).
    """
    smoothing, aggregates = update_coupled_embedding(
        U, expression.times(W), W.T @ W, graph, weights, adjacent, buffer, aggregates
    )
    graph_term = graph.smoothed_quadratic_form(U, smoothing)
    XtU = expression.transpose_times(U)
    update_loadings(W, XtU, U.T @ U)
    return reconstruction_error(expression.sq_norm, XtU, U, W), graph_term, aggregates


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
    """Fit all scales: a warm-started path from fine to coarse, then coupled sweeps.

    Path: the finest scale is fitted from ``(U0, W0)``; each coarser scale starts from the
    solution of the next finer one and is fitted with the coupling term towards it. Each
    scale stops when its objective decreases by less than ``tol`` (relative;
    :data:`PATH_TOL_FACTOR` × ``tol`` when sweeps follow) or after ``max_iter`` iterations.
    From fine to coarse, so that no scale starts from a smoother one: a path from coarse to
    fine handed the coarse scales' contraction to the finest as its start, where it stayed
    (the finest scale of the mouse ES cell-cycle data: ARI 0.15 against 0.67).

    Sweeps: block-coordinate descent on the full objective, scale by scale from fine to
    coarse, each scale's embedding (seeing the newest neighbouring scales) then its
    loadings; stops on the same rule. Products with X are made per scale: one wide product
    for all scales is slower, its dense operand no longer fits in cache.

    With ``overwrite_start``, a C-contiguous float64 ``U0`` becomes the finest scale's
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
    n_entries = max((len(graph.edges.indices) for graph in graphs), default=0)
    buffer = np.zeros(n_entries)
    couplings = scale_couplings(graphs, weights)
    # each scale's reconstruction error and graph term at its newest factors
    errors, graph_terms = [0.0] * n_scales, [0.0] * n_scales
    # each scale's coarse levels: its graph term is the same at every update (:class:`Aggregates`)
    aggregates: list[Aggregates | None] = [None] * n_scales
    U = np.require(U0, np.float64, "C") if overwrite_start else np.array(U0, np.float64, order="C")
    W = W0.astype(np.float64, copy=True)
    path_tol = PATH_TOL_FACTOR * tol if max_sweeps > 0 else tol
    for t in range(n_scales):
        finer = embeddings[t - 1] if t > 0 else None
        if finer is not None:
            U = finer.copy()  # each coarser scale starts from the next finer one's solution
        previous = np.inf
        bar.set_postfix_str(f"scale {t}")
        adjacent = [] if finer is None else [(finer, couplings[t - 1])]
        for iteration in range(1, max_iter + 1):
            errors[t], graph_terms[t], aggregates[t] = _fit_step(
                expression, U, W, graphs[t], weights, adjacent, buffer, aggregates[t]
            )
            value = (
                errors[t]
                + graph_terms[t]
                + weights.anchor * squared_norm(U)
                + graphs[t].pooling.penalty(U, weights.pooling)
            )
            if finer is not None:
                value += weighted_squared_distance(U, finer, couplings[t - 1])
            fit.record("path", t, iteration, value)
            n_iter[t] = iteration
            if _converged(previous, value, path_tol):
                converged[t] = True
                break
            previous = value
        embeddings[t], loadings[t] = U, W.copy()
        bar.update()

    fit.objective, fit.terms = total_objective(errors, embeddings, graphs, weights, couplings, graph_terms)
    fit.record("sweep", -1, 0, fit.objective)
    bar.set_postfix_str("coupled sweeps")
    for sweep in range(1, max_sweeps + 1):
        for t in range(n_scales):
            adjacent = adjacent_scales(t, embeddings, couplings)
            errors[t], graph_terms[t], aggregates[t] = _fit_step(
                expression, embeddings[t], loadings[t], graphs[t], weights, adjacent, buffer, aggregates[t]
            )
        previous = fit.objective
        fit.objective, fit.terms = total_objective(errors, embeddings, graphs, weights, couplings, graph_terms)
        fit.record("sweep", -1, sweep, fit.objective)
        fit.n_sweeps = sweep
        bar.update()
        if _converged(previous, fit.objective, tol):
            fit.sweeps_converged = True
            break
    bar.close()
    return fit
