"""``pnmf.get.network``: gene programs as the long source–target–weight table that decoupler's methods take."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest, scale_index
from .._validation import check_choice, check_int
from ._scales import gene_scores, loadings

__all__ = ["network", "program_name"]


def program_name(scale: int, factor: int) -> str:
    """Return the name of factor ``factor`` at scale ``scale`` in a network: ``'scale_{scale}_factor_{factor}'``."""
    return f"scale_{scale}_factor_{factor}"


@doc_params
def network(
    adata: AnnData,
    scale: int | str = "recommended",
    n_genes: int = 50,
    *,
    by: Literal["loadings", "gene_scores"] = "loadings",
    key: str = DEFAULT_KEY,
) -> pd.DataFrame:
    """Return the gene programs of one scale (or all) as a network: one row per program and top gene.

    The table has the columns decoupler's methods take as ``net`` (``dc.mt.ulm(query, net)``,
    ``dc.mt.aucell``, …), so pnmf's programs score any dataset with the same genes; write it
    as gene sets with :func:`pnmf.io.write_gmt`.

    Parameters
    ----------
    {adata}
    scale
        Scale index (0 finest; negative counts from the coarsest), ``'recommended'``, or
        ``'all'`` for the programs of every scale.
    n_genes
        Genes per program: those with the largest weights (genes of weight 0 are left out).
    by
        ``'loadings'``: the fitted loadings (genes of ``mask_var`` only).
        ``'gene_scores'``: the scores of every gene from :func:`pnmf.tl.gene_scores`.
    {key}

    Returns
    -------
    Columns ``source`` (the program, ``'scale_{t}_factor_{j}'``), ``target`` (the gene),
    ``weight`` (its loading or score), ``scale``, ``factor`` and ``rank`` (0 = largest),
    sorted by scale, factor and rank.
    """
    n_genes = check_int("n_genes", n_genes, minimum=1)
    by = check_choice("by", by, ("loadings", "gene_scores"))
    manifest = read_manifest(adata, key)
    if isinstance(scale, str) and scale == "all":
        chosen = list(range(len(manifest[Manifest.OBSM_KEYS])))
    else:
        chosen = [scale_index(manifest, scale)]
    read = loadings if by == "loadings" else gene_scores
    return pd.concat([_programs(read(adata, t, key=key), t, n_genes) for t in chosen], ignore_index=True)


def _programs(table: pd.DataFrame, scale: int, n_genes: int) -> pd.DataFrame:
    """Return the top ``n_genes`` genes of every column of a genes × factors table, as network rows."""
    values = table.to_numpy()
    order = np.argsort(-values, axis=0, kind="stable")[: min(n_genes, len(table))]
    rows = [
        (program_name(scale, j), table.index[g], float(values[g, j]), scale, j, rank)
        for j in range(values.shape[1])
        for rank, g in enumerate(order[:, j])
        if values[g, j] > 0
    ]
    return pd.DataFrame(rows, columns=["source", "target", "weight", "scale", "factor", "rank"])
