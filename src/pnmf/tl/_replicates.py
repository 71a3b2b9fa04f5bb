"""What ``tl.select_k`` and ``tl.consensus`` share: the inputs and scales read once, seeded replicate fits.

The options of the fit are a :class:`~pnmf._options.PnmfOptions`, as for :func:`pnmf.tl.pnmf`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
from anndata import AnnData

from .._core.consensus import match_runs
from .._core.expression import Expression, Factorized
from .._core.fit import Problem, cross_validate, graph_weight_rule, objective_weights, recommended_scale
from .._core.graphs import ScaleGraph, scale_graph
from .._core.init import nndsvda
from .._core.persistence import EdgeList
from .._core.replicates import fit_replicate, subsample_cells
from .._core.solver import Weights
from .._options import PnmfOptions
from ._inputs import Inputs
from ._pnmf import prepare as prepare_scales

__all__ = ["DEFAULT_SUBSAMPLE", "REPLICATE_TOL", "Prepared", "Replicates", "prepare", "replicate_fits", "seeds"]

#: Default fraction of the cells that each replicate sees.
DEFAULT_SUBSAMPLE = 0.8
#: The runs' tolerance (``tl.select_k``'s default; ``tl.consensus``'s unless the source fit's is
#: smaller). Each run's finest scale is fitted from a random start, and a run stopped at
#: tl.pnmf's 1e-4 is still on its way: on five planted datasets (K = 3, 5 and 8) the least
#: stable factor at the true K was 0.43 to 0.80 at 1e-4 and 0.96 to 0.99 at 1e-6, and the
#: suggested k was K on 5 of 5 (1 of 5 at 1e-4), for about 2.5 times the time.
REPLICATE_TOL = 1e-6


@dataclass(frozen=True)
class Prepared:
    """The inputs of every replicate: the options, what was read, the scales and their graphs, the matrix as factorized.

    ``options`` are those every replicate runs with (``graph_weight='auto'`` resolved);
    ``graph_weight_rule`` says how λ1 was set; ``recommended`` is the scale ``tl.pnmf``
    would recommend (``None`` when not asked for).
    """

    options: PnmfOptions
    inputs: Inputs
    problem: Problem
    graph_weight_rule: str
    recommended: int | None = None

    @property
    def expression(self) -> Factorized:
        return self.problem.expression

    @property
    def edges(self) -> EdgeList:
        return self.problem.edges

    @property
    def graphs(self) -> list[ScaleGraph]:
        return self.problem.graphs

    @property
    def weights(self) -> Weights:
        return objective_weights(self.options)  # graph_weight resolved by prepare

    @property
    def coupled(self) -> bool:
        """Whether the scales are coupled, so that a factor keeps one identity at every scale."""
        return self.weights.couples_scales

    def params(self) -> dict[str, Any]:
        """Return the options and the inputs' provenance as a manifest's ``params`` records them."""
        return {**self.options.to_uns(), "graph_weight_rule": self.graph_weight_rule, **self.inputs.provenance()}


def prepare(
    adata: AnnData, options: PnmfOptions, weight_comps: int | None = None, *, recommend: bool = False
) -> Prepared:
    """Read the inputs and compute the persistence, scales and graphs once, as ``tl.pnmf`` does.

    ``graph_weight='auto'`` is resolved once for all replicates by ``tl.pnmf``'s
    cross-validation from ``tl.pnmf``'s own start, with ``weight_comps`` factors (at most
    the matrix allows; ``None``: ``options.n_comps``); with ``recommend``, the same
    cross-validation recommends a scale, as ``tl.pnmf`` does.
    """
    inputs, problem = prepare_scales(adata, options)
    selection, scales = None, None
    if options.graph_weight == "auto" or recommend:
        n_comps = options.n_comps if weight_comps is None else min(weight_comps, *problem.expression.shape)
        start = nndsvda(problem.expression, n_comps, options.random_state)
        selection, scales = cross_validate(problem, options, start, recommend=recommend)
    if selection is not None:
        options = replace(options, graph_weight=selection.weight)
    recommended = recommended_scale(problem, scales) if recommend else None
    return Prepared(options, inputs, problem, graph_weight_rule(selection), recommended)


def seeds(random_state: int | None) -> int:
    """Return the entropy from which every replicate's seeds derive (fresh entropy when ``None``)."""
    entropy = np.random.SeedSequence(random_state).entropy  # an int, given an int or None
    return int(cast(int, entropy))


@dataclass(frozen=True)
class Replicates:
    """Replicate fits per k and run r, at scale t.

    ``loadings[k][r][t]`` (genes × k), ``embeddings[k][r][t]`` (subsample × k),
    ``errors[k]`` (runs × scales, relative errors) and ``cells[r]`` (the run's cells).
    """

    loadings: dict[int, list[list[np.ndarray]]]
    embeddings: dict[int, list[list[np.ndarray]]]
    errors: dict[int, np.ndarray]
    cells: list[np.ndarray]


def replicate_fits(
    prepared: Prepared,
    n_comps: Sequence[int],
    n_runs: int,
    subsample: float,
    entropy: int,
    progress: Callable[[str], None] | None = None,
    scales: Sequence[int] | None = None,
) -> Replicates:
    """Fit ``n_runs`` replicates of every k.

    Replicate r sees the same seeded subsample of cells for every k (so its expression
    matrix and induced graphs are built once and shared across k) and starts from random
    factors seeded by (k, r). ``scales`` (indices into the prepared scales, increasing)
    restricts every replicate to a model over those scales only; ``None`` fits them all.
    """
    n_cells = prepared.expression.shape[0]
    chosen = list(range(len(prepared.graphs))) if scales is None else list(scales)
    thresholds = [float(prepared.problem.thresholds[t]) for t in chosen]
    full_graphs = [prepared.graphs[t] for t in chosen]
    loadings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    embeddings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    errors: dict[int, list[np.ndarray]] = {k: [] for k in n_comps}
    cells_per_run = []
    for r in range(n_runs):
        draw = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0, r)))
        cells = subsample_cells(n_cells, subsample, draw)
        cells_per_run.append(cells)
        expression: Factorized
        if len(cells) < n_cells:
            expression = Expression(prepared.expression.rows(cells))
            edges = prepared.edges.induced(cells)
            graphs = [scale_graph(edges, threshold) for threshold in thresholds]
        else:
            expression = prepared.expression
            graphs = full_graphs
        for k in n_comps:
            if progress is not None:
                progress(f"    run {r + 1}/{n_runs}, k={k}")
            rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(int(k), r)))
            fit, error = fit_replicate(
                expression,
                graphs,
                int(k),
                rng,
                prepared.weights,
                max_iter=prepared.options.max_iter,
                max_sweeps=prepared.options.max_sweeps,
                tol=prepared.options.tol,
            )
            loadings[k].append(fit.loadings)
            embeddings[k].append(fit.embeddings)
            errors[k].append(error)
    return Replicates(loadings, embeddings, {k: np.stack(v) for k, v in errors.items()}, cells_per_run)


def matched_per_scale(runs: Sequence[Sequence[np.ndarray]], *, coupled: bool) -> list[np.ndarray]:
    """Return the matched loadings per scale (runs × genes × k): jointly over scales when the scales are coupled.

    With a coupling term the model ties factor j across scales within a run, so factors
    are matched on their summed similarity over all scales and keep one identity at every
    scale; without it every scale is matched on its own.
    """
    if coupled:
        return match_runs(runs).loadings
    n_scales = len(runs[0])
    return [match_runs([[run[t]] for run in runs]).loadings[0] for t in range(n_scales)]
