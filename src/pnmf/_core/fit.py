"""The whole fit on plain arrays: scales from persistence, their graphs, the coupled solve, aligned factors.

:func:`fit` is what ``tl.pnmf`` computes once it has read the AnnData. It is split in two
for tools that solve many times on the same scales (``tl.select_k``, ``tl.consensus``):
:func:`prepare` computes everything that does not depend on the factors (persistence,
thresholds, graphs, the matrix as factorized), :func:`solve_problem` initializes, solves
and aligns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from time import perf_counter
from typing import TypeAlias

import numpy as np
from scipy import sparse
from tqdm import tqdm

from .._errors import PnmfValueError
from .._options import PnmfOptions
from .alignment import align_factors, consecutive_similarity
from .cross_validation import (
    CANDIDATE_WEIGHTS,
    MAX_CELLS,
    GeneSplit,
    ScaleSelection,
    WeightSelection,
    cross_validate_graph_weight,
    cross_validate_scales,
)
from .dask_expression import DaskExpression, DaskSource
from .expression import Expression, Factorized
from .geometry import exact_merges, filtration_persistence, thresholds, top_threshold
from .graphs import ScaleGraph, scale_graphs
from .init import nndsvda
from .persistence import EdgeList, Persistence
from .scales import recommend_scale
from .solver import Fit, Weights, solve
from .streamed import BlockSource, StreamedExpression

__all__ = [
    "FitResult",
    "Matrix",
    "Problem",
    "cross_validate",
    "factorized",
    "fit",
    "graph_weight_rule",
    "objective_weights",
    "prepare",
    "recommended_scale",
    "solve_problem",
]

#: A cells × genes matrix to factorize: in memory, read by blocks from a file, or a Dask array.
Matrix: TypeAlias = np.ndarray | sparse.spmatrix | BlockSource | DaskSource


@dataclass(frozen=True)
class Problem:
    """What the solver needs besides the options: the matrix as factorized and the scales with their graphs.

    ``edges`` are the filtration's edges (a disconnected kNN graph bridged, ``n_bridges``
    edges added; ``n_closest`` closest pairs added where the kNN graph missed a merge at a
    chosen scale, see :func:`~pnmf._core.geometry.exact_merges`), ``top`` the threshold
    joining all of them; ``thresholds`` and
    ``n_connected`` (components) describe the scales, fine to coarse, one graph each.
    """

    expression: Factorized
    edges: EdgeList
    persistence: Persistence
    top: float
    thresholds: np.ndarray
    n_connected: np.ndarray
    graphs: list[ScaleGraph]
    n_bridges: int
    n_closest: int
    timings: dict[str, float]


@dataclass(frozen=True)
class FitResult:
    """A solved problem: factors aligned across scales and the scale recommended without labels.

    ``options`` are those of the fit as run (``graph_weight='auto'`` replaced by the weight
    chosen, ``selection`` the evidence, ``None`` when the weight was given).
    ``scale_selection`` is the evidence for the recommended scale (``None`` with a single
    scale, or when there were too few genes to cross-validate and the rule of
    :func:`~pnmf._core.scales.recommend_scale` chose it). ``solution`` is
    the solver's :class:`~pnmf._core.solver.Fit` with factor j the same program at every
    scale; ``alignment`` says how (``'coupling'``: the model's own order, ``'hungarian'``:
    matched on loadings) and ``similarity`` (scales - 1 × k) is the cosine of factor j's
    loadings between consecutive scales.
    """

    problem: Problem
    options: PnmfOptions
    selection: WeightSelection | None
    scale_selection: ScaleSelection | None
    solution: Fit
    alignment: str
    similarity: np.ndarray
    recommended: int
    timings: dict[str, float]

    @property
    def graph_weight_rule(self) -> str:
        """How λ1 was set: ``'given'``, ``'cross-validated'`` or ``'fallback'`` (too few genes to split)."""
        return graph_weight_rule(self.selection)

    @property
    def scale_rule(self) -> str:
        """How the recommended scale was chosen: ``'cross-validated'``, ``'single scale'`` or ``'fallback'`` (too few genes to split)."""
        if self.scale_selection is not None:
            return "cross-validated"
        return "single scale" if len(self.problem.thresholds) == 1 else "fallback"


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of one stage."""
    start = perf_counter()
    yield
    timings[name] = perf_counter() - start


def factorized(X: Matrix, *, normalize: bool, progress: bool = False) -> Factorized:
    """Return the matrix as the solver factorizes it (cells normalized when asked), wherever it is.

    ``progress``: a bar over the cells of a matrix read by blocks (its first read).
    """
    if isinstance(X, BlockSource):
        return StreamedExpression(X, normalize=normalize, progress=progress)
    if isinstance(X, DaskSource):
        return DaskExpression(X.array, X.columns, normalize=normalize, where=X.where)
    return Expression(X, normalize=normalize)


def prepare(
    X: Matrix,
    points: np.ndarray,
    edges: EdgeList,
    options: PnmfOptions,
    *,
    name: str = "the expression matrix",
    progress: bool = False,
) -> Problem:
    """Compute the scales of ``points`` and their graphs, and the matrix as the solver factorizes it.

    Parameters
    ----------
    X
        Cells × genes, nonnegative and finite: in memory, or a description of a matrix read
        by blocks of rows (:class:`~pnmf._core.streamed.BlockSource`, checked as it is read)
        or of a Dask array (:class:`~pnmf._core.dask_expression.DaskSource`).
    points
        Cells × dimensions: the coordinates whose distances make the filtration.
    edges
        The filtration's edges, lengths measured in ``points`` (all pairs for ``'rips'``).
    options
        The fit's options (``filtration``, ``scales``, ``n_scales``, ``normalize`` are used).
    name
        How messages call ``X``.
    progress
        A bar with an ETA over the cells of a matrix read by blocks.
    """
    timings: dict[str, float] = {}
    with stage(timings, "expression"):
        # first: a matrix read by blocks is checked as it is read, before the slower stages
        expression = factorized(X, normalize=options.normalize, progress=progress)
        if expression.sq_norm == 0:
            msg = f"{name} has no nonzero values in the selected genes: there is nothing to factorize."
            raise PnmfValueError(msg)
    with stage(timings, "persistence"):
        edges, persistence, n_bridges = filtration_persistence(options.filtration, edges, points)

        def choose(persistence: Persistence, top: float) -> np.ndarray:
            return thresholds(options.scales, options.n_scales, persistence, top)

        if options.filtration == "knn" and options.scales != "all":
            edges, persistence, chosen, n_closest = exact_merges(edges, persistence, points, choose)
        else:
            chosen, n_closest = choose(persistence, top_threshold(edges)), 0
        top = top_threshold(edges)
        n_connected = persistence.n_connected(chosen)
    with stage(timings, "graphs"):
        graphs = scale_graphs(edges, chosen)
    return Problem(expression, edges, persistence, top, chosen, n_connected, graphs, n_bridges, n_closest, timings)


def cross_validate(
    problem: Problem,
    options: PnmfOptions,
    start: tuple[np.ndarray, np.ndarray],
    *,
    recommend: bool = True,
    max_cells: int = MAX_CELLS,
    progress: bool = False,
) -> tuple[WeightSelection | None, ScaleSelection | None]:
    """Cross-validate λ1 (when ``options.graph_weight`` is ``'auto'``) and the recommended scale on one gene split.

    λ1 is chosen on the coarsest scale's graph; every scale is then fitted with the
    resulting weights and the recommended scale chosen (see :mod:`.cross_validation`;
    ``recommend=False``, or a single scale, skips that). Above ``max_cells`` cells, that
    many cells in neighbourhoods of the graph take part, with the graphs they induce at the
    same thresholds. With too few genes to split, the weight is the fallback and the
    scale selection ``None``. ``progress``: a bar over the fits, with an ETA.
    """
    auto = options.graph_weight == "auto"
    recommend = recommend and len(problem.thresholds) > 1
    if not (auto or recommend):
        return None, None
    split = GeneSplit.draw(
        _cross_validation_matrix(problem.expression, max_cells),
        start,
        problem.graphs[-1].edges,
        random_state=options.random_state,
        max_cells=max_cells,
    )
    if split is None:
        return (WeightSelection.fallback() if auto else None), None
    if split.cells is None:
        graphs = problem.graphs
    else:
        thresholds = problem.thresholds if recommend else problem.thresholds[-1:]
        graphs = scale_graphs(problem.edges.induced(split.cells), thresholds)
    n_fits = (len(CANDIDATE_WEIGHTS) if auto else 0) + int(recommend)
    n_cells = problem.expression.shape[0] if split.cells is None else len(split.cells)
    description = f"cross-validation ({n_cells:,} cells)"
    with tqdm(total=n_fits, desc=description, unit="fit", disable=not progress, leave=False) as bar:
        selection = None
        if auto:
            selection = cross_validate_graph_weight(
                split,
                graphs[-1],
                anchor_weight=options.anchor_weight,
                max_iter=options.max_iter,
                tol=options.tol,
                on_fit=bar.update,
            )
        if not recommend:
            return selection, None
        weights = objective_weights(options, selection.weight if selection is not None else None)
        scales = cross_validate_scales(split, graphs, weights, max_iter=options.max_iter, tol=options.tol)
        bar.update()
    return selection, scales


def objective_weights(options: PnmfOptions, graph_weight: float | None = None) -> Weights:
    """Return λ1, λ2, λ3 and ρ of ``options``, with ``graph_weight`` as λ1 when given (``options``' own must be a number)."""
    graph = float(options.graph_weight) if graph_weight is None else float(graph_weight)
    return Weights(
        graph=graph, coupling=options.coupling_weight, anchor=options.anchor_weight, pooling=options.pooling_weight
    )


def graph_weight_rule(selection: WeightSelection | None) -> str:
    """How λ1 was set, given the cross-validation's selection (``None``: the weight was given)."""
    if selection is None:
        return "given"
    return "cross-validated" if selection.cross_validated else "fallback"


def recommended_scale(problem: Problem, scale_selection: ScaleSelection | None) -> int:
    """Return the cross-validated scale, else the component-count rule's (:func:`~pnmf._core.scales.recommend_scale`)."""
    if scale_selection is not None:
        return scale_selection.recommended
    return recommend_scale(problem.n_connected, problem.persistence.n_cells)


class _Rows:
    """A matrix not in memory, seen by the cross-validation: ``X[cells]`` reads those rows into memory."""

    def __init__(self, expression: Factorized) -> None:
        self.expression = expression
        self.shape = expression.shape

    def __getitem__(self, cells: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        return self.expression.rows(np.asarray(cells))


def _cross_validation_matrix(expression: Factorized, max_cells: int) -> np.ndarray | sparse.spmatrix:
    """Return the matrix the cross-validation reads: in memory, or its rows read on demand.

    The cross-validation sees at most ``max_cells`` cells: a matrix with no more cells is
    read whole (it is small), a larger one gives only the sampled rows.
    """
    if isinstance(expression, Expression) and expression.cell_scale is None:
        return expression.matrix
    if expression.shape[0] <= max_cells:
        return expression.rows(np.arange(expression.shape[0]))
    return _Rows(expression)  # duck-typed: shape and row indexing are all the cross-validation uses


def solve_problem(
    problem: Problem, options: PnmfOptions, *, progress: bool = False, announce: Callable[[str], object] | None = None
) -> FitResult:
    """Initialize (NNDSVDa), cross-validate λ1 (if ``'auto'``) and the recommended scale, solve all scales, align the factors.

    ``progress``: bars with an ETA over the cross-validation's fits and the solver's steps;
    ``announce`` is called with a line as each stage starts.
    """
    timings: dict[str, float] = {}
    announce = announce or (lambda _: None)
    announce(f"    initial factors: NNDSVDa on {problem.expression.shape[0]:,} cells")
    with stage(timings, "init"):
        U0, W0 = nndsvda(problem.expression, options.n_comps, options.random_state)
    # before the solve, which overwrites U0, and so that the split's copies are gone by then
    with stage(timings, "cross-validation"):
        selection, scale_selection = cross_validate(problem, options, (U0, W0), progress=progress)
    if selection is not None:
        options = replace(options, graph_weight=selection.weight)
    weights = objective_weights(options)
    with stage(timings, "solve"):
        solution = solve(
            problem.expression,
            problem.graphs,
            U0,
            W0,
            weights,
            max_iter=options.max_iter,
            max_sweeps=options.max_sweeps,
            tol=options.tol,
            progress=progress,
            overwrite_start=True,  # U0 becomes the coarsest embedding, not a copy of it
        )
    solution, alignment = _aligned(solution, coupled=weights.couples_scales)
    similarity = consecutive_similarity(solution.loadings)
    recommended = recommended_scale(problem, scale_selection)
    return FitResult(
        problem, options, selection, scale_selection, solution, alignment, similarity, recommended, timings
    )


def fit(
    X: Matrix,
    points: np.ndarray,
    edges: EdgeList,
    options: PnmfOptions,
    *,
    name: str = "the expression matrix",
    progress: bool = False,
) -> FitResult:
    """Fit the multi-scale model: :func:`prepare` then :func:`solve_problem`."""
    return solve_problem(prepare(X, points, edges, options, name=name), options, progress=progress)


def _aligned(solution: Fit, *, coupled: bool) -> tuple[Fit, str]:
    """Return the solution with its factors in an order that means the same program at every scale.

    With a coupling term (λ2 > 0, or λ1 > 0, which couples the cells a scale's graph
    leaves short of a full pull) the model itself ties factor j across scales (permuting
    one scale would change its objective), so the order is kept. Without it each scale's
    factors are matched to the next finer scale's by the Hungarian algorithm on loadings.
    """
    if coupled:
        return solution, "coupling"
    permutations = align_factors(solution.loadings)
    embeddings = [U[:, p] for U, p in zip(solution.embeddings, permutations, strict=True)]
    loadings = [W[:, p] for W, p in zip(solution.loadings, permutations, strict=True)]
    return replace(solution, embeddings=embeddings, loadings=loadings), "hungarian"
