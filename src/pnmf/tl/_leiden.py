"""``pnmf.tl.leiden``: cluster the cells at every scale and follow the clusters across scales."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scanpy import logging as logg
from sklearn.metrics import adjusted_rand_score

from .._docs import doc_params
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, read_manifest, stale_entries, write_results
from .._validation import check_in_memory, check_int, check_key_added, check_real
from ..pl._palette import categorical_colors

__all__ = ["leiden"]


@doc_params
def leiden(
    adata: AnnData,
    resolution: float = 1.0,
    *,
    key: str = DEFAULT_KEY,
    n_neighbors: int = 15,
    n_iterations: int = 2,
    random_state: int = 0,
    key_added: str = "leiden",
    copy: bool = False,
) -> AnnData | None:
    """Cluster every scale's embedding with Leiden and measure how clusterings change across scales.

    For each scale, a kNN graph is built on its embedding with :func:`scanpy.pp.neighbors`
    and clustered with :func:`scanpy.tl.leiden` (igraph flavour, undirected). The graphs
    are not stored: only the labels, their colours, and a summary in the manifest.

    Parameters
    ----------
    {adata}
    resolution
        Leiden resolution, the same at every scale (higher gives more clusters).
    {key}
    n_neighbors
        Neighbours of the kNN graph built on each embedding.
    n_iterations
        Leiden iterations (scanpy's igraph default is 2).
    random_state
        Seed of the kNN graph and of Leiden.
    key_added
        Name of this clustering: labels go to ``adata.obs['{key}_{key_added}_{t}']``.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets:

    ``adata.obs['{key}_{key_added}_{t}']``
        Categorical cluster labels at scale t (clusters numbered by size, ``'0'`` largest).
    ``adata.uns['{key}_{key_added}_{t}_colors']``
        Colours of those labels.
    ``adata.uns[key]['clusters'][key_added]``
        ``obs_keys``, ``n_clusters`` per scale, ``ari_consecutive`` (adjusted Rand index
        between scales t and t+1), and ``params``.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.leiden(adata, resolution=0.5)
    >>> adata.uns["pnmf"]["clusters"]["leiden"]["n_clusters"].shape
    (8,)
    """
    start = logg.info("clustering every pnmf scale with Leiden")
    check_in_memory(adata)
    key_added = check_key_added(key_added)
    resolution = check_real("resolution", resolution, strict=True)
    n_neighbors = check_int("n_neighbors", n_neighbors, minimum=2, maximum=max(adata.n_obs - 1, 2))
    n_iterations = check_int("n_iterations", n_iterations, minimum=-1)
    manifest = read_manifest(adata, key)
    keys = Keys(key)

    labels = [
        _leiden_of(np.asarray(adata.obsm[str(obsm_key)]), resolution, n_neighbors, n_iterations, random_state)
        for obsm_key in manifest[Manifest.OBSM_KEYS]
    ]
    obs_keys = [keys.clusters(t, key_added) for t in range(len(labels))]
    ari = np.array([adjusted_rand_score(a, b) for a, b in pairwise(labels)])
    summary = {
        "obs_keys": np.array(obs_keys, dtype=str),
        "n_clusters": np.array([len(c.categories) for c in labels], dtype=np.int64),
        "ari_consecutive": ari,
        "params": {
            "resolution": resolution,
            "n_neighbors": n_neighbors,
            "n_iterations": n_iterations,
            "random_state": int(random_state),
        },
    }
    if copy:
        adata = adata.copy()
    new_manifest = dict(adata.uns[key])
    clusterings = dict(new_manifest.get(Manifest.CLUSTERS, {}))
    clusterings[key_added] = summary
    new_manifest[Manifest.CLUSTERS] = clusterings
    colors = {f"{k}_colors": categorical_colors(len(c.categories)) for k, c in zip(obs_keys, labels, strict=True)}
    results = Results(obs=dict(zip(obs_keys, labels, strict=True)), uns={key: new_manifest, **colors})
    write_results(adata, results, stale_entries(adata, key, clustering=key_added))
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    {len(obs_keys)} cluster columns '{key}_{key_added}_*' (adata.obs), "
        f"clusters per scale {summary['n_clusters'].tolist()}",
    )
    return adata if copy else None


def _leiden_of(
    embedding: np.ndarray, resolution: float, n_neighbors: int, n_iterations: int, random_state: int
) -> pd.Categorical:
    """Leiden labels of one embedding, numbered by cluster size."""
    scratch = AnnData(obsm={"rep": embedding}, shape=(embedding.shape[0], 0))
    sc.pp.neighbors(scratch, n_neighbors=n_neighbors, use_rep="rep", random_state=random_state)
    sc.tl.leiden(
        scratch,
        resolution=resolution,
        flavor="igraph",
        n_iterations=n_iterations,
        directed=False,
        random_state=random_state,
    )
    return pd.Categorical(scratch.obs["leiden"].to_numpy())
