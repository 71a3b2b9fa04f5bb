"""The cluster tree across scales, with clustree's definitions of nodes and edges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._docs import doc_params
from .._keys import DEFAULT_CLUSTER_KEY, DEFAULT_KEY
from .._manifest import read_clustering
from .._palette import categorical_colors, stored_colors
from .._sections import Clustering

__all__ = ["cluster_colors", "cluster_tree", "cluster_tree_tables", "clustering", "node_values"]


def clustering(adata: AnnData, *, key: str = DEFAULT_KEY, cluster_key: str = DEFAULT_CLUSTER_KEY) -> Clustering:
    """Return a ``tl.leiden`` clustering of a result, checked to exist with all its columns."""
    return read_clustering(adata, key, cluster_key)


@doc_params
def cluster_tree(
    adata: AnnData, *, key: str = DEFAULT_KEY, cluster_key: str = DEFAULT_CLUSTER_KEY
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
    return cluster_tree_tables([adata.obs[k] for k in summary.obs_keys])


def cluster_tree_tables(labels: Sequence[pd.Series | np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the nodes and edges of the tree linking clusterings of the same cells, scale 0 finest."""
    columns = [pd.Series(np.asarray(column).astype(str)) for column in labels]
    nodes = []
    for scale, series in enumerate(columns):
        counts = series.value_counts(sort=False)
        for cluster in _natural_order(counts.index):
            nodes.append(
                {"node": f"{scale}:{cluster}", "scale": scale, "cluster": cluster, "n_cells": int(counts[cluster])}
            )
    edges = []
    for child_scale in range(len(columns) - 1):
        child, parent = columns[child_scale], columns[child_scale + 1]
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


def node_values(
    adata: AnnData,
    nodes: pd.DataFrame,
    values: pd.Series,
    *,
    key: str = DEFAULT_KEY,
    cluster_key: str = DEFAULT_CLUSTER_KEY,
) -> list:
    """Summarize per-cell ``values`` over the cells of every node (rows of :func:`cluster_tree`'s ``nodes``).

    Numeric values give the mean (NaN left out); other values the most frequent one.
    """
    summary = clustering(adata, key=key, cluster_key=cluster_key)
    labels = [adata.obs[obs_key].astype(str).to_numpy() for obs_key in summary.obs_keys]
    numeric = pd.api.types.is_numeric_dtype(values.dtype)
    cells = values.to_numpy()
    per_node = []
    for scale, cluster in zip(nodes["scale"], nodes["cluster"], strict=True):
        members = cells[labels[scale] == cluster]
        per_node.append(float(np.nanmean(members)) if numeric else pd.Series(members).value_counts().index[0])
    return per_node


def cluster_colors(
    adata: AnnData, nodes: pd.DataFrame, *, key: str = DEFAULT_KEY, cluster_key: str = DEFAULT_CLUSTER_KEY
) -> list[str]:
    """Return the stored colour of every node (rows of :func:`cluster_tree`'s ``nodes``); fresh ones where none are usable."""
    summary = clustering(adata, key=key, cluster_key=cluster_key)
    colors = []
    for scale, cluster in zip(nodes["scale"], nodes["cluster"], strict=True):
        obs_key = summary.obs_keys[scale]
        categories = [str(c) for c in pd.Categorical(adata.obs[obs_key]).categories]
        palette = stored_colors(adata.uns, obs_key, len(categories)) or list(categorical_colors(len(categories)))
        index = categories.index(cluster)
        colors.append(palette[index] if index < len(palette) else "0.7")
    return colors
