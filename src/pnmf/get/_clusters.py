"""The cluster tree across scales, with clustree's definitions of nodes and edges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._errors import PnmfKeyError
from .._keys import DEFAULT_KEY, Manifest
from .._manifest import read_manifest

__all__ = ["cluster_tree", "cluster_tree_tables", "clustering"]


def clustering(adata: AnnData, *, key: str = DEFAULT_KEY, cluster_key: str = "leiden") -> Mapping:
    """Return the summary of a ``tl.leiden`` clustering, checked to exist."""
    manifest = read_manifest(adata, key)
    clusterings = manifest.get(Manifest.CLUSTERS, {})
    if cluster_key not in clusterings:
        msg = f"No clustering {cluster_key!r} of the pnmf result {key!r}; run pnmf.tl.leiden(adata, key={key!r}, key_added={cluster_key!r}) first."
        raise PnmfKeyError(msg)
    summary = clusterings[cluster_key]
    missing = [str(k) for k in summary["obs_keys"] if k not in adata.obs]
    if missing:
        msg = f"Cluster columns {missing} are missing from adata.obs; rerun pnmf.tl.leiden."
        raise PnmfKeyError(msg)
    return summary


@doc_params
def cluster_tree(
    adata: AnnData, *, key: str = DEFAULT_KEY, cluster_key: str = "leiden"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the nodes and edges of the cluster tree across scales.

    Parameters
    ----------
    adata
        AnnData with ``tl.pnmf`` and ``tl.leiden`` results.
    {key}
    cluster_key
        ``key_added`` of the ``tl.leiden`` clustering.

    Returns
    -------
    ``nodes``: one row per cluster per scale, columns ``node`` (``'{scale}:{cluster}'``),
    ``scale``, ``cluster``, ``n_cells``. ``edges``: one row per pair of clusters at
    consecutive scales that share cells, from the coarser ``parent`` (scale t+1) to the finer
    ``child`` (scale t), columns ``parent``, ``child``, ``parent_scale``, ``child_scale``,
    ``n_cells`` (shared cells) and ``in_prop`` (the share of the child's cells that come from
    that parent, clustree's ``in_prop``).

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.leiden(adata, resolution=0.5)
    >>> nodes, edges = pnmf.get.cluster_tree(adata)
    >>> int(nodes.groupby("scale")["n_cells"].sum().iloc[0])
    80
    """
    summary = clustering(adata, key=key, cluster_key=cluster_key)
    return cluster_tree_tables([adata.obs[str(k)] for k in summary["obs_keys"]])


def cluster_tree_tables(labels: Sequence[pd.Series | np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the nodes and edges of the tree linking clusterings of the same cells, scale 0 finest."""
    labels = [pd.Series(np.asarray(column).astype(str)) for column in labels]
    nodes = []
    for scale, series in enumerate(labels):
        counts = series.value_counts(sort=False)
        for cluster in _natural_order(counts.index):
            nodes.append(
                {"node": f"{scale}:{cluster}", "scale": scale, "cluster": cluster, "n_cells": int(counts[cluster])}
            )
    edges = []
    for child_scale in range(len(labels) - 1):
        child, parent = labels[child_scale], labels[child_scale + 1]
        shared = pd.crosstab(parent, child)
        child_sizes = child.value_counts()
        for parent_cluster in shared.index:
            for child_cluster in shared.columns:
                n = int(shared.loc[parent_cluster, child_cluster])
                if n:
                    edges.append(
                        {
                            "parent": f"{child_scale + 1}:{parent_cluster}",
                            "child": f"{child_scale}:{child_cluster}",
                            "parent_scale": child_scale + 1,
                            "child_scale": child_scale,
                            "n_cells": n,
                            "in_prop": n / int(child_sizes[child_cluster]),
                        }
                    )
    node_columns = ["node", "scale", "cluster", "n_cells"]
    edge_columns = ["parent", "child", "parent_scale", "child_scale", "n_cells", "in_prop"]
    return pd.DataFrame(nodes, columns=node_columns), pd.DataFrame(edges, columns=edge_columns)


def _natural_order(values) -> list[str]:
    """Cluster names in numeric order when they are numbers ('2' before '10')."""
    values = [str(v) for v in values]
    return sorted(values, key=lambda v: (0, int(v), v) if v.isdigit() else (1, 0, v))
