"""Tidy tables of ``tl.select_k`` and ``tl.consensus`` results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._errors import PnmfKeyError
from .._keys import DEFAULT_CONSENSUS_KEY, DEFAULT_K_KEY, KSelection
from .._manifest import read_manifest, scale_index
from .._sections import MIN_STABILITY, ConsensusScores
from .._validation import check_choice, check_int, check_real
from ._factors import top_genes
from ._scales import consensus_scores

__all__ = ["k_selection", "programs", "reproducibility"]

_COLUMNS = {"k": KSelection.BY_K, "scale": KSelection.BY_SCALE, "factor": KSelection.BY_FACTOR}


def _k_manifest(adata: AnnData, key: str) -> Mapping[str, Any]:
    manifest = adata.uns.get(key)
    if not isinstance(manifest, Mapping) or "by_k" not in manifest:
        msg = (
            f"No select_k result under key {key!r} in adata.uns; run pnmf.tl.select_k(adata, key_added={key!r}) first."
        )
        raise PnmfKeyError(msg)
    return manifest


def k_selection(adata: AnnData, by: Literal["k", "scale", "factor"] = "k", *, key: str = DEFAULT_K_KEY) -> pd.DataFrame:
    """Return the stability and error of every number of factors tried by ``tl.select_k``.

    Parameters
    ----------
    adata
        AnnData with a ``tl.select_k`` result.
    by
        ``'k'``: one row per k (means over scales); ``'scale'``: one row per k and
        scale; ``'factor'``: one row per k, scale and factor.
    key
        ``key_added`` of the ``tl.select_k`` result.

    Returns
    -------
    With ``by='k'``: columns ``n_comps``, ``stability``, ``min_stability`` (the least
    stable factor), ``reproducibility``, ``error``, ``error_std`` and ``suggested`` (True
    for the suggested k). With ``by='scale'``: ``n_comps``, ``scale``, ``n_connected``
    (components at the scale), ``stability``, ``min_stability``, ``reproducibility``,
    ``error``, ``error_std``. With ``by='factor'``: ``n_comps``,
    ``scale``, ``factor``, ``stability``, ``reproducibility``. See :func:`pnmf.tl.select_k`
    for their definitions.

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(600, 300, n_programs=4)
    >>> sc.pp.pca(adata)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.select_k(adata, [3, 4, 5], n_runs=3, n_scales=2)
    >>> pnmf.get.k_selection(adata, by="scale").shape
    (6, 8)
    """
    by = check_choice("by", by, ("k", "scale", "factor"))
    manifest = _k_manifest(adata, key)
    columns = _COLUMNS[by]
    stored = manifest[f"by_{by}"]
    table = pd.DataFrame({name: np.asarray(stored[name]) for name in columns})
    if by == "k":
        table["suggested"] = table["n_comps"] == int(manifest["suggested_k"])
    elif by == "scale":
        n_connected = np.asarray(manifest["n_connected"], dtype=np.int64)
        table.insert(2, "n_connected", n_connected[table["scale"].to_numpy()])
    return table


def _consensus(adata: AnnData, key: str) -> tuple[Mapping[str, Any], ConsensusScores]:
    """Return a consensus result's manifest and its scores, checked to exist."""
    manifest = read_manifest(adata, key)
    missing = f"The pnmf result {key!r} has no consensus; run pnmf.tl.consensus(adata) and pass its key_added."
    return manifest, consensus_scores(adata, manifest, key, missing)


@doc_params
def reproducibility(
    adata: AnnData, *, min_stability: float = MIN_STABILITY, key: str = DEFAULT_CONSENSUS_KEY
) -> pd.DataFrame:
    """Return how well every consensus program reproduces across the runs that made it.

    Parameters
    ----------
    {adata}
    min_stability
        Stability from which a program is flagged ``reproducible``. The default, 0.8,
        separates on planted programs the programs found at the true k (stability about
        0.85 to 1) from the arbitrary splits made with too many factors (0.5 to 0.8).
    key
        ``key_added`` of the ``tl.pnmf`` result that ``tl.consensus`` wrote.

    Returns
    -------
    One row per scale and factor: ``scale``, ``factor``, ``stability`` (silhouette of
    the factor's copies over runs), ``reproducibility`` (median cosine over pairs of
    runs), ``n_kept`` (copies combined into the consensus) and ``reproducible``.

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(600, 300, n_programs=4)
    >>> sc.pp.pca(adata)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.pnmf(adata, 4, n_scales=2)
    >>> pnmf.tl.consensus(adata, n_runs=4)
    >>> pnmf.get.reproducibility(adata).shape
    (8, 6)
    """
    min_stability = check_real("min_stability", min_stability, minimum=-1.0)
    _, scores = _consensus(adata, key)
    stability = scores.stability
    n_scales, k = stability.shape
    return pd.DataFrame(
        {
            "scale": np.repeat(np.arange(n_scales), k),
            "factor": np.tile(np.arange(k), n_scales),
            "stability": stability.ravel(),
            "reproducibility": scores.reproducibility.ravel(),
            "n_kept": scores.n_kept.ravel(),
            "reproducible": stability.ravel() >= min_stability,
        }
    )


@doc_params
def programs(
    adata: AnnData,
    scale: int | str = "recommended",
    n_genes: int = 10,
    *,
    min_stability: float = MIN_STABILITY,
    key: str = DEFAULT_CONSENSUS_KEY,
) -> pd.DataFrame:
    """Return the top genes of every consensus program with its reproducibility, flagging those that do not reproduce.

    :func:`pnmf.get.top_genes` of a consensus result, joined with
    :func:`pnmf.get.reproducibility` at that scale.

    Parameters
    ----------
    {adata}
    scale
        Scale index (0 finest; negative counts from the coarsest) or ``'recommended'``.
    n_genes
        Genes per factor.
    min_stability
        Stability from which a program is flagged ``reproducible`` (see
        :func:`pnmf.get.reproducibility`).
    key
        ``key_added`` of the ``tl.pnmf`` result that ``tl.consensus`` wrote.

    Returns
    -------
    Columns ``factor``, ``rank``, ``gene``, ``loading``, ``stability`` (as
    :func:`pnmf.get.top_genes`), ``reproducibility`` and ``reproducible``.
    """
    n_genes = check_int("n_genes", n_genes, minimum=1)
    t = scale_index(_consensus(adata, key)[0], scale)
    scores = reproducibility(adata, min_stability=min_stability, key=key)
    scores = scores[scores["scale"] == t].drop(columns=["scale", "n_kept", "stability"])
    return top_genes(adata, t, n_genes, key=key).merge(scores, on="factor", how="left")
