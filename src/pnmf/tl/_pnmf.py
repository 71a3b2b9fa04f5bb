"""``pnmf.tl.pnmf``: persistent NMF of an AnnData, one embedding per persistence scale.

The AnnData side only: read the inputs (:mod:`._inputs`), fit on plain arrays
(:func:`pnmf._core.fit.fit`), write the factors and the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg

from .._core import fit as core
from .._core.fit import stage
from .._core.kernels import kernel_threads
from .._core.solver import Fit
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, check_result_key, fitted_genes, stale_entries, write_results, writer
from .._options import PnmfOptions
from .._sections import Alignment, Bars, Convergence, CrossValidation, History
from .._validation import (
    check_anndata,
    check_backed_copy,
    check_bool,
    check_key_added,
    check_n_jobs,
    default_threads,
)
from ._inputs import BatchUsage, Inputs, align_mask_var, read_inputs
from ._progress import show_progress

__all__ = ["batch_summary", "fit", "integrate", "pnmf", "population_fields", "prepare", "scale_fields"]

_D = PnmfOptions  # the defaults of the options


def pnmf(
    adata: AnnData,
    n_comps: int = _D.n_comps,
    *,
    n_scales: int | None = _D.n_scales,
    scales: Literal["auto", "all"] | Sequence[float] = _D.scales,
    filtration: Literal["knn", "rips"] = _D.filtration,
    layer: str | None = _D.layer,
    mask_var: np.ndarray | str | None = _D.mask_var,  # type: ignore[assignment]
    use_rep: str = _D.use_rep,
    n_pcs: int | None = _D.n_pcs,
    neighbors_key: str | None = _D.neighbors_key,
    batch_key: str | None = _D.batch_key,
    integration_steps: int = _D.integration_steps,
    graph_weight: float | Literal["auto"] = _D.graph_weight,
    coupling_weight: float = _D.coupling_weight,
    anchor_weight: float = _D.anchor_weight,
    pooling_weight: float = _D.pooling_weight,
    normalize: bool = _D.normalize,
    max_iter: int = _D.max_iter,
    max_sweeps: int = _D.max_sweeps,
    tol: float = _D.tol,
    random_state: int | np.random.RandomState | None = _D.random_state,
    n_jobs: int | None = None,
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
) -> AnnData | None:
    r"""Factorize expression at every persistence scale of the cells' connectivity.

    Cells are points in ``use_rep``. As a threshold ε grows, edges shorter than ε join
    cells into connected components; the 0-dimensional persistent homology (H0) of this
    filtration records the thresholds (deaths) at which components merge. A handful of them
    are chosen as scales, and at each scale t a nonnegative factorization
    ``X ≈ U_t W_tᵀ`` is fitted, smoothed along the graph of edges shorter than ε_t and
    coupled to the neighbouring scales:

    .. math::

        \min_{U_t, W_t \ge 0,\ \|w_{tj}\| = 1}\;
        \sum_t \|X - U_t W_t^\top\|_F^2
        + \sum_t \operatorname{tr}\bigl(U_t^\top (\lambda_1 \tilde L_t + 3 \rho_t B_t) U_t\bigr)
        + \sum_{t < T-1} \sum_i \frac{\lambda_2 + \lambda_1 (1 - d_{ti})_+}{1 + 3 \rho_{t+1}} \|u_{ti} - u_{t+1,i}\|^2
        + \lambda_3 \sum_t \|U_t\|_F^2
        + \sum_t \rho_t \sum_i \|u_{ti} - \bar u_{t,g(i)}\|^2

    with λ1 = ``graph_weight``, λ2 = ``coupling_weight``, λ3 = ``anchor_weight`` (the
    paper's geometric regularization, cross-scale smoothness and scale anchoring) and
    ρ_t = ρ ((ε_t / ε_0)² − 1), ρ = ``pooling_weight``: every cell of a group is pulled
    towards the group's mean embedding :math:`\bar u_{t,g(i)}`, so that a coarse scale
    contracts what persistence has joined (the flat-weight limit of the paper's ε-graph,
    which joins every pair of a component closer than ε_t). A group is an H0 component at
    ε_t that persists as a population: it stays apart from every other component of at
    least 10 cells up to the next coarser scale, or joins components that were all groups
    at the next finer scale, and it holds at most half of the cells in such components.
    Other cells keep their groups of the next finer scale, so chained components (one
    bulk plus stragglers, as on most real data) are never pooled; that bulk contracts along
    its graph instead: :math:`B_t` is the Laplacian of the scale's edges between cells it
    does not pool. A scale is tied to the next coarser one the less, the more that one
    smooths, so that the finest scale stays the data's finest view. ``pooling_weight=0``
    gives every scale the same smoothing (the model of pnmf 0.2.0). ``X`` is
    cells × genes with every cell scaled to unit L2 norm (``normalize=True``), ``U_t`` is
    Hᵀ of the paper and ``W_t`` its W, ``u_ti`` cell i's row of ``U_t``. :math:`\tilde L_t`
    is the Laplacian of the scale's graph: the edges shorter than ε_t, whose connected
    components are the scale's H0 components, with heat-kernel weights normalized
    symmetrically (``w_ij / sqrt(r_i r_j)``), so that a cell's degree ``d_ti`` is about 1
    when it has neighbours below ε_t and 0 when it has none. What a scale's graph lacks of a
    full pull on a cell is spent on the cell's own next coarser embedding, where it is
    joined: every cell is smoothed about as much at every scale, and no edge is invented
    that would join components the scale keeps apart. With unit cells and unit-norm
    loadings every term is measured per cell on the same footing, so the weights mean the
    same on any dataset: the objective is invariant to rescaling X and the graph term does
    not grow with the number of neighbours. How much smoothing helps still differs between
    datasets (on the evaluation panel, ``benchmarks/panel.py``, the best fixed λ1 ranged
    from 0 to 1000), so by default the data choose λ1 (``'auto'``, below).

    The recommended scale is chosen without labels on the same split of the genes as λ1:
    every scale is fitted on one half of the genes, each scale's embedding predicts the
    other half, and from the scale with the smallest held-out error the recommendation
    moves coarser while the next scale's error stays within one standard error (over the
    held-out genes) of the smallest: the most smoothed view the data cannot tell from the
    best. With fewer than four genes per factor there is nothing to split, and the scale
    with about n/6 connected components is recommended.

    Parameters
    ----------
    adata
        Annotated data matrix with nonnegative expression (e.g. log-normalized counts). The
        matrix may stay where it is: in the file of a backed AnnData
        (``anndata.read_h5ad(path, backed='r')``, CSR or dense), read by blocks of cells and
        never loaded; or a Dask array chunked along cells, whose products with the factors
        run on the Dask workers (``pip install 'persistent-nmf[dask]'``). Both need
        ``use_rep`` in ``adata.obsm`` and give the in-memory result.
    n_comps
        Number of factors k at every scale.
    n_scales
        Number of scales to select with ``scales='auto'`` (default 8).
    scales
        ``'auto'``: ``n_scales`` thresholds from the canonical set (the H0 death values and
        one threshold joining every cell) whose numbers of connected components are
        spaced geometrically from n/2 to 1. ``'all'``: the whole canonical set, the
        paper's construction (refused above 500 scales). A sequence of positive
        thresholds: those, sorted.
    filtration
        ``'knn'``: the filtration of the kNN graph, bridged along exact closest pairs
        where it is disconnected; scales to millions of cells. ``'rips'``: all pairwise
        distances (Vietoris–Rips), the paper's exact construction, for at most 3000 cells.
    layer
        Layer holding the expression; ``None`` uses ``adata.X``.
    mask_var
        Boolean mask or ``adata.var`` column of the genes to factorize. By default
        ``'highly_variable'`` when that column exists, else all genes; ``None`` uses all genes.
        A boolean :class:`pandas.Series` is read by gene name (its index must hold every
        gene of ``adata``).
    use_rep
        Representation in ``adata.obsm`` that defines distances between cells. When the
        default ``'X_pca'`` is missing, a PCA of the expression is computed (not stored).
        ``'X'`` uses the selected expression itself (at most 20 million entries).
    n_pcs
        Use only the first ``n_pcs`` columns of ``use_rep``.
    neighbors_key
        Neighbour graph from ``sc.pp.neighbors`` whose edges define the kNN filtration (edge
        lengths are measured in ``use_rep``). By default ``'neighbors'`` when present;
        otherwise a 15-NN graph is built and not stored. With ``batch_key``, by default a
        batch-balanced graph is built instead (below); name a graph here to use yours, e.g. a
        BBKNN result or ``sc.pp.neighbors`` on an integrated representation.
    batch_key
        Column of ``adata.obs`` (categorical or strings) naming each cell's batch: sample,
        donor, protocol or condition. The cells are then integrated. The filtration, the
        scales' graphs and the persistence come from a batch-balanced kNN graph on
        ``use_rep``: every cell's ``max(3, ⌈15 / n_batches⌉)`` nearest cells within each
        batch (BBKNN's construction), so that every cell has neighbours in every batch. The
        loadings are shared by all batches, and each scale's embedding is written after
        ``integration_steps`` rounds of balanced averaging: each cell's factor usage
        becomes the mean of its neighbours' within each batch, the batches weighing the
        same. What differs between batches for similar cells averages out; what differs
        between cell types stays, as their neighbours stay within the type. A batch enters a
        cell's average only where some cell of its neighbourhood has a mutual nearest
        neighbour in that batch, so that a population one batch lacks is not averaged with
        what that batch holds nearest to it. Every batch needs at least ``n_comps`` cells.
        See the method page, "Several batches in one AnnData".
    integration_steps
        Rounds of balanced averaging of every scale's embedding with ``batch_key`` (0: the
        fitted embeddings as they are). Each round mixes the batches further and smooths the
        embedding over one more step of the graph.
    graph_weight
        λ1, weight of the graph smoothness of each embedding. ``'auto'`` lets the data
        choose it among 1, 3, 10, 30 and 100 by bi-cross-validation: the genes are split at
        random in two halves, the coarsest scale's embedding is fitted on one half with each
        weight, and the weight whose embedding best predicts the other half (nonnegative
        least squares) wins. It costs five single-scale fits on half the genes (on at most
        20,000 cells); the recommended scale costs one fit of every scale on the same half.
        With fewer than four genes per factor there is nothing to split, and the weight is
        10. The manifest records the weight used and how it was chosen.
    coupling_weight
        λ2, weight of the similarity between embeddings of consecutive scales.
    anchor_weight
        λ3, ridge penalty on the embeddings.
    pooling_weight
        ρ, how much coarser each scale is: the pull of every cell towards its group's mean
        and the added smoothing of the other cells along the scale's graph (0 at the finest
        scale, growing as the squared threshold), which make coarse scales contract the
        populations that persistence has joined. 0 turns both off.
    normalize
        Scale every cell to unit L2 norm before factorizing (cells with no counts stay zero).
    max_iter
        Maximum iterations per scale along the warm-started path.
    max_sweeps
        Maximum coupled sweeps over all scales after the path. The sweeps stop as soon as
        the objective falls by less than ``tol`` per sweep; on the evaluation panel that
        took 3 to 20 sweeps, so the cap only guards against a fit that never settles.
    tol
        Relative decrease of the objective below which a scale's fit, and then the
        coupled sweeps, stop.
    random_state
        Seed of the randomized SVD behind the initialization (and of any PCA or kNN graph
        built here).
    n_jobs
        Threads of the solver's compiled loops, as scanpy counts jobs (-1: all cores).
        ``None``: :attr:`scanpy.settings.n_jobs` when it is set to more than 1 or to -1,
        else every thread numba may use (``NUMBA_NUM_THREADS``), in both cases fewer while
        other processes keep the cores busy. The result is bitwise the same for any value.
    key_added
        Results go to ``adata.obsm['X_{key_added}_{t}']``, ``adata.varm['{key_added}_loadings_{t}']``
        and the manifest ``adata.uns[key_added]``. A previous result under this key is
        replaced, its per-scale entries removed.
    copy
        Return a new AnnData instead of writing into ``adata`` (refused for a backed AnnData,
        whose copy would load its matrix).

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets:

    ``adata.obsm['X_{key_added}_{t}']``
        Cells × k embedding at scale t (t = 0 finest … T-1 coarsest).
    ``adata.varm['{key_added}_loadings_{t}']``
        Genes × k loadings at scale t, unit-norm columns; zero for genes outside ``mask_var``.
    ``adata.obsm['{key_added}_populations']``
        Cells × scales integers: the persistent population (pooled group) of every cell at
        every scale, ``-1`` where it is in none; :func:`pnmf.tl.leiden` joins the clusters
        that one population holds.
    ``adata.uns[key_added]``
        Manifest: ``obsm_keys`` and ``varm_keys`` (the embeddings and loadings), ``populations``
        (the key of the populations), ``thresholds``,
        ``n_connected`` (components per scale), ``n_edges`` (graph edges per scale),
        ``n_groups`` and ``n_pooled`` (groups pulled towards their means per scale, and
        their cells),
        ``recommended_scale`` (label-free: see below), ``cross_validation`` (the held-out
        errors behind it and behind λ1: ``scale_rule``, ``scale_errors``,
        ``scale_standard_errors``, ``graph_weights``, ``graph_weight_errors``),
        ``persistence`` (H0 ``deaths``, ``n_essential`` bars that never die, and ``top``, the
        threshold joining every edge), ``convergence`` (``n_iter`` and ``converged`` per scale
        along the path, ``n_sweeps``, ``sweeps_converged``, the final ``objective`` and its
        ``terms``), ``history`` (objective per iteration: ``phase``, ``scale``,
        ``iteration``, ``objective``), ``alignment`` (``similarity``: cosine of factor j's
        loadings between scales t and t+1, and the ``method`` that matched factors),
        ``batches`` (with ``batch_key`` only: ``key``, the batch ``names``, their
        ``n_cells`` and, on pnmf's balanced graph, ``matched``: batches × batches, the share of
        each batch's cells (rows) whose average takes in each batch (columns); a share below 1
        marks populations the other batch lacks; ``usage`` and ``integrated_usage``: scales ×
        batches × factors, each batch's mean usage of every factor before and after the
        averaging, read as a table with :func:`pnmf.get.batch_usage`), ``genes`` (the boolean mask of the genes used) and ``gene_names`` (their names, by
        which readers find them again after genes are subset or reordered), ``timings`` (seconds per stage) and
        ``params`` (the options as given, an option that is ``None`` left out, or written as
        ``False`` for ``random_state`` and ``mask_var``; and where the ``expression``,
        ``representation`` and ``graph`` came from, with ``n_genes``).

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    >>> pnmf.tl.pnmf(adata, layer="lognorm")
    >>> manifest = adata.uns["pnmf"]
    >>> best = adata.obsm[manifest["obsm_keys"][manifest["recommended_scale"]]]
    """
    arguments = dict(locals())  # before any other name is bound: the options, by their names
    start = logg.info("computing persistent NMF")
    check_anndata(adata)
    key_added = check_key_added(key_added)
    check_result_key(adata, key_added)
    n_jobs = check_n_jobs(n_jobs)
    copy = check_bool("copy", copy)
    check_backed_copy(adata, copy)
    arguments["mask_var"] = align_mask_var(adata, mask_var)  # a Series is read by gene name
    options = PnmfOptions.collect(arguments)
    with kernel_threads(n_jobs, limit=default_threads()):
        inputs, result = fit(adata, options, out_of_core=True)
    _hint_unconverged(result.solution, options)
    results = _assemble(Keys(key_added), inputs, result, fitted_genes(adata, inputs.genes))
    if copy:
        adata = adata.copy()
    write_results(adata, results, stale_entries(adata, key_added))
    n_written = len(result.problem.thresholds)
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    {n_written} embeddings 'X_{key_added}_*' (adata.obsm)\n"
        f"    {n_written} loadings '{key_added}_loadings_*' (adata.varm)\n"
        f"    manifest '{key_added}' (adata.uns), recommended scale {result.recommended}",
    )
    return adata if copy else None


def prepare(adata: AnnData, options: PnmfOptions, *, out_of_core: bool = False) -> tuple[Inputs, core.Problem]:
    """Read the inputs and compute the scales and their graphs (:func:`pnmf._core.fit.prepare`); write nothing.

    With ``out_of_core``, a backed or Dask matrix is read where it is (by blocks), not refused.
    """
    inputs = read_inputs(adata, options, out_of_core=out_of_core)
    problem = core.prepare(inputs.X, inputs.points, inputs.edges, options, name=inputs.source, progress=show_progress())
    if problem.n_bridges:
        logg.info(f"    the kNN graph is disconnected: joined it with {problem.n_bridges} exact closest-pair edges")
    if problem.n_closest:
        logg.info(f"    added {problem.n_closest} exact closest-pair edges where the kNN graph joined populations late")
    logg.info(
        f"    {len(problem.thresholds)} scales from the {inputs.graph}: {problem.n_connected.tolist()} connected components"
    )
    return inputs, problem


def fit(adata: AnnData, options: PnmfOptions, *, out_of_core: bool = False) -> tuple[Inputs, core.FitResult]:
    """Read the inputs and fit every scale (see :func:`pnmf`); write nothing."""
    inputs, problem = prepare(adata, options, out_of_core=out_of_core)
    # the coordinates have given their edges; a float64 copy of them (400 MB for 1M cells × 50) need not outlive that
    inputs = replace(inputs, points=np.empty((0, inputs.points.shape[1])))
    result = core.solve_problem(problem, options, progress=show_progress(), announce=logg.info)
    if inputs.batches is not None:
        n_batches = inputs.batches.n_batches
        with stage(result.timings, "integration"):
            inputs = replace(inputs, usage=integrate(result.solution.embeddings, inputs, options.integration_steps))
        logg.info(f"    integrated {n_batches} batches: {options.integration_steps} rounds of balanced averaging")
    if result.selection is not None:
        weight, rule = result.options.graph_weight, result.graph_weight_rule
        logg.info(f"    graph weight {weight:g} ({rule} over {result.selection.candidates.tolist()})")
    solution = result.solution
    if not all(np.isfinite(U).all() for U in solution.embeddings) or not all(
        np.isfinite(W).all() for W in solution.loadings
    ):
        msg = "the solver produced non-finite values; nothing was written. Please report this with your data's shape and dtype."
        raise FloatingPointError(msg)
    return inputs, result


def integrate(embeddings: list[np.ndarray], inputs: Inputs, n_steps: int) -> BatchUsage:
    """Replace every scale's embedding by its balanced average (``n_steps`` rounds), in place.

    ``inputs`` must hold the batches and the averaging (read with a ``batch_key``). Returns
    each batch's mean usage of the factors before and after.
    """
    if inputs.batches is None or inputs.average is None:
        msg = "integrate needs inputs read with a batch_key"
        raise ValueError(msg)
    fitted, integrated = [], []
    for t, embedding in enumerate(embeddings):
        fitted.append(inputs.batches.means(embedding))
        embeddings[t] = inputs.average.apply(embedding, n_steps)
        integrated.append(inputs.batches.means(embeddings[t]))
    return BatchUsage(np.stack(fitted), np.stack(integrated))


def _hint_unconverged(solution: Fit, options: PnmfOptions) -> None:
    """Say what to change when a stopping rule, not convergence, ended the fit."""
    unconverged = np.flatnonzero(~solution.converged)
    if len(unconverged):
        logg.hint(
            f"scales {unconverged.tolist()} stopped at max_iter before their objective settled (tol={options.tol}); pass a larger max_iter"
        )
    if options.max_sweeps and not solution.sweeps_converged:
        history = solution.history
        sweeps = [o for phase, o in zip(history["phase"], history["objective"], strict=True) if phase == "sweep"]
        last = (sweeps[-2] - sweeps[-1]) / sweeps[-2]
        logg.hint(
            f"the coupled sweeps stopped at max_sweeps={options.max_sweeps} while the objective still fell by {last:.1e} per sweep (tol={options.tol}); pass a larger max_sweeps to continue"
        )


def _cross_validation(result: core.FitResult) -> CrossValidation:
    """Return the manifest's record of the held-out errors behind λ1 and the recommended scale."""
    weights, scales, empty = result.selection, result.scale_selection, np.empty(0)
    return CrossValidation(
        scale_rule=result.scale_rule,
        scale_errors=scales.errors if scales is not None else empty,
        scale_standard_errors=scales.standard_errors if scales is not None else empty,
        graph_weights=weights.candidates if weights is not None and weights.cross_validated else empty,
        graph_weight_errors=weights.errors if weights is not None else empty,
    )


def scale_fields(problem: core.Problem) -> dict[str, Any]:
    """Return the manifest's fields that describe the scales on the cells fitted: thresholds, graphs and barcode."""
    return {
        Manifest.THRESHOLDS: problem.thresholds,
        Manifest.N_CONNECTED: problem.n_connected.astype(np.int64),
        Manifest.N_EDGES: np.array([g.n_edges for g in problem.graphs], dtype=np.int64),
        Manifest.N_GROUPS: np.array([g.pooling.n_groups for g in problem.graphs], dtype=np.int64),
        Manifest.N_POOLED: np.array([g.pooling.n_pooled for g in problem.graphs], dtype=np.int64),
        Manifest.PERSISTENCE: Bars(problem.persistence.deaths, problem.persistence.n_essential, problem.top).to_uns(),
    }


def population_fields(keys: Keys, problem: core.Problem) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return the persistent populations of every scale as ``obsm`` and manifest entries.

    The populations are the groups each scale pools (:func:`pnmf._core.pooling.pooling_groups`),
    cells × scales, ``-1`` for a cell in none; :func:`pnmf.tl.leiden` joins the clusters that
    one population holds.
    """
    labels = np.column_stack([g.pooling.groups for g in problem.graphs]).astype(np.int32)
    return {keys.populations: labels}, {Manifest.POPULATIONS: keys.populations}


def batch_summary(inputs: Inputs) -> dict[str, Any]:
    """Return the manifest's ``batches`` entry of a fit with ``batch_key``: the column, the batches, their cells and matches."""
    batches = inputs.batches
    if batches is None:
        return {}
    entry = {"key": batches.key, "names": batches.names, "n_cells": batches.sizes.astype(np.int64)}
    if inputs.matching is not None:
        entry["matched"] = inputs.matching
    if inputs.usage is not None:
        entry["usage"], entry["integrated_usage"] = inputs.usage.fitted, inputs.usage.integrated
    return {Manifest.BATCHES: entry}


def _assemble(keys: Keys, inputs: Inputs, result: core.FitResult, genes: dict[str, np.ndarray]) -> Results:
    """Build everything to write before anything is written; ``genes`` records the fitted genes (:func:`fitted_genes`).

    The solution's embeddings are replaced by their casts to the data's dtype, one by one:
    holding both would add half of them again to the peak (640 MB per million cells).
    """
    problem, solution, dtype = result.problem, result.solution, inputs.X.dtype
    for t in range(len(solution.embeddings)):
        solution.embeddings[t] = solution.embeddings[t].astype(dtype, copy=False)
    obsm = {keys.embedding(t): U for t, U in enumerate(solution.embeddings)}
    populations, population_key = population_fields(keys, problem)
    varm = {}
    for t, W in enumerate(solution.loadings):
        full = np.zeros((len(inputs.genes), W.shape[1]), dtype=dtype)
        full[inputs.genes] = W
        varm[keys.loadings(t)] = full
    convergence = Convergence(
        solution.n_iter,
        solution.converged,
        solution.n_sweeps,
        solution.sweeps_converged,
        solution.objective,
        solution.terms,
    )
    manifest = {
        Manifest.WRITER: writer(),
        Manifest.OBSM_KEYS: np.array(list(obsm), dtype=str),
        Manifest.VARM_KEYS: np.array(list(varm), dtype=str),
        **scale_fields(problem),
        **population_key,
        Manifest.RECOMMENDED: result.recommended,
        Manifest.CROSS_VALIDATION: _cross_validation(result).to_uns(),
        Manifest.CONVERGENCE: convergence.to_uns(),
        Manifest.HISTORY: History.from_columns(solution.history).to_uns(),
        Manifest.ALIGNMENT: Alignment(result.alignment, result.similarity).to_uns(),
        **genes,
        **batch_summary(inputs),
        Manifest.TIMINGS: {**inputs.timings, **problem.timings, **result.timings},
        # the options as run: graph_weight='auto' is the weight chosen, graph_weight_rule says how
        Manifest.PARAMS: {
            **result.options.to_uns(),
            "graph_weight_rule": result.graph_weight_rule,
            **inputs.provenance(),
        },
    }
    return Results(obsm={**obsm, **populations}, varm=varm, uns={keys.uns: manifest})
