"""``pnmf.get.reference``: a fitted result without its cells' expression, to ship and project onto."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._keys import DEFAULT_KEY, Keys, Manifest
from ..tl._reference import read_reference

__all__ = ["reference"]


@doc_params
def reference(adata: AnnData, *, key: str = DEFAULT_KEY) -> AnnData:
    """Return what :func:`pnmf.tl.project` needs from a fitted result, without the cells' expression.

    The bundle is an AnnData with the reference cells and only the genes the result used
    (and those of its PCA), holding no ``X``: the per-scale embeddings, loadings, UMAPs and
    cluster labels under the result's own names, the representation the scales were
    measured in (e.g. ``obsm['X_pca']``), the PCA loadings ``varm['PCs']`` and the manifest,
    with the genes' means and the centre needed to place new cells in that PCA
    (``manifest['pca_basis']``). Write it with :meth:`anndata.AnnData.write_h5ad`; it is
    typically a few percent of the fitted AnnData's size, and projecting onto it gives the
    same result as projecting onto the fitted AnnData.

    Parameters
    ----------
    {adata}
    {key}

    Returns
    -------
    The bundle, a new AnnData (``adata`` is not changed).
    """
    ref = read_reference(adata, key)
    manifest: dict[str, Any] = dict(ref.manifest)
    genes = np.asarray(manifest[Manifest.GENES], dtype=bool)
    needed = genes.copy()
    if ref.pca is not None:
        needed |= adata.var_names.isin(pd.Index(ref.pca.genes))
        manifest[Manifest.PCA_BASIS] = ref.pca.to_uns()
    manifest[Manifest.GENES] = genes[needed]
    keys = Keys(key)
    obsm = {str(k): np.asarray(adata.obsm[str(k)]) for k in manifest[Manifest.OBSM_KEYS]}
    obsm[ref.use_rep] = ref.points
    obsm.update({keys.umap(t): coordinates for t, coordinates in enumerate(ref.umaps)})
    varm = {str(k): np.asarray(adata.varm[str(k)])[needed] for k in manifest[Manifest.VARM_KEYS]}
    if ref.pca is not None and ref.pca_components is not None:
        components = np.zeros((int(needed.sum()), ref.pca_components.shape[1]))
        rows = pd.Index(adata.var_names[needed]).get_indexer(pd.Index(ref.pca.genes))
        components[rows] = ref.pca_components
        varm["PCs"] = components
    columns = [name for clustering in ref.clusterings.values() for name in clustering.obs_keys]
    colors = {Keys.colors(name): adata.uns[Keys.colors(name)] for name in columns if Keys.colors(name) in adata.uns}
    return AnnData(
        obs=adata.obs[columns].copy() if columns else pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame(index=adata.var_names[needed].copy()),
        obsm=obsm,
        varm=varm,
        uns={key: manifest, **colors},
    )
