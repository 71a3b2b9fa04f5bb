"""``pnmf.tl.pnmf``: persistent NMF of an AnnData, one embedding per persistence scale."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from time import perf_counter
from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg
from scanpy import settings
from scipy.spatial.distance import pdist

from .._core.alignment import align_factors, consecutive_similarity
from .._core.expression import Expression, normalize_cells
from .._core.graph_weight import FALLBACK_WEIGHT, cross_validate_graph_weight
from .._core.graphs import ScaleGraph, scale_graph
from .._core.init import nndsvda
from .._core.kernels import kernel_threads
from .._core.persistence import EdgeList, Persistence, bridge_components, graph_persistence, rips_persistence
from .._core.scales import MAX_ALL_SCALES, canonical_thresholds, recommend_scale, select_scales
from .._core.solver import Fit, Weights, solve
from .._errors import PnmfValueError
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, check_result_key, stale_entries, write_results, writer
from .._validation import (
    check_bool,
    check_choice,
    check_in_memory,
    check_int,
    check_key_added,
    check_n_jobs,
    check_random_state,
    check_real,
    default_threads,
    seed_from,
)
from ._inputs import HVG_IF_PRESENT, gene_mask, knn_edges, read_expression, read_representation

__all__ = ["MAX_RIPS_CELLS", "pnmf"]

#: The ``filtration='rips'`` construction stores all pairwise distances; above this many cells it is refused.
MAX_RIPS_CELLS = 3000
DEFAULT_N_SCALES = 8
_TOP_MARGIN = 1e-9  # the coarsest threshold sits just above the longest edge


def pnmf(
    adata: AnnData,
    n_comps: int = 20,
    *,
    n_scales: int | None = None,
    scales: Literal["auto", "all"] | Sequence[float] = "auto",
    filtration: Literal["knn", "rips"] = "knn",
    layer: str | None = None,
    mask_var: np.ndarray | str | None = HVG_IF_PRESENT,  # type: ignore[assignment]
    use_rep: str = "X_pca",
    n_pcs: int | None = None,
    neighbors_key: str | None = None,
    graph_weight: float | Literal["auto"] = "auto",
    coupling_weight: float = 1.0,
    anchor_weight: float = 0.0,
    normalize: bool = True,
    max_iter: int = 200,
    max_sweeps: int = 50,
    tol: float = 1e-4,
    random_state: int | np.random.RandomState | None = 0,
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
        + \lambda_1 \sum_t \operatorname{tr}(U_t^\top \tilde L_t U_t)
        + \lambda_2 \sum_{t \ge 2} \|U_t - U_{t-1}\|_F^2
        + \lambda_3 \sum_t \|U_t\|_F^2

    with λ1 = ``graph_weight``, λ2 = ``coupling_weight``, λ3 = ``anchor_weight`` (the
    paper's geometric regularization, cross-scale smoothness and scale anchoring). ``X`` is
    cells × genes with every cell scaled to unit L2 norm (``normalize=True``), ``U_t`` is
    Hᵀ of the paper and ``W_t`` its W. :math:`\tilde L_t` is the Laplacian of the scale's
    graph (edges shorter than ε_t plus every cell's nearest-neighbour edge, heat-kernel
    weights normalized symmetrically, ``w_ij / sqrt(d_i d_j)``). With unit cells
    and unit-norm loadings every term is measured per cell on the same footing, so the
    weights mean the same on any dataset: the objective is invariant to rescaling X and the
    graph term does not grow with the number of neighbours. How much smoothing helps still
    differs between datasets (on the evaluation panel, ``benchmarks/panel.py``, the best
    fixed λ1 ranged from 1 to 100), so by default the data choose λ1 (``'auto'``, below).

    Parameters
    ----------
    adata
        Annotated data matrix with nonnegative expression (e.g. log-normalized counts).
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
    use_rep
        Representation in ``adata.obsm`` that defines distances between cells. When the
        default ``'X_pca'`` is missing, a PCA of the expression is computed (not stored).
        ``'X'`` uses the selected expression itself (at most 20 million entries).
    n_pcs
        Use only the first ``n_pcs`` columns of ``use_rep``.
    neighbors_key
        Neighbour graph from ``sc.pp.neighbors`` whose edges define the kNN filtration (edge
        lengths are measured in ``use_rep``). By default ``'neighbors'`` when present;
        otherwise a 15-NN graph is built and not stored.
    graph_weight
        λ1, weight of the graph smoothness of each embedding. ``'auto'`` lets the data
        choose it among 1, 3, 10, 30 and 100 by bi-cross-validation: the genes are split at
        random in two halves, the coarsest scale's embedding is fitted on one half with each
        weight, and the weight whose embedding best predicts the other half (nonnegative
        least squares) wins. It costs five single-scale fits on half the genes (on at most
        20,000 cells). With fewer than four genes per factor there is nothing to split, and
        the weight is 10. The manifest records the weight used and how it was chosen.
    coupling_weight
        λ2, weight of the similarity between embeddings of consecutive scales.
    anchor_weight
        λ3, ridge penalty on the embeddings.
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
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets:

    ``adata.obsm['X_{key_added}_{t}']``
        Cells × k embedding at scale t (t = 0 finest … T-1 coarsest).
    ``adata.varm['{key_added}_loadings_{t}']``
        Genes × k loadings at scale t, unit-norm columns; zero for genes outside ``mask_var``.
    ``adata.uns[key_added]``
        Manifest: ``obsm_keys`` and ``varm_keys`` (every key written), ``thresholds``,
        ``n_connected`` (components per scale), ``n_edges`` (graph edges per scale),
        ``recommended_scale`` (label-free: the scale with about n/6 components),
        ``persistence`` (H0 ``deaths``, ``n_essential`` bars that never die, and ``top``, the
        threshold joining every edge), ``convergence`` (``n_iter`` and ``converged`` per scale
        along the path, ``n_sweeps``, ``sweeps_converged``, the final ``objective`` and its
        ``terms``), ``history`` (objective per iteration: ``phase``, ``scale``,
        ``iteration``, ``objective``), ``alignment`` (``similarity``: cosine of factor j's
        loadings between scales t and t+1, and the ``method`` that matched factors),
        ``genes`` (the boolean mask of the genes used), ``timings`` (seconds per stage) and
        ``params``.

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
    start = logg.info("computing persistent NMF")
    check_in_memory(adata)
    key_added = check_key_added(key_added)
    check_result_key(adata, key_added)
    n_jobs = check_n_jobs(n_jobs)
    normalize, copy = check_bool("normalize", normalize), check_bool("copy", copy)
    random_state = seed_from(check_random_state("random_state", random_state))
    with kernel_threads(n_jobs, limit=default_threads()):
        fitted = fit_scales(
            adata,
            n_comps,
            n_scales=n_scales,
            scales=scales,
            filtration=filtration,
            layer=layer,
            mask_var=mask_var,
            use_rep=use_rep,
            n_pcs=n_pcs,
            neighbors_key=neighbors_key,
            graph_weight=graph_weight,
            coupling_weight=coupling_weight,
            anchor_weight=anchor_weight,
            normalize=normalize,
            max_iter=max_iter,
            max_sweeps=max_sweeps,
            tol=tol,
            random_state=random_state,
        )
    _hint_unconverged(fitted.fit, max_sweeps, tol)
    results = _assemble(Keys(key_added), fitted)
    if copy:
        adata = adata.copy()
    write_results(adata, results, stale_entries(adata, key_added))
    n_scales = len(fitted.thresholds)
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    {n_scales} embeddings 'X_{key_added}_*' (adata.obsm)\n"
        f"    {n_scales} loadings '{key_added}_loadings_*' (adata.varm)\n"
        f"    manifest '{key_added}' (adata.uns), recommended scale {results.uns[key_added][Manifest.RECOMMENDED]}",
    )
    return adata if copy else None


def _hint_unconverged(fit: Fit, max_sweeps: int, tol: float) -> None:
    """Say what to change when a stopping rule, not convergence, ended the fit."""
    unconverged = np.flatnonzero(~fit.converged)
    if len(unconverged):
        logg.hint(
            f"scales {unconverged.tolist()} stopped at max_iter before their objective settled (tol={tol}); pass a larger max_iter"
        )
    if max_sweeps and not fit.sweeps_converged:
        sweeps = [
            o for phase, o in zip(fit.history["phase"], fit.history["objective"], strict=True) if phase == "sweep"
        ]
        last = (sweeps[-2] - sweeps[-1]) / sweeps[-2]
        logg.hint(
            f"the coupled sweeps stopped at max_sweeps={max_sweeps} while the objective still fell by {last:.1e} per sweep (tol={tol}); pass a larger max_sweeps to continue"
        )


@dataclass(frozen=True)
class Fitted:
    """Everything a run computed, before anything is written."""

    fit: Fit
    thresholds: np.ndarray
    n_connected: np.ndarray
    graphs: list[ScaleGraph]
    persistence: Persistence
    top: float
    genes: np.ndarray
    params: dict
    timings: dict[str, float]
    dtype: np.dtype


def fit_scales(
    adata: AnnData,
    n_comps: int,
    *,
    n_scales: int | None,
    scales: str | Sequence[float],
    filtration: str,
    layer: str | None,
    mask_var,
    use_rep: str,
    n_pcs: int | None,
    neighbors_key: str | None,
    graph_weight: float | str,
    coupling_weight: float,
    anchor_weight: float,
    normalize: bool,
    max_iter: int,
    max_sweeps: int,
    tol: float,
    random_state: int | None,
) -> Fitted:
    """Validate the options, read the inputs and fit every scale; write nothing (see :func:`pnmf`)."""
    filtration = check_choice("filtration", filtration, ("knn", "rips"))
    auto_weight = isinstance(graph_weight, str)
    if auto_weight:
        check_choice("graph_weight", graph_weight, ("auto",))
    weights = Weights(
        graph=FALLBACK_WEIGHT if auto_weight else check_real("graph_weight", graph_weight),
        coupling=check_real("coupling_weight", coupling_weight),
        anchor=check_real("anchor_weight", anchor_weight),
    )
    max_iter = check_int("max_iter", max_iter, minimum=1)
    max_sweeps = check_int("max_sweeps", max_sweeps, minimum=0)
    tol = check_real("tol", tol)
    if n_scales is not None:
        if not (isinstance(scales, str) and scales == "auto"):
            msg = f"n_scales={n_scales} conflicts with scales={scales!r}; pass one of them (n_scales only applies to scales='auto')."
            raise PnmfValueError(msg)
        n_scales = check_int("n_scales", n_scales, minimum=1)
    if adata.n_obs < 3:
        msg = f"pnmf needs at least 3 cells, adata has {adata.n_obs}."
        raise PnmfValueError(msg)
    if adata.n_vars == 0:
        msg = "adata has no genes; pnmf needs an expression matrix with at least one gene."
        raise PnmfValueError(msg)

    timings: dict[str, float] = {}
    with _stage(timings, "inputs"):
        mask = gene_mask(adata, mask_var)
        X, source = read_expression(adata, layer, mask)
        n_comps = check_int(
            "n_comps",
            n_comps,
            minimum=1,
            maximum=min(X.shape),
            hint=f"It cannot exceed the number of cells ({X.shape[0]}) or selected genes ({X.shape[1]}).",
        )
        if n_pcs is not None:
            n_pcs = check_int("n_pcs", n_pcs, minimum=1)
        points, rep_source = read_representation(adata, use_rep, n_pcs, X, random_state)
    with _stage(timings, "neighbors"):
        edges, graph_source = _domain_edges(adata, filtration, neighbors_key, points, random_state)
    with _stage(timings, "persistence"):
        edges, persistence = _persistence(filtration, edges, points)
        top = _top_threshold(edges)
        thresholds = _thresholds(scales, n_scales, persistence, top)
        n_connected = persistence.n_connected(thresholds)
    logg.info(f"    {len(thresholds)} scales from the {graph_source}: {n_connected.tolist()} connected components")
    with _stage(timings, "graphs"):
        graphs = [scale_graph(edges, threshold) for threshold in thresholds]
    with _stage(timings, "init"):
        expression = Expression(normalize_cells(X) if normalize else X)
        if expression.sq_norm == 0:
            msg = f"{source} has no nonzero values in the selected genes: there is nothing to factorize."
            raise PnmfValueError(msg)
        U0, W0 = nndsvda(expression, n_comps, random_state)
    if auto_weight:
        with _stage(timings, "graph weight"):
            selection = cross_validate_graph_weight(
                expression.matrix,
                graphs[-1],
                (U0, W0),
                anchor_weight=weights.anchor,
                max_iter=max_iter,
                tol=tol,
                random_state=random_state,
                restrict=lambda cells: scale_graph(edges.induced(cells), thresholds[-1]),
            )
        weights = replace(weights, graph=selection.weight)
        weight_rule = "cross-validated" if selection.cross_validated else "fallback"
        logg.info(f"    graph weight {selection.weight:g} ({weight_rule} over {selection.candidates.tolist()})")
    else:
        weight_rule = "given"
    with _stage(timings, "solve"):
        fit = solve(
            expression,
            graphs,
            U0,
            W0,
            weights,
            max_iter=max_iter,
            max_sweeps=max_sweeps,
            tol=tol,
            progress=settings.verbosity >= 2,
        )
    if not all(np.isfinite(U).all() for U in fit.embeddings) or not all(np.isfinite(W).all() for W in fit.loadings):
        msg = "the solver produced non-finite values; nothing was written. Please report this with your data's shape and dtype."
        raise FloatingPointError(msg)

    params = {
        "n_comps": n_comps,
        "n_scales": len(thresholds),
        "scales": scales if isinstance(scales, str) else "explicit",
        "filtration": filtration,
        "expression": source,
        "n_genes": int(mask.sum()),
        "use_rep": use_rep,
        "representation": rep_source,
        "n_pcs": int(points.shape[1]),
        "graph": graph_source,
        "graph_weight": weights.graph,
        "graph_weight_rule": weight_rule,
        "coupling_weight": weights.coupling,
        "anchor_weight": weights.anchor,
        "normalize": bool(normalize),
        "max_iter": max_iter,
        "max_sweeps": max_sweeps,
        "tol": tol,
    }
    # h5ad cannot store None: optional settings are present only when set
    optional = {"layer": layer, "neighbors_key": neighbors_key, "random_state": random_state}
    params.update({name: value for name, value in optional.items() if value is not None})
    return Fitted(fit, thresholds, n_connected, graphs, persistence, top, mask, params, timings, X.dtype)


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of one stage."""
    start = perf_counter()
    yield
    timings[name] = perf_counter() - start


def _domain_edges(
    adata: AnnData, filtration: str, neighbors_key: str | None, points: np.ndarray, random_state: int | None
) -> tuple[EdgeList, str]:
    """Collect the edges whose lengths make the filtration, and describe where they came from."""
    n = adata.n_obs
    if filtration == "rips":
        if n > MAX_RIPS_CELLS:
            msg = f"filtration='rips' stores all {n * (n - 1) // 2} pairwise distances and is limited to {MAX_RIPS_CELLS} cells; use filtration='knn'."
            raise PnmfValueError(msg)
        rows, cols = np.triu_indices(n, k=1)
        return EdgeList(n, rows.astype(np.int64), cols.astype(np.int64), pdist(points)), "Vietoris–Rips filtration"
    return knn_edges(adata, neighbors_key, points, random_state)


def _persistence(filtration: str, edges: EdgeList, points: np.ndarray) -> tuple[EdgeList, Persistence]:
    """Compute H0 persistence; a disconnected kNN graph is first bridged along exact closest pairs."""
    if filtration == "rips":
        return edges, rips_persistence(points)
    bridges = bridge_components(points, edges)
    if len(bridges):
        logg.info(f"    the kNN graph is disconnected: joined it with {len(bridges)} exact closest-pair edges")
        edges = edges.concat(bridges)
    return edges, graph_persistence(edges)


def _top_threshold(edges: EdgeList) -> float:
    """Return the coarsest threshold, just above the longest edge, where every edge is present."""
    longest = float(edges.lengths.max()) if len(edges) else 0.0
    return longest * (1 + _TOP_MARGIN) if longest > 0 else 1.0


def _thresholds(
    scales: str | Sequence[float], n_scales: int | None, persistence: Persistence, top: float
) -> np.ndarray:
    if isinstance(scales, str):
        check_choice("scales", scales, ("auto", "all"))
        if scales == "auto":
            return select_scales(persistence, top, n_scales if n_scales is not None else DEFAULT_N_SCALES)
        thresholds = canonical_thresholds(persistence, top)
        if len(thresholds) > MAX_ALL_SCALES:
            msg = (
                f"scales='all' would fit {len(thresholds)} scales (one per distinct H0 death value), more than "
                f"{MAX_ALL_SCALES}; pass n_scales=<a few> or explicit thresholds instead."
            )
            raise PnmfValueError(msg)
        return thresholds
    thresholds = np.asarray(scales, dtype=np.float64).ravel()
    if thresholds.size == 0:
        msg = "scales is an empty sequence; pass positive thresholds, or scales='auto'."
        raise PnmfValueError(msg)
    if not np.isfinite(thresholds).all() or (thresholds <= 0).any():
        msg = f"scales must be positive finite thresholds, got {thresholds.tolist()}."
        raise PnmfValueError(msg)
    if len(np.unique(thresholds)) < len(thresholds):
        msg = f"scales contains duplicated thresholds {thresholds.tolist()}; pass each threshold once."
        raise PnmfValueError(msg)
    return np.sort(thresholds)


def _aligned(fit: Fit, *, coupled: bool) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Factors in an order that means the same program at every scale, and how similar they stay.

    With a coupling term the model itself ties factor j across scales (permuting one
    scale would change its objective), so the order is kept. Without it each scale's
    factors are matched to the next finer scale's by the Hungarian algorithm on loadings.
    """
    if coupled:
        embeddings, loadings, method = fit.embeddings, fit.loadings, "coupling"
    else:
        permutations = align_factors(fit.loadings)
        embeddings = [U[:, p] for U, p in zip(fit.embeddings, permutations, strict=True)]
        loadings = [W[:, p] for W, p in zip(fit.loadings, permutations, strict=True)]
        method = "hungarian"
    return embeddings, loadings, {"method": method, "similarity": consecutive_similarity(loadings)}


def _assemble(keys: Keys, fitted: Fitted) -> Results:
    """Build everything to write before anything is written."""
    fit, mask, dtype = fitted.fit, fitted.genes, fitted.dtype
    n_scales = len(fitted.thresholds)
    embeddings, loadings, alignment = _aligned(fit, coupled=fitted.params["coupling_weight"] > 0)
    obsm = {keys.embedding(t): embeddings[t].astype(dtype) for t in range(n_scales)}
    varm = {}
    for t in range(n_scales):
        full = np.zeros((len(mask), loadings[t].shape[1]), dtype=dtype)
        full[mask] = loadings[t]
        varm[keys.loadings(t)] = full
    history = {key: np.asarray(values) for key, values in fit.history.items()}
    history["phase"] = history["phase"].astype(str)
    manifest = {
        Manifest.WRITER: writer(),
        Manifest.OBSM_KEYS: np.array(list(obsm), dtype=str),
        Manifest.VARM_KEYS: np.array(list(varm), dtype=str),
        Manifest.THRESHOLDS: fitted.thresholds,
        Manifest.N_CONNECTED: fitted.n_connected.astype(np.int64),
        Manifest.N_EDGES: np.array([g.n_edges for g in fitted.graphs], dtype=np.int64),
        Manifest.RECOMMENDED: recommend_scale(fitted.n_connected, fitted.persistence.n_cells),
        Manifest.PERSISTENCE: {
            "deaths": fitted.persistence.deaths,
            "n_essential": fitted.persistence.n_essential,
            "top": fitted.top,
        },
        Manifest.CONVERGENCE: {
            "n_iter": fit.n_iter,
            "converged": fit.converged,
            "n_sweeps": fit.n_sweeps,
            "sweeps_converged": fit.sweeps_converged,
            "objective": fit.objective,
            "terms": dict(fit.terms),
        },
        Manifest.HISTORY: history,
        Manifest.ALIGNMENT: alignment,
        Manifest.GENES: mask,
        Manifest.TIMINGS: fitted.timings,
        Manifest.PARAMS: fitted.params,
    }
    return Results(obsm=obsm, varm=varm, uns={keys.uns: manifest})
