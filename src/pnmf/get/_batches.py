"""How the batches of a ``batch_key`` fit use the shared programs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._errors import PnmfKeyError
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest, scale_index

__all__ = ["batch_usage"]


@doc_params
def batch_usage(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return each batch's mean usage of every factor at one scale, before and after the integration.

    With ``batch_key`` the loadings are shared by all batches, and each cell's usage is
    averaged with that of similar cells of every batch. A factor that one batch uses more
    than the matching cells of the other batches (a condition's response, a protocol's
    artefact) shows as a positive ``shift`` in that batch; differences in cell-type
    composition between batches do not, as they are in ``usage`` and ``integrated`` alike.

    Parameters
    ----------
    {adata}
    {scale}
    {key}

    Returns
    -------
    One row per batch and factor: ``batch`` (categorical, in the order of the batch
    column's categories), ``factor``, ``n_cells``, ``usage`` (the mean of the factor over
    the batch's cells as fitted), ``integrated`` (the same mean after the averaging, as
    written to ``obsm``) and ``shift``: ``usage − integrated``, divided by the factor's
    mean over all cells, so that 0.5 reads "half the factor's mean usage more than matching
    cells of all batches".

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(600, 200, n_batches=2)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3, batch_key="batch")
    >>> pnmf.get.batch_usage(adata).shape
    (8, 6)
    """
    manifest = read_manifest(adata, key)
    batches = manifest.get(Manifest.BATCHES)
    if batches is None:
        msg = f"The pnmf result {key!r} was fitted without batch_key; run pnmf.tl.pnmf(adata, batch_key=...) to integrate batches."
        raise PnmfKeyError(msg)
    if "usage" not in batches:
        msg = f"The pnmf result {key!r} was written by an earlier pnmf without the batches' usage; fit it again to read it."
        raise PnmfKeyError(msg)
    t = scale_index(manifest, scale)
    usage = np.asarray(batches["usage"])[t]
    integrated = np.asarray(batches["integrated_usage"])[t]
    n_cells = np.asarray(batches["n_cells"])
    names = np.asarray(batches["names"]).astype(str)
    factor_means = n_cells @ integrated / n_cells.sum()
    shift = (usage - integrated) / np.where(factor_means > 0, factor_means, 1.0)
    n_batches, n_factors = usage.shape
    return pd.DataFrame(
        {
            "batch": pd.Categorical(np.repeat(names, n_factors), categories=names),
            "factor": np.tile(np.arange(n_factors), n_batches),
            "n_cells": np.repeat(n_cells, n_factors),
            "usage": usage.ravel(),
            "integrated": integrated.ravel(),
            "shift": shift.ravel(),
        }
    )
