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

from .._core.consensus import match_runs
from .._core.expression import Expression, normalize_cells
from .._core.graphs import ScaleGraph
from .._core.replicates import fit_replicate, restrict_graph, subsample_cells
from .._core.solver import Weights
from .._validation import check_int
from ._inputs import read_expression
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
    """The inputs of every replicate: the expression matrix as factorized, the scales and their graphs."""

    fitted: Fitted
    matrix: Any
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
    cheap iteration.
    """
    max_iter = check_int("max_iter", options["max_iter"], minimum=1)
    max_sweeps = check_int("max_sweeps", options["max_sweeps"], minimum=0)
    fitted = fit_scales(adata, 1, **{**options, "max_iter": 1, "max_sweeps": 0})
    matrix, _ = read_expression(adata, options.get("layer"), fitted.genes)
    if fitted.params["normalize"]:
        matrix = normalize_cells(matrix)
    params = fitted.params
    weights = Weights(graph=params["graph_weight"], coupling=params["coupling_weight"], anchor=params["anchor_weight"])
    return Prepared(fitted, matrix, weights, max_iter, max_sweeps, params["tol"])


def seeds(random_state: int | None) -> int:
    """The entropy from which every replicate's seeds derive (fresh entropy when ``None``)."""
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
) -> Replicates:
    """Fit ``n_runs`` replicates of every k.

    Replicate r sees the same seeded subsample of cells for every k (so its expression
    matrix and induced graphs are built once and shared across k) and starts from random
    factors seeded by (k, r).
    """
    n_cells = prepared.matrix.shape[0]
    loadings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    embeddings: dict[int, list[list[np.ndarray]]] = {k: [] for k in n_comps}
    errors: dict[int, list[np.ndarray]] = {k: [] for k in n_comps}
    cells_per_run = []
    for r in range(n_runs):
        draw = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0, r)))
        cells = subsample_cells(n_cells, subsample, draw)
        cells_per_run.append(cells)
        expression = Expression(prepared.matrix[cells] if len(cells) < n_cells else prepared.matrix)
        graphs = [restrict_graph(g, cells) for g in prepared.graphs]
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
    """Matched loadings per scale (runs × genes × k): jointly over scales when the scales are coupled.

    With a coupling term the model ties factor j across scales within a run, so factors
    are matched on their summed similarity over all scales and keep one identity at every
    scale; without it every scale is matched on its own.
    """
    if coupled:
        return match_runs(runs).loadings
    n_scales = len(runs[0])
    return [match_runs([[run[t]] for run in runs]).loadings[0] for t in range(n_scales)]
