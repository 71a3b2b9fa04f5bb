"""``pnmf.tl.select_k``: how many factors? Stability across replicate runs and error, per k."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from time import perf_counter
from typing import Literal

import numpy as np
from anndata import AnnData
from scanpy import logging as logg
from scanpy import settings

from .._core.consensus import reproducibility, stability
from .._errors import PnmfTypeError, PnmfValueError
from .._keys import DEFAULT_K_KEY, KSelection, Manifest
from .._manifest import Results, write_results, writer
from .._options import PnmfOptions
from .._validation import check_bool, check_in_memory, check_int, check_key_added, check_real
from ._inputs import align_mask_var
from ._replicates import DEFAULT_SUBSAMPLE, REPLICATE_TOL, matched_per_scale, prepare, replicate_fits, seeds

__all__ = ["select_k", "suggest_k"]

#: Columns of the manifest's tables, per k, per k and scale, per k, scale and factor.
BY_K, BY_SCALE, BY_FACTOR = KSelection.BY_K, KSelection.BY_SCALE, KSelection.BY_FACTOR

_D = PnmfOptions  # the defaults of tl.pnmf's options


def select_k(
    adata: AnnData,
    n_comps: Sequence[int] = (5, 10, 15, 20, 25),
    *,
    n_runs: int = 5,
    subsample: float = DEFAULT_SUBSAMPLE,
    all_scales: bool = False,
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
    tol: float = REPLICATE_TOL,
    random_state: int | np.random.RandomState | None = _D.random_state,
    key_added: str = DEFAULT_K_KEY,
    copy: bool = False,
) -> AnnData | None:
    r"""Score each number of factors k by the stability of its programs across replicate runs.

    For every k, ``n_runs`` replicates of :func:`pnmf.tl.pnmf`'s model are fitted. They
    differ in what real replicates differ in: each starts from its own random factors and
    sees its own seeded subsample of ``subsample · n`` cells, with each scale's graph built
    at the same threshold from the edges between those cells (as ``tl.pnmf`` would build it
    on the subsample). The persistence and the scales are computed once and shared by every
    k and run (the scales do not depend on k), and each run's subsample and graphs are
    shared by all k.

    Each run fits three of the scales, coupled as in ``tl.pnmf``: the finest, the
    recommended (cross-validated once, as ``tl.pnmf`` would with the middle k of
    ``n_comps``) and the coarsest (``all_scales=True``: every scale). The stability hardly
    depends on the scale: on planted programs, runs over three and over all eight scales
    gave mean stabilities within 0.04 of each other at every k and the same suggested k
    (4 datasets), and cost 6 to 16 % less at 10,000 and 30,000 cells (16 to 24
    single fits for 5 values of k × 5 runs, against 19 to 26;
    ``benchmarks/results/select_k_timing.md``, measured with runs stopped at 1e-4 and before
    the recommended scale was cross-validated, which adds one cross-validation to the whole
    call; with runs to :data:`REPLICATE_TOL` and the current model, 30 single fits at
    10,000 cells).

    The runs of one k are then matched factor to factor by the Hungarian algorithm on the
    cosine similarity of their loadings (jointly over scales when the scales are coupled,
    so factor j is one program at every scale), against the medoid run and then against
    the median of the matched runs. At each scale:

    * **stability** of a factor: the silhouette, with cosine distance, of its R matched
      copies taken as one cluster among the k clusters (cNMF's score): 1 when every run
      finds the same program and it differs from the others, about 0 or below when the runs
      split the data in different ways;
    * **reproducibility** of a factor: the median over pairs of runs of the cosine
      similarity of its matched loadings;
    * **error**: the relative reconstruction error :math:`\|X - U_t W_t^\top\|_F^2 / \|X\|_F^2`
      on the run's cells, averaged over runs.

    The stability of k is the mean over scales and factors; its **least stable factor**
    (``min_stability``) is, at each scale, the smallest stability of its k factors,
    averaged over scales. As k grows the error falls; past the number of programs the data
    hold, the extra factors split programs in arbitrary ways that change from run to run,
    and the stability drops.

    The **suggested k** is the k whose least stable factor is the most stable: the k at
    which every program reproduces best. A k is only as trustworthy as its least
    reproducible program, and one factor that splits a program differently in every run
    lowers the minimum several times more than the mean (planted programs, median drops
    from K to K + 1: 0.02 to 0.06 against 0.01 to 0.02; to K + 2: 0.23 to 0.60 against
    0.08 to 0.15).

    On data with a planted number of programs K (``pnmf.datasets.gene_programs``, K = 3,
    5 and 8, four noise levels, three seeds; 800 cells × 400 genes; k = K − 2 … K + 3) this
    rule found K in 33 of 36 datasets (12 of 12 for K = 5, 11 of 12 for K = 3, 10 of 12
    for K = 8), the k of best mean stability in 34, and the largest k within 0.02 of the
    best mean stability in 31: the extra factor at K + 1 is often nearly as stable on
    average, while its least stable factor is not (``benchmarks/results/select_k_science.md``).
    With the runs stopped at ``tl.pnmf``'s 1e-4 instead of :data:`REPLICATE_TOL` the rule
    found K in 20.
    The suggestion is a starting point: read the curves (:func:`pnmf.pl.k_selection`), and
    the k of a biological question may be larger.

    Parameters
    ----------
    adata
        Annotated data matrix with nonnegative expression, as for :func:`pnmf.tl.pnmf`.
    n_comps
        The numbers of factors to compare: at least two distinct integers ≥ 1, at most
        the number of genes or of cells in a subsample.
    n_runs
        Replicate runs per k (at least 2).
    subsample
        Fraction of the cells each run sees, in (0, 1]; 1 makes the runs differ only by
        their random start.
    all_scales
        Fit every scale in each run; by default the finest, the recommended and the
        coarsest scale (see above).
    n_scales, scales, filtration, layer, mask_var, use_rep, n_pcs, neighbors_key, batch_key, integration_steps
        As in :func:`pnmf.tl.pnmf` (same defaults). With ``batch_key`` the runs fit the
        scales of the batch-balanced graph; the programs, which are shared by the batches,
        are what is compared, so ``integration_steps`` (which moves the cells, not the
        programs) changes nothing here.
    graph_weight, coupling_weight, anchor_weight, pooling_weight, normalize, max_iter, max_sweeps
        As in :func:`pnmf.tl.pnmf` (same defaults).
    tol
        As in :func:`pnmf.tl.pnmf`, but 1e-6 by default (:data:`REPLICATE_TOL`): the
        stability compares runs from random starts, and runs stopped at ``tl.pnmf``'s 1e-4
        still differ where converged ones agree.
    random_state
        Seed of the subsamples and random starts (the same seed gives the same result;
        ``None``: fresh randomness; a :class:`numpy.random.RandomState`: its next draw) and of any
        PCA or kNN graph built here.
    key_added
        The results go to ``adata.uns[key_added]``; a previous result there is replaced.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets ``adata.uns[key_added]``:

    ``n_comps``
        The k tried, ascending.
    ``suggested_k``
        The suggested k (rule above).
    ``by_k``
        Per k: ``n_comps``, ``stability`` and ``reproducibility`` (means over scales and
        factors), ``min_stability`` (the least stable factor, mean over scales), ``error``
        (mean over scales and runs), ``error_std`` (standard deviation over runs of the
        mean error over scales).
    ``by_scale``
        Per k and scale: ``n_comps``, ``scale``, ``stability``, ``min_stability``,
        ``reproducibility``, ``error``, ``error_std``.
    ``by_factor``
        Per k, scale and factor: ``n_comps``, ``scale``, ``factor``, ``stability``,
        ``reproducibility`` (factors in the order of the matched runs).
    ``thresholds``, ``n_connected``
        The scales shared by all runs and their numbers of connected components.
    ``scales_fitted``
        Indices (into ``thresholds``) of the scales each run fits.
    ``n_runs``, ``subsample``, ``timings`` (seconds per stage),
    ``params``
        How the result was made (``params`` as in :func:`pnmf.tl.pnmf`'s manifest, plus
        ``random_state`` when set).

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(600, 300, n_programs=4)
    >>> sc.pp.pca(adata)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.select_k(adata, [3, 4, 5], n_runs=3, n_scales=2)
    >>> pnmf.get.k_selection(adata)[["n_comps", "stability", "suggested"]].shape
    (3, 3)
    """
    arguments = dict(locals())  # before any other name is bound: the options, by their names
    start = logg.info("choosing the number of factors")
    check_in_memory(adata)
    key_added = check_key_added(key_added)
    ks = _check_n_comps(n_comps)
    n_runs = check_int("n_runs", n_runs, minimum=2, hint="Stability compares runs; pass n_runs=5 or more.")
    subsample = _check_subsample(subsample)
    all_scales = check_bool("all_scales", all_scales)
    arguments["mask_var"] = align_mask_var(adata, mask_var)  # a Series is read by gene name
    # n_comps differs per k: the options carry the smallest, each fit its own, λ1 is chosen at the middle k
    options = PnmfOptions.collect(arguments, n_comps=int(ks[0]))

    timings: dict[str, float] = {}
    clock = perf_counter()
    prepared = prepare(adata, options, weight_comps=int(ks[len(ks) // 2]), recommend=not all_scales)
    timings["prepare"] = perf_counter() - clock
    n_cells, n_genes = prepared.expression.shape
    n_seen = max(round(subsample * n_cells), 1) if subsample < 1 else n_cells
    if ks[-1] > min(n_seen, n_genes):
        msg = (
            f"n_comps={ks.tolist()} asks for k={ks[-1]} factors, but a run sees {n_seen} cells and "
            f"{n_genes} genes; pass values of k up to {min(n_seen, n_genes)}."
        )
        raise PnmfValueError(msg)

    problem = prepared.problem
    n_scales = len(problem.thresholds)
    scales_fitted = (
        np.arange(n_scales, dtype=np.int64)
        if prepared.recommended is None
        else np.unique([0, prepared.recommended, n_scales - 1]).astype(np.int64)
    )
    clock = perf_counter()
    verbose = settings.verbosity >= 3
    progress = logg.debug if verbose else None
    replicates = replicate_fits(
        prepared, ks.tolist(), n_runs, subsample, seeds(options.random_state), progress, scales=scales_fitted.tolist()
    )
    timings["runs"] = perf_counter() - clock

    clock = perf_counter()
    by_k: dict[str, list] = {name: [] for name in BY_K}
    by_scale: dict[str, list] = {name: [] for name in BY_SCALE}
    by_factor: dict[str, list] = {name: [] for name in BY_FACTOR}
    for k in ks.tolist():
        matched = matched_per_scale(replicates.loadings[k], coupled=prepared.coupled)
        errors = replicates.errors[k]
        factor_stability = np.stack([stability(m) for m in matched])
        factor_reproducibility = np.stack([reproducibility(m) for m in matched])
        for i, t in enumerate(scales_fitted.tolist()):
            _extend(
                by_scale,
                n_comps=k,
                scale=t,
                stability=factor_stability[i].mean(),
                min_stability=factor_stability[i].min(),
                reproducibility=factor_reproducibility[i].mean(),
                error=errors[:, i].mean(),
                error_std=errors[:, i].std(),
            )
            for j in range(k):
                _extend(
                    by_factor,
                    n_comps=k,
                    scale=t,
                    factor=j,
                    stability=factor_stability[i, j],
                    reproducibility=factor_reproducibility[i, j],
                )
        _extend(
            by_k,
            n_comps=k,
            stability=factor_stability.mean(),
            min_stability=factor_stability.min(axis=1).mean(),
            reproducibility=factor_reproducibility.mean(),
            error=errors.mean(),
            error_std=errors.mean(axis=1).std(),
        )
    timings["matching"] = perf_counter() - clock
    suggested = suggest_k(ks, np.asarray(by_k["min_stability"]))

    params = {name: value for name, value in prepared.params().items() if name != "n_comps"}
    manifest = {
        Manifest.WRITER: writer(),
        "n_comps": ks,
        "suggested_k": suggested,
        "by_k": _arrays(by_k),
        "by_scale": _arrays(by_scale),
        "by_factor": _arrays(by_factor),
        "thresholds": problem.thresholds,
        "n_connected": problem.n_connected.astype(np.int64),
        "scales_fitted": scales_fitted,
        "n_runs": n_runs,
        "subsample": subsample,
        "timings": timings,
        "params": params,
    }
    if copy:
        adata = adata.copy()
    write_results(adata, Results(uns={key_added: manifest}), {})
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    '{key_added}', stability and error for k = {ks.tolist()} (adata.uns); "
        f"suggested k = {suggested}",
    )
    return adata if copy else None


def suggest_k(n_comps: np.ndarray, min_stability: np.ndarray) -> int:
    """Return the k whose least stable factor is the most stable (the smallest such k on a tie; k ascending)."""
    finite = np.isfinite(min_stability)
    if not finite.any():
        return int(n_comps[0])
    return int(n_comps[np.flatnonzero(finite)[np.argmax(min_stability[finite])]])


def _check_n_comps(n_comps: object) -> np.ndarray:
    """At least two distinct positive integers, returned sorted."""
    if isinstance(n_comps, str) or not isinstance(n_comps, Sequence | np.ndarray):
        msg = (
            "n_comps must be a sequence of the numbers of factors to compare, e.g. n_comps=range(5, 30, 5); "
            f"got {n_comps!r}."
        )
        raise PnmfTypeError(msg)
    values = list(n_comps)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            msg = f"n_comps must hold integers, got {value!r} in {values!r}."
            raise PnmfTypeError(msg)
    if len(values) < 2:
        msg = (
            f"n_comps={values!r} gives {len(values)} value of k; select_k compares at least two "
            "(for one k, run pnmf.tl.pnmf then pnmf.tl.consensus)."
        )
        raise PnmfValueError(msg)
    if len(set(values)) < len(values):
        msg = f"n_comps={values!r} repeats values; pass each k once."
        raise PnmfValueError(msg)
    if min(values) < 1:
        msg = f"n_comps={values!r} contains k={min(values)}; every k must be ≥ 1."
        raise PnmfValueError(msg)
    return np.array(sorted(int(v) for v in values), dtype=np.int64)


def _check_subsample(subsample: object) -> float:
    value = check_real("subsample", subsample, strict=True)
    if value > 1:
        msg = f"subsample={value} is a fraction of the cells; pass a number in (0, 1], e.g. 0.8."
        raise PnmfValueError(msg)
    return value


def _extend(table: dict[str, list], **row: float) -> None:
    for name, value in row.items():
        table[name].append(value)


def _arrays(table: dict[str, list]) -> dict[str, np.ndarray]:
    """Columns as arrays that h5ad stores: integers as int64, the rest as float64."""
    return {
        name: np.asarray(values, dtype=np.int64 if name in ("n_comps", "scale", "factor") else np.float64)
        for name, values in table.items()
    }
