"""Per-scale results as tables and arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._errors import PnmfKeyError, PnmfValueError
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest, read_umaps, scale_index, scale_selection, umap_section
from .._sections import (
    Bars,
    ConsensusScores,
    Convergence,
    CrossValidation,
    GeneScores,
    History,
    Scores,
    read_section,
)
from .._validation import matrix_problem

__all__ = [
    "embedding",
    "gene_scores",
    "history",
    "loadings",
    "persistence_bars",
    "scale_of",
    "scale_scores",
    "scales",
    "umaps",
]


@doc_params
def scales(adata: AnnData, *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Tabulate the scales, fine to coarse: threshold, components, edges, fit and keys.

    Parameters
    ----------
    {adata}
    {key}

    Returns
    -------
    DataFrame indexed by ``scale`` with columns ``threshold``, ``n_connected``, ``n_edges``,
    ``n_groups`` and ``n_pooled`` (the groups the scale pulls towards their means, and their
    cells: ``pooling_weight`` in :func:`pnmf.tl.pnmf`),
    ``n_iter``, ``converged``, ``objective`` (the scale's last objective along the path),
    ``held_out_error`` (the relative error of the scale on the held-out genes) and
    ``held_out_standard_error`` (the standard error of its difference to the smallest, over
    the held-out genes), which chose the recommended scale: the coarsest reached from the
    smallest error through scales within one standard error of it (NaN where the manifest
    holds none: a single scale, the component-count fallback, or a result written before
    scales were cross-validated), ``recommended``, ``obsm_key`` and ``varm_key``. A
    :func:`pnmf.tl.project` result, whose cells were not part of the graphs, or one written
    before pooling, has ``<NA>`` for the counts it does not hold (read a projection's from
    the reference).

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.get.scales(adata).columns[:3].tolist()
    ['threshold', 'n_connected', 'n_edges']
    """
    manifest = read_manifest(adata, key)
    n_scales = len(manifest[Manifest.OBSM_KEYS])
    steps = history(adata, key=key)
    last = steps[steps["phase"] == "path"].groupby("scale")["objective"].last().reindex(range(n_scales))
    convergence = read_section(manifest, Convergence)
    if convergence.n_iter.shape != (n_scales,) or convergence.converged.shape != (n_scales,):
        msg = f"The manifest's section 'convergence' of the pnmf result {key!r} does not hold one entry per scale ({n_scales}); it was edited. Rerun the tool that wrote the result."
        raise PnmfValueError(msg)
    errors, standard_errors = _held_out_errors(manifest, n_scales)
    table = pd.DataFrame(
        {
            "threshold": np.asarray(manifest[Manifest.THRESHOLDS], dtype=np.float64),
            "n_connected": _counts(manifest, Manifest.N_CONNECTED, n_scales),
            "n_edges": _counts(manifest, Manifest.N_EDGES, n_scales),
            "n_groups": _counts(manifest, Manifest.N_GROUPS, n_scales),
            "n_pooled": _counts(manifest, Manifest.N_POOLED, n_scales),
            "n_iter": convergence.n_iter,
            "converged": convergence.converged,
            "objective": last.to_numpy(),
            "held_out_error": errors,
            "held_out_standard_error": standard_errors,
            "recommended": np.arange(n_scales) == int(manifest[Manifest.RECOMMENDED]),
            "obsm_key": [str(k) for k in manifest[Manifest.OBSM_KEYS]],
            "varm_key": [str(k) for k in manifest[Manifest.VARM_KEYS]],
        },
        index=pd.RangeIndex(n_scales, name="scale"),
    )
    return table


def _counts(manifest: Mapping[str, Any], field: str, n_scales: int) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Per-scale counts of the fit's graphs; missing (``<NA>``) for a result that holds none (a projection)."""
    if field not in manifest:
        return pd.array([pd.NA] * n_scales, dtype="Int64")
    return np.asarray(manifest[field], dtype=np.int64)


def _held_out_errors(manifest: Mapping[str, Any], n_scales: int) -> tuple[np.ndarray, np.ndarray]:
    """Every scale's held-out error and its standard error from the manifest's cross-validation (NaN where there are none)."""
    if Manifest.CROSS_VALIDATION in manifest:
        section = read_section(manifest, CrossValidation)
        if len(section.scale_errors) == n_scales and len(section.scale_standard_errors) == n_scales:
            return section.scale_errors, section.scale_standard_errors
    return np.full(n_scales, np.nan), np.full(n_scales, np.nan)


@doc_params
def embedding(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the cells × factors embedding of one scale as a DataFrame indexed by ``obs_names``.

    Parameters
    ----------
    {adata}
    {scale}
    {key}

    Returns
    -------
    Columns ``factor_0`` … ``factor_{k-1}``.
    """
    return _per_scale_frame(adata, scale, key, "obsm")


@doc_params
def loadings(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the genes × factors loadings of one scale as a DataFrame indexed by ``var_names``.

    Parameters
    ----------
    {adata}
    {scale}
    {key}

    Returns
    -------
    Columns ``factor_0`` … ``factor_{k-1}``; unit-norm columns, zero for genes not used.
    """
    return _per_scale_frame(adata, scale, key, "varm")


@doc_params
def gene_scores(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the scores of every gene at one scale (:func:`pnmf.tl.gene_scores`) as a DataFrame indexed by ``var_names``.

    Parameters
    ----------
    {adata}
    {scale}
    {key}

    Returns
    -------
    Columns ``factor_0`` … ``factor_{k-1}``: nonnegative scores, for every gene.
    """
    manifest = read_manifest(adata, key)
    t = scale_index(manifest, scale)
    missing = f"No gene scores for the pnmf result {key!r}; run pnmf.tl.gene_scores(adata, key={key!r}) first."
    names = read_section(manifest, GeneScores, missing=missing).varm_keys
    if t >= len(names) or names[t] not in adata.varm:
        raise PnmfKeyError(missing)
    problem = matrix_problem(adata.varm[names[t]], adata.obsm[str(manifest[Manifest.OBSM_KEYS][0])].shape[1])
    if problem:
        msg = f"adata.varm[{names[t]!r}] holds gene scores {problem}; rerun pnmf.tl.gene_scores(adata, key={key!r})."
        raise PnmfValueError(msg)
    return _factor_frame(adata.varm[names[t]], adata.var_names)


def _per_scale_frame(adata: AnnData, scale: int | str, key: str, attr: Literal["obsm", "varm"]) -> pd.DataFrame:
    """One scale's embedding (``obsm``) or loadings (``varm``) as a copy, labelled by cells or genes and factors."""
    manifest = read_manifest(adata, key, loadings=attr == "varm")
    t = scale_index(manifest, scale)
    name = str(manifest[Manifest.OBSM_KEYS if attr == "obsm" else Manifest.VARM_KEYS][t])
    return _factor_frame(getattr(adata, attr)[name], adata.obs_names if attr == "obsm" else adata.var_names)


def _factor_frame(values: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """Return a copy of a cells or genes × factors array as a table (editing it leaves adata alone)."""
    values = np.array(values, copy=True)
    return pd.DataFrame(values, index=index, columns=[f"factor_{j}" for j in range(values.shape[1])])


def scale_of(adata: AnnData, scale: int | str, *, key: str = DEFAULT_KEY) -> int:
    """Return the index of a scale given as an index (negative counts from the coarsest) or ``'recommended'``."""
    return scale_index(read_manifest(adata, key), scale)


def scales_of(adata: AnnData, which: object, *, key: str = DEFAULT_KEY) -> list[int]:
    """Return the indices of a selection of scales (indices, negative from the coarsest, or ``'recommended'``)."""
    return scale_selection(read_manifest(adata, key), which)


def consensus_scores(adata: AnnData, manifest: Mapping[str, Any], key: str, missing: str = "") -> ConsensusScores:
    """Return the ``tl.consensus`` scores of a result, checked to hold one row per scale and one column per factor."""
    scores = read_section(manifest, ConsensusScores, missing=missing)
    n_scales, k = len(manifest[Manifest.OBSM_KEYS]), adata.obsm[str(manifest[Manifest.OBSM_KEYS][0])].shape[1]
    if {scores.stability.shape, scores.reproducibility.shape, scores.n_kept.shape} != {(n_scales, k)}:
        msg = f"The manifest's section 'consensus' of the pnmf result {key!r} does not hold scales × factors ({n_scales} × {k}) scores; it was edited. Rerun pnmf.tl.consensus."
        raise PnmfValueError(msg)
    return scores


def laid_out_scales(adata: AnnData, *, key: str = DEFAULT_KEY) -> list[int]:
    """Return the scales that ``tl.umap`` laid out, in the order it laid them out."""
    return list(umap_section(adata, key).scales)


def umaps(adata: AnnData, scales: Sequence[int], *, key: str = DEFAULT_KEY) -> list[np.ndarray]:
    """Return the 2-D UMAP coordinates of ``tl.umap`` at each of ``scales``, checked to exist."""
    return read_umaps(adata, scales, key)


@doc_params
def persistence_bars(adata: AnnData, *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the H0 barcode of the cells.

    Parameters
    ----------
    {adata}
    {key}

    Returns
    -------
    One row per bar: ``birth`` (always 0) and ``death`` (inf for the bars that never die).
    """
    manifest = read_manifest(adata, key)
    projected = Manifest.PROJECTION in manifest
    missing = f"The pnmf result {key!r} holds no persistence barcode" + (
        ": it was projected onto a reference (tl.project), and the barcode is that of the reference's cells; read it there."
        if projected
        else f"; rerun pnmf.tl.pnmf(adata, key_added={key!r})."
    )
    bars = read_section(manifest, Bars, missing=missing)
    deaths = np.append(bars.deaths, np.full(bars.n_essential, np.inf))
    return pd.DataFrame({"birth": np.zeros_like(deaths), "death": deaths})


@doc_params
def history(adata: AnnData, *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the objective after every iteration of the solver.

    Parameters
    ----------
    {adata}
    {key}

    Returns
    -------
    Columns ``phase`` (``'path'``: one scale fitted at a time, fine to coarse, the
    objective of that scale; ``'sweep'``: coupled sweeps over all scales, the total
    objective), ``scale`` (-1 for sweeps), ``iteration`` and ``objective``.
    """
    manifest = read_manifest(adata, key)
    return read_section(manifest, History).to_frame()


@doc_params
def scale_scores(adata: AnnData, labels_key: str, *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the agreement of every scale (and of the baselines) with known labels, from ``tl.score_scales``.

    Parameters
    ----------
    adata
        AnnData with ``tl.pnmf`` and ``tl.score_scales`` results.
    labels_key
        The labels that were scored.
    {key}

    Returns
    -------
    One row per scale and per baseline: ``method`` (``'pnmf'``, ``'nmf'``, ``'gnmf'``,
    ``'pca'``), ``scale`` (-1 for baselines), ``n_connected``, ``ari_mean``, ``ari_std``,
    ``nmi_mean``, ``nmi_std``, ``leiden_ari`` and ``recommended``.
    """
    manifest = read_manifest(adata, key)
    missing = f"No scores against {labels_key!r} in the pnmf result {key!r}; run pnmf.tl.score_scales(adata, {labels_key!r}, key={key!r}) first."
    return read_section(manifest, Scores, labels_key, missing=missing).table
