"""Gene programs: top genes per factor and how each factor persists across scales."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest, scale_index
from .._sections import Alignment, read_section
from .._validation import check_choice, check_int
from ._scales import consensus_scores, gene_scores, loadings

__all__ = ["factor_similarity", "top_genes"]


@doc_params
def top_genes(
    adata: AnnData,
    scale: int | str = "recommended",
    n_genes: int = 10,
    *,
    by: Literal["loadings", "gene_scores"] = "loadings",
    key: str = DEFAULT_KEY,
) -> pd.DataFrame:
    """Return the genes with the largest loadings of every factor at one scale.

    Parameters
    ----------
    {adata}
    {scale}
    n_genes
        Genes per factor.
    by
        ``'loadings'``: rank the fitted genes by their loadings. ``'gene_scores'``: rank
        every gene by its score from :func:`pnmf.tl.gene_scores`.
    {key}

    Returns
    -------
    Long table with columns ``factor`` (int), ``rank`` (0 = largest), ``gene`` and
    ``loading`` (``score`` with ``by='gene_scores'``), sorted by factor then rank. For a :func:`pnmf.tl.consensus` result also
    ``stability``: how well the factor's program reproduces across the runs behind it
    (see :func:`pnmf.get.reproducibility`; below 0.8, treat the program with caution).

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> pnmf.get.top_genes(adata, n_genes=2).shape
    (8, 4)
    """
    n_genes = check_int("n_genes", n_genes, minimum=1)
    by = check_choice("by", by, ("loadings", "gene_scores"))
    table = loadings(adata, scale, key=key) if by == "loadings" else gene_scores(adata, scale, key=key)
    column = "loading" if by == "loadings" else "score"
    n_genes = min(n_genes, len(table))
    values = table.to_numpy()
    order = np.argsort(-values, axis=0, kind="stable")[:n_genes]
    rows = [
        {"factor": j, "rank": rank, "gene": table.index[order[rank, j]], column: float(values[order[rank, j], j])}
        for j in range(values.shape[1])
        for rank in range(n_genes)
    ]
    frame = pd.DataFrame(rows, columns=["factor", "rank", "gene", column])
    manifest = read_manifest(adata, key)
    if Manifest.CONSENSUS in manifest:
        stability = consensus_scores(adata, manifest, key).stability
        frame["stability"] = stability[scale_index(manifest, scale)][frame["factor"].to_numpy()]
    return frame


@doc_params
def factor_similarity(adata: AnnData, *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return how similar each factor's loadings stay from one scale to the next coarser one.

    Parameters
    ----------
    {adata}
    {key}

    Returns
    -------
    Long table with columns ``factor``, ``scale`` (t, compared with t+1) and ``similarity``
    (cosine of the loadings, 1 = the same gene program).
    """
    manifest = read_manifest(adata, key)
    similarity = read_section(manifest, Alignment).similarity
    n_pairs, k = similarity.shape if similarity.size else (0, 0)
    return pd.DataFrame(
        {
            "factor": np.tile(np.arange(k), n_pairs),
            "scale": np.repeat(np.arange(n_pairs), k),
            "similarity": similarity.ravel(),
        }
    )
