"""Per-scale results as tables and arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._errors import PnmfKeyError
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest, scale_index

__all__ = ["embedding", "history", "loadings", "persistence_bars", "scale_scores", "scales"]


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
    ``n_iter``, ``converged``, ``objective`` (the scale's last objective along the path),
    ``recommended``, ``obsm_key`` and ``varm_key``.

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
    convergence = manifest[Manifest.CONVERGENCE]
    table = pd.DataFrame(
        {
            "threshold": np.asarray(manifest[Manifest.THRESHOLDS], dtype=np.float64),
            "n_connected": np.asarray(manifest[Manifest.N_CONNECTED], dtype=np.int64),
            "n_edges": np.asarray(manifest[Manifest.N_EDGES], dtype=np.int64),
            "n_iter": np.asarray(convergence["n_iter"], dtype=np.int64),
            "converged": np.asarray(convergence["converged"], dtype=bool),
            "objective": last.to_numpy(),
            "recommended": np.arange(n_scales) == int(manifest[Manifest.RECOMMENDED]),
            "obsm_key": [str(k) for k in manifest[Manifest.OBSM_KEYS]],
            "varm_key": [str(k) for k in manifest[Manifest.VARM_KEYS]],
        },
        index=pd.RangeIndex(n_scales, name="scale"),
    )
    return table


@doc_params
def embedding(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the cells × factors embedding of one scale as a DataFrame indexed by ``obs_names``.

    Parameters
    ----------
    {adata}
    scale
        Scale index (0 finest; negative counts from the coarsest) or ``'recommended'``.
    {key}

    Returns
    -------
    Columns ``factor_0`` … ``factor_{k-1}``.
    """
    manifest = read_manifest(adata, key)
    t = scale_index(manifest, scale)
    values = np.array(adata.obsm[str(manifest[Manifest.OBSM_KEYS][t])], copy=True)  # editing it leaves adata alone
    return pd.DataFrame(values, index=adata.obs_names, columns=[f"factor_{j}" for j in range(values.shape[1])])


@doc_params
def loadings(adata: AnnData, scale: int | str = "recommended", *, key: str = DEFAULT_KEY) -> pd.DataFrame:
    """Return the genes × factors loadings of one scale as a DataFrame indexed by ``var_names``.

    Parameters
    ----------
    {adata}
    scale
        Scale index (0 finest; negative counts from the coarsest) or ``'recommended'``.
    {key}

    Returns
    -------
    Columns ``factor_0`` … ``factor_{k-1}``; unit-norm columns, zero for genes not used.
    """
    manifest = read_manifest(adata, key)
    t = scale_index(manifest, scale)
    varm_key = str(manifest[Manifest.VARM_KEYS][t])
    if varm_key not in adata.varm:
        msg = f"adata.varm has no {varm_key!r} (it was dropped, e.g. by subsetting genes); rerun pnmf.tl.pnmf."
        raise PnmfKeyError(msg)
    values = np.array(adata.varm[varm_key], copy=True)  # editing it leaves adata alone
    return pd.DataFrame(values, index=adata.var_names, columns=[f"factor_{j}" for j in range(values.shape[1])])


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
    bars = manifest[Manifest.PERSISTENCE]
    deaths = np.append(np.asarray(bars["deaths"], dtype=np.float64), np.full(int(bars["n_essential"]), np.inf))
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
    Columns ``phase`` (``'path'``: one scale fitted at a time, coarse to fine, the
    objective of that scale; ``'sweep'``: coupled sweeps over all scales, the total
    objective), ``scale`` (-1 for sweeps), ``iteration`` and ``objective``.
    """
    manifest = read_manifest(adata, key)
    table = pd.DataFrame({k: np.asarray(v) for k, v in manifest[Manifest.HISTORY].items()})
    table["phase"] = table["phase"].astype(str)
    return table[["phase", "scale", "iteration", "objective"]]


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
    scores = manifest.get(Manifest.SCORES, {})
    if labels_key not in scores:
        msg = f"No scores against {labels_key!r} in the pnmf result {key!r}; run pnmf.tl.score_scales(adata, {labels_key!r}, key={key!r}) first."
        raise PnmfKeyError(msg)
    table = pd.DataFrame({column: np.asarray(values) for column, values in scores[labels_key].items()})
    table["method"] = table["method"].astype(str)
    table["recommended"] = table["recommended"].astype(bool)
    return table
