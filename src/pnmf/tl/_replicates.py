"""What ``tl.select_k`` and ``tl.consensus`` share: the inputs and scales read once, seeded replicate fits.

The options of the fit are those of :func:`pnmf.tl.pnmf`, with its defaults read from its
signature, so that both tools follow any change of ``tl.pnmf``'s defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from anndata import AnnData
from scipy.spatial.distance import pdist

from .._core.consensus import match_runs
from .._core.expression import Expression, normalize_cells
from .._core.graphs import ScaleGraph, scale_graph
from .._core.persistence import EdgeList, bridge_components
from .._core.replicates import fit_replicate, induced_edges, subsample_cells
from .._core.solver import Weights
from .._validation import check_int
from ._inputs import knn_edges, read_expression, read_representation
from ._pnmf import Fitted, fit_scales, pnmf

__all__ = ["FIT_OPTIONS", "PNMF_DEFAULTS", "Prepared", "Replicates", "prepare", "replicate_fits", "seeds"]

#: Defaults of ``tl.pnmf``'s parameters, read from its signature.
PNMF_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(pnmf).parameters.items() if p.default is not p.empty
}
#: The options of one fit (every keyword of ``fit_scales``).
FIT_OPTIONS: tuple[str, ...] = tuple(
    name for name, p in inspect.signature(fit_scales).parameters.items() if p.kind is p.KEYWORD_ONLY
)
#: Default fraction of the cells that each replicate sees.
DEFAULT_SUBSAMPLE = 0.8


@dataclass(frozen=True)
class Prepared:
    """The inputs of every replicate: the expression matrix as factorized, the scales, their graphs and edges.

    ``edges`` are the edges of the filtration (the kNN graph, bridged where disconnected,
    or all pairs for ``filtration='rips'``); a replicate builds its graphs from those
    between its cells.
    """

    fitted: Fitted
    matrix: Any
    edges: EdgeList
    weights: Weights
    max_iter: int
    max_sweeps: int
    tol: float

    @property
    def graphs(self) -> list[ScaleGraph]:
        return self.fitted.graphs

    @property
    def coupled(self) -> bool:
        return self.weights.coupling > 0


def prepare(adata: AnnData, options: Mapping[str, Any]) -> Prepared:
    """Validate the fit options and compute the persistence, scales and graphs once.

    ``tl.pnmf``'s own pipeline runs with one factor and one iteration: it validates every
    option as ``tl.pnmf`` does and returns the scales and graphs, at the cost of a single
    cheap iteration. The edges of the filtration are then read again from the same
    representation and neighbour graph (with the same seed for any PCA or kNN graph built
    here, drawn once when ``random_state`` is ``None``).
    """
    max_iter = check_int("max_iter", options["max_iter"], minimum=1)
    max_sweeps = check_int("max_sweeps", options["max_sweeps"], minimum=0)
    seed = options.get("random_state")
    geometry_seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1) if seed is None else seed
    fitted = fit_scales(adata, 1, **{**options, "max_iter": 1, "max_sweeps": 0, "random_state": geometry_seed})
    if seed is None:
        fitted.params.pop("random_state", None)
    params = fitted.params
    matrix, _ = read_expression(adata, options.get("layer"), fitted.genes)
    edges = _filtration_edges(adata, options, params["filtration"], matrix, geometry_seed)
    if params["normalize"]:
        matrix = normalize_cells(matrix)
    weights = Weights(graph=params["graph_weight"], coupling=params["coupling_weight"], anchor=params["anchor_weight"])
    return Prepared(fitted, matrix, edges, weights, max_iter, max_sweeps, params["tol"])


def _filtration_edges(
    adata: AnnData, options: Mapping[str, Any], filtration: str, expression: Any, random_state: int | None
) -> EdgeList:
    """Read the edges whose lengths make the filtration, as ``tl.pnmf`` reads them."""
    points, _ = read_representation(adata, options["use_rep"], options["n_pcs"], expression, random_state)
    if filtration == "rips":
        rows, cols = np.triu_indices(adata.n_obs, k=1)
        return EdgeList(adata.n_obs, rows.astype(np.int64), cols.astype(np.int64), pdist(points))
    edges, _ = knn_edges(adata, options["neighbors_key"], points, random_state)
    bridges = bridge_components(points, edges)
    return edges.concat(bridges) if len(bridges) else edges


def seeds(random_state: int | None) -> int:
    """Return the entropy from which every replicate's seeds derive (fresh entropy when ``None``)."""
    return int(np.random.SeedSequence(random_state).entropy)


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
    n_cells = prepared.matrix.shape[0]
    chosen = list(range(len(prepared.graphs))) if scales is None else list(scales)
    thresholds = [float(prepared.fitted.thresholds[t]) for t in chosen]
    full_graphs = [prepared.graphs[t] for t in chosen]
    loadings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    embeddings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    errors: dict[int, list[np.ndarray]] = {k: [] for k in n_comps}
    cells_per_run = []
    for r in range(n_runs):
        draw = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0, r)))
        cells = subsample_cells(n_cells, subsample, draw)
        cells_per_run.append(cells)
        if len(cells) < n_cells:
            expression = Expression(prepared.matrix[cells])
            edges = induced_edges(prepared.edges, cells)
            graphs = [scale_graph(edges, threshold) for threshold in thresholds]
        else:
            expression = Expression(prepared.matrix)
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
                max_iter=prepared.max_iter,
                max_sweeps=prepared.max_sweeps,
                tol=prepared.tol,
            )
            loadings[k].append(fit.loadings)
            embeddings[k].append(fit.embeddings)
            errors[k].append(error)
    return Replicates(loadings, embeddings, {k: np.stack(v) for k, v in errors.items()}, cells_per_run)


def matched_per_scale(runs: Sequence[Sequence[np.ndarray]], *, coupled: bool) -> list[np.ndarray]:
    """Match runs per scale (runs × genes × k each): jointly over scales when the scales are coupled.

    With a coupling term the model ties factor j across scales within a run, so factors
    are matched on their summed similarity over all scales and keep one identity at every
    scale; without it every scale is matched on its own.
    """
    if coupled:
        return match_runs(runs).loadings
    n_scales = len(runs[0])
    return [match_runs([[run[t]] for run in runs]).loadings[0] for t in range(n_scales)]
