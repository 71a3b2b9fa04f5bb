"""``pnmf.tl.consensus``: programs that reproduce, from many runs of a ``tl.pnmf`` result's model."""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import replace
from time import perf_counter
from typing import Any

import numpy as np
from anndata import AnnData
from scanpy import logging as logg
from scanpy import settings

from .._core.alignment import align_factors, consecutive_similarity
from .._core.consensus import consensus_loadings, reproducibility, stability
from .._core.replicates import Refit, refit_embeddings
from .._errors import PnmfValueError
from .._keys import DEFAULT_CONSENSUS_KEY, DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, fit_options, fitted_genes, read_manifest, stale_entries, write_results, writer
from .._sections import MIN_STABILITY, Alignment, ConsensusScores, Convergence, History
from .._validation import check_in_memory, check_int, check_key_added, check_real, check_seed
from ._pnmf import batch_summary, integrate, population_fields, scale_fields
from ._replicates import (
    DEFAULT_SUBSAMPLE,
    REPLICATE_TOL,
    Prepared,
    matched_per_scale,
    prepare,
    replicate_fits,
    seeds,
)

__all__ = ["DEFAULT_CONSENSUS_KEY", "MIN_STABILITY", "consensus"]
#: Copied from the source result: the scale it recommends (the thresholds are the source's too,
#: the graphs and barcode at them are those of the cells given, see ``scale_fields``).
_SHARED = (Manifest.RECOMMENDED,)
#: Copied too where the source has it (written since the scale was cross-validated).
_OPTIONAL_SHARED = (Manifest.CROSS_VALIDATION,)


def consensus(
    adata: AnnData,
    n_runs: int = 10,
    *,
    subsample: float = DEFAULT_SUBSAMPLE,
    outlier_mads: float = 3.0,
    tol: float | None = None,
    random_state: int | np.random.RandomState | None = 0,
    key: str = DEFAULT_KEY,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Combine many runs of a ``tl.pnmf`` result's model into consensus programs, and score each program.

    The model of the result under ``key`` (its k, scales, weights and inputs, read from
    its manifest) is fitted ``n_runs`` times at all of its scales, each run from its own
    random start on its own seeded subsample of cells (graphs built from the edges between
    those cells), as in :func:`pnmf.tl.select_k`. Then:

    1. the runs' factors are matched by the Hungarian algorithm on the cosine similarity of
       their loadings (jointly over the scales when they are coupled);
    2. per scale and factor, the matched copies are combined by an element-wise median
       after dropping outlying copies: a copy is dropped when its cosine with the median
       of all copies falls more than ``outlier_mads`` robust standard deviations
       (1.4826 × the median absolute deviation), and at least 0.05, below the typical
       copy's; at least half of the copies are always kept. The result is rescaled to
       unit norm;
    3. with these consensus loadings fixed, the embeddings of all cells at all scales are
       refitted by exact coordinate descent on the same coupled objective;
    4. every program gets its stability (silhouette of its copies over runs) and
       reproducibility (median cosine over pairs of runs), so programs that do not
       reproduce can be flagged (:func:`pnmf.get.programs`).

    The result is a complete ``tl.pnmf`` result under ``key_added``: every ``pnmf.get``
    and ``pnmf.pl`` function reads it with ``key=key_added``.

    Parameters
    ----------
    adata
        AnnData with a ``tl.pnmf`` result.
    n_runs
        Number of runs to combine (at least 2).
    subsample
        Fraction of the cells each run sees, in (0, 1].
    outlier_mads
        Robust standard deviations below the typical copy that make a copy an outlier.
    tol
        The runs' and the refit's tolerance, as in :func:`pnmf.tl.pnmf`. ``None``: the
        source fit's or 1e-6 (:func:`pnmf.tl.select_k`'s default), whichever is smaller.
        The stability compares runs from random starts, and runs stopped at ``tl.pnmf``'s
        1e-4 still differ where converged ones agree: on planted programs (5 in 2,000 cells, k = 5, three seeds) every
        program's stability was below 0.8 at 1e-4 and above 0.98 at 1e-6, for about 3
        times the time (``benchmarks/consensus_tol.py``).
    random_state
        Seed of the subsamples and random starts: an integer, ``None`` (fresh randomness)
        or a :class:`numpy.random.RandomState` (its next draw).
    key
        ``key_added`` of the ``tl.pnmf`` result.
    key_added
        Where the consensus result goes (``obsm``/``varm`` keys and ``uns`` manifest named
        as :func:`pnmf.tl.pnmf` names them); by default ``'{key}_consensus'``. Passing
        ``key`` replaces the single run by its consensus.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets, as :func:`pnmf.tl.pnmf` does:

    ``adata.obsm['X_{key_added}_{t}']``
        Refitted cells × k embedding at scale t.
    ``adata.varm['{key_added}_loadings_{t}']``
        Consensus loadings at scale t (unit-norm columns, zero outside the genes used).
    ``adata.uns[key_added]``
        The source's ``thresholds``, ``recommended_scale``, ``genes`` and ``gene_names``;
        ``n_connected``, ``n_edges`` and ``persistence`` at those thresholds on the cells
        of ``adata`` (the source's when they are its cells; a cell subset or a projected
        query gets its own); ``obsm_keys``, ``varm_keys``, ``alignment``, ``convergence``
        and ``history`` of the refit (phase ``'path'``: each scale's own terms,
        ``'sweep'``: the total), ``timings``, ``params`` (the source's options, where the
        expression, representation and graph came from this time, plus ``source``,
        ``n_runs``, ``subsample``, ``outlier_mads`` and ``random_state`` when set) and
        ``consensus``: ``stability``, ``reproducibility`` and ``n_kept`` (copies kept),
        each scales × k.

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(600, 300, n_programs=4)
    >>> sc.pp.pca(adata)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.pnmf(adata, 4, n_scales=2)
    >>> pnmf.tl.consensus(adata, n_runs=4)
    >>> pnmf.get.programs(adata, n_genes=3).columns.tolist()
    ['factor', 'rank', 'gene', 'loading', 'stability', 'reproducibility', 'reproducible']
    """
    start = logg.info("computing consensus programs")
    check_in_memory(adata)
    key = check_key_added(key)
    key_added = check_key_added(Keys(key).consensus if key_added is None else key_added)
    n_runs = check_int("n_runs", n_runs, minimum=2, hint="A consensus combines several runs; pass n_runs=10 or more.")
    subsample = check_real("subsample", subsample, strict=True)
    if subsample > 1:
        msg = f"subsample={subsample} is a fraction of the cells; pass a number in (0, 1], e.g. 0.8."
        raise PnmfValueError(msg)
    outlier_mads = check_real("outlier_mads", outlier_mads)
    tol = None if tol is None else check_real("tol", tol, strict=True)
    seed = check_seed("random_state", random_state)
    source = read_manifest(adata, key, genes=True, params=True)
    # the source's fit, on its own scales and genes (found by name where genes were subset or reordered)
    options = fit_options(source, mask_var=source[Manifest.GENES])
    options = replace(options, tol=min(options.tol, REPLICATE_TOL) if tol is None else tol)
    n_comps = options.n_comps

    timings: dict[str, float] = {}
    clock = perf_counter()
    prepared = prepare(adata, options)
    timings["prepare"] = perf_counter() - clock
    n_seen = max(round(subsample * adata.n_obs), 1) if subsample < 1 else adata.n_obs
    if n_comps > n_seen:
        msg = f"The result {key!r} has k={n_comps} factors but a run sees {n_seen} cells; pass a larger subsample."
        raise PnmfValueError(msg)

    clock = perf_counter()
    verbose = settings.verbosity >= 3
    progress = logg.debug if verbose else None
    replicates = replicate_fits(prepared, [n_comps], n_runs, subsample, seeds(seed), progress)
    timings["runs"] = perf_counter() - clock

    clock = perf_counter()
    matched = matched_per_scale(replicates.loadings[n_comps], coupled=prepared.coupled)
    combined = [consensus_loadings(m, outlier_mads) for m in matched]
    loadings = [W for W, _ in combined]
    scores = {
        "stability": np.stack([stability(m) for m in matched]),
        "reproducibility": np.stack([reproducibility(m) for m in matched]),
        "n_kept": np.stack([kept.sum(axis=0) for _, kept in combined]).astype(np.int64),
    }  # scales × k each
    if prepared.coupled:
        method = "coupling"
    else:  # each scale was matched on its own: give factor j one identity across scales
        method = "hungarian"
        permutations = align_factors(loadings)
        loadings = [W[:, p] for W, p in zip(loadings, permutations, strict=True)]
        scores = {name: np.stack([v[t][p] for t, p in enumerate(permutations)]) for name, v in scores.items()}
    timings["consensus"] = perf_counter() - clock

    clock = perf_counter()
    refit = refit_embeddings(
        prepared.expression,
        prepared.graphs,
        loadings,
        prepared.weights,
        max_iter=options.max_iter,
        tol=options.tol,
    )
    timings["refit"] = perf_counter() - clock
    if prepared.inputs.batches is not None:
        clock = perf_counter()
        usage = integrate(refit.embeddings, prepared.inputs, options.integration_steps)
        prepared = replace(prepared, inputs=replace(prepared.inputs, usage=usage))
        timings["integration"] = perf_counter() - clock
    if not all(np.isfinite(U).all() for U in refit.embeddings):
        msg = (
            "the refit produced non-finite values; nothing was written. "
            "Please report this with your data's shape and dtype."
        )
        raise FloatingPointError(msg)

    results = _assemble(Keys(key_added), source, prepared, loadings, refit, ConsensusScores(**scores), method, timings)
    manifest = results.uns[key_added]
    manifest.update(fitted_genes(adata, source[Manifest.GENES]))
    manifest[Manifest.PARAMS].update(
        source=key, n_runs=n_runs, subsample=subsample, outlier_mads=outlier_mads, tol=options.tol
    )
    if seed is not None:
        manifest[Manifest.PARAMS]["random_state"] = seed
    if copy:
        adata = adata.copy()
    write_results(adata, results, stale_entries(adata, key_added))
    n_stable = int((scores["stability"] >= MIN_STABILITY).sum())
    logg.info(
        "    finished",
        time=start,
        deep=f"added consensus of {n_runs} runs under '{key_added}' (adata.obsm, adata.varm, adata.uns); "
        f"{n_stable} of {scores['stability'].size} scale × factor programs with stability ≥ {MIN_STABILITY}",
    )
    return adata if copy else None


def _assemble(
    keys: Keys,
    source: Mapping[str, Any],
    prepared: Prepared,
    loadings: list[np.ndarray],
    refit: Refit,
    scores: ConsensusScores,
    method: str,
    timings: dict[str, float],
) -> Results:
    """Build everything to write, in the layout of a ``tl.pnmf`` result."""
    genes = np.asarray(source[Manifest.GENES], dtype=bool)
    dtype = prepared.inputs.X.dtype
    n_scales = len(loadings)
    obsm = {keys.embedding(t): refit.embeddings[t].astype(dtype) for t in range(n_scales)}
    populations, population_key = population_fields(keys, prepared.problem)
    varm = {}
    for t in range(n_scales):
        full = np.zeros((len(genes), loadings[t].shape[1]), dtype=dtype)
        full[genes] = loadings[t]
        varm[keys.loadings(t)] = full
    convergence = Convergence(
        n_iter=np.full(n_scales, refit.n_iter, dtype=np.int64),
        converged=np.full(n_scales, refit.converged),
        n_sweeps=refit.n_iter,
        sweeps_converged=refit.converged,
        objective=refit.objective,
        terms=refit.terms,
    )
    manifest = {name: deepcopy(source[name]) for name in _SHARED}
    manifest.update({name: deepcopy(source[name]) for name in _OPTIONAL_SHARED if name in source})
    manifest.update(
        {
            **scale_fields(prepared.problem),  # on the cells given, which need not be the source's
            **population_key,
            **batch_summary(prepared.inputs),
            Manifest.WRITER: writer(),
            Manifest.OBSM_KEYS: np.array(list(obsm), dtype=str),
            Manifest.VARM_KEYS: np.array(list(varm), dtype=str),
            Manifest.CONVERGENCE: convergence.to_uns(),
            Manifest.HISTORY: _history(refit).to_uns(),
            Manifest.ALIGNMENT: Alignment(method, consecutive_similarity(loadings)).to_uns(),
            Manifest.TIMINGS: timings,
            # the source's options; where the expression, representation and graph came from this time
            Manifest.PARAMS: {**deepcopy(dict(source[Manifest.PARAMS])), **prepared.inputs.provenance()},
            Manifest.CONSENSUS: scores.to_uns(),
        }
    )
    return Results(obsm={**obsm, **populations}, varm=varm, uns={keys.uns: manifest})


def _history(refit: Refit) -> History:
    """Return the refit's objective in ``tl.pnmf``'s history layout: per scale ('path') and in total ('sweep')."""
    n_steps, n_scales = refit.per_scale.shape
    iterations = np.arange(n_steps, dtype=np.int64)
    return History(
        phase=np.array(["path"] * (n_steps * n_scales) + ["sweep"] * n_steps, dtype=str),
        scale=np.concatenate([np.repeat(np.arange(n_scales, dtype=np.int64), n_steps), np.full(n_steps, -1)]),
        iteration=np.concatenate([np.tile(iterations, n_scales), iterations]),
        objective=np.concatenate([refit.per_scale.T.ravel(), np.asarray(refit.history, dtype=np.float64)]),
    )
