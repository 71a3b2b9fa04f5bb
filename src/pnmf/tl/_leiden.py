"""``pnmf.tl.leiden``: cluster the cells at every scale and follow the clusters across scales."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal, cast

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg
from scipy import sparse
from sklearn.metrics import adjusted_rand_score
from tqdm import tqdm

from .._core.hierarchy import SEPARATION, by_size, merge_across_scales, nesting
from .._core.neighbors import CANDIDATE_FACTOR, Candidates, ScaleNeighbors
from .._docs import doc_params
from .._keys import DEFAULT_CLUSTER_KEY, DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, read_manifest, read_populations, stale_entries, write_results
from .._palette import categorical_colors
from .._sections import Clustering, with_section
from .._validation import (
    check_anndata,
    check_backed_copy,
    check_bool,
    check_choice,
    check_int,
    check_key_added,
    check_real,
    check_seed,
)
from ._igraph_leiden import leiden_communities
from ._inputs import neighbor_distances
from ._progress import show_progress

__all__ = ["leiden"]


@doc_params
def leiden(
    adata: AnnData,
    resolution: float = 1.0,
    *,
    key: str = DEFAULT_KEY,
    method: Literal["nested", "independent"] = "nested",
    separation: float = SEPARATION,
    reassign: bool = True,
    n_neighbors: int = 15,
    n_iterations: int = 2,
    random_state: int | np.random.RandomState | None = 0,
    key_added: str = DEFAULT_CLUSTER_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Cluster every scale's embedding and follow the clusters from fine to coarse.

    Every scale's kNN graph comes from one neighbour search: :func:`scanpy.pp.neighbors` on
    the finest scale's embedding finds 3 × ``n_neighbors`` candidates per cell, and scale t's
    graph keeps the ``n_neighbors`` candidates nearest in scale t's embedding, weighted as
    :func:`scanpy.pp.neighbors` weighs them (UMAP's connectivities). A graph is built when a
    scale needs it and not kept, so one is held at a time.

    ``method='nested'`` (default): the finest scale's embedding is clustered with Leiden
    (the communities :func:`scanpy.tl.leiden` finds on its graph with the igraph flavour,
    undirected, cell for cell; the graph reaches igraph as arrays, which takes less memory
    than scanpy's Python tuples). At every scale,
    fine to coarse, the clusters of the previous scale are merged, closest pair first, while
    they are not separated in *that scale's* embedding: two clusters stay apart while their
    centroids lie more than ``separation`` pooled standard deviations apart along the line
    joining them (2 is the bound at which two equal Gaussian populations form two modes), a
    bar that grows with the scale as ``(ε_t / ε_0) ** 1.5`` (a coarser view keeps apart only
    populations that are better separated; the exponent was chosen on the evaluation panel).
    Merged groups are judged by average linkage of their finest clusters. Before those
    merges, the clusters that one persistent population of the scale holds most of
    (``adata.obsm['{key}_populations']``, the components the fit pools) are joined: the
    tree falls where persistence joins populations. The merges form a tree and the number
    of clusters never rises from fine to coarse; ``resolution`` sets only the finest level.
    With ``reassign=True`` (default), every cell then starts at each coarser scale in the
    cluster its previous cluster merged into and moves, once, to the cluster that holds most
    of its neighbours in *that scale's* kNN graph, so cells that the finest clustering put
    on the wrong side of a boundary move where a coarser scale separates the populations
    better; a cell that moved is placed at every finer scale into the child of its new
    cluster that holds most of its neighbours there (the nearest centroid among the
    children where none does). The levels nest exactly and never gain a cluster; the finest
    level is Leiden's up to the moved cells.

    ``method='independent'``: Leiden on every scale's embedding separately (the same
    resolution everywhere). Leiden's kNN graph is rank-based and does not see the
    contraction of coarse embeddings, so these clusterings need not nest or coarsen.

    The kNN graphs are not stored: only the labels, their colours and a summary in the
    manifest.

    Parameters
    ----------
    {adata}
    resolution
        Leiden resolution: of the finest scale with ``method='nested'``, of every scale with
        ``'independent'`` (higher gives more clusters).
    {key}
    method
        ``'nested'`` merges fine clusters as each scale's embedding contracts;
        ``'independent'`` clusters every scale on its own.
    separation
        With ``method='nested'``: pooled standard deviations between two clusters' centroids
        below which they merge at the finest scale (scaled by ``(ε_t / ε_0) ** 1.5`` at scale t).
    reassign
        With ``method='nested'``: let cells move to the cluster of most of their neighbours
        at every coarser scale (``False``: the merge tree alone, the finest level exactly
        Leiden's).
    n_neighbors
        Neighbours of the kNN graph built on each embedding.
    n_iterations
        Leiden iterations (scanpy's igraph default is 2).
    random_state
        Seed of the kNN graph and of Leiden.
    key_added
        Name of this clustering: labels go to ``adata.obs['{key}_{key_added}_{t}']``.
    copy
        Return a new AnnData instead of writing into ``adata`` (refused for a backed AnnData,
        which takes the results as it is).

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets:

    ``adata.obs['{key}_{key_added}_{t}']``
        Categorical cluster labels at scale t (clusters numbered by size, ``'0'`` largest).
        With ``method='nested'``, clusters at different scales that share a number need
        not be related; follow them with :func:`pnmf.get.cluster_tree`.
    ``adata.uns['{key}_{key_added}_{t}_colors']``
        Colours of those labels.
    ``adata.uns[key]['clusters'][key_added]``
        ``obs_keys``, ``n_clusters`` per scale, ``ari_consecutive`` (adjusted Rand index
        between scales t and t+1), ``nesting`` (the share of the cells of scale t that lie
        in the coarser cluster holding most of their finer cluster, per pair of scales; 1
        when the levels nest) and ``params``.

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
    check_anndata(adata)  # only obsm and uns are read: a backed AnnData serves as it is
    key_added = check_key_added(key_added)
    resolution = check_real("resolution", resolution, strict=True)
    method = check_choice("method", method, ("nested", "independent"))
    separation = check_real("separation", separation)
    reassign = check_bool("reassign", reassign)
    n_neighbors = check_int("n_neighbors", n_neighbors, minimum=2, maximum=max(adata.n_obs - 1, 2))
    n_iterations = check_int("n_iterations", n_iterations, minimum=-1)
    random_state = check_seed("random_state", random_state)
    copy = check_bool("copy", copy)
    check_backed_copy(adata, copy)
    manifest = read_manifest(adata, key)
    keys = Keys(key)
    # checked before the neighbour search and Leiden, so that a damaged array fails fast
    populations = (
        read_populations(adata, manifest, key, len(manifest[Manifest.OBSM_KEYS])) if method == "nested" else None
    )

    # as stored: every step reads a scale in float64 when it needs it (a copy of all eight would be 1.3 GB per million cells)
    embeddings = [np.asarray(adata.obsm[str(obsm_key)]) for obsm_key in manifest[Manifest.OBSM_KEYS]]
    # one neighbour search, on the finest scale; every scale's graph keeps its nearest candidates
    # each stage logs one line when it ends, with its time
    n_candidates = min(CANDIDATE_FACTOR * n_neighbors, adata.n_obs)
    candidates = Candidates(neighbor_distances(np.asarray(embeddings[0], dtype=np.float64), n_candidates, random_state))
    stage = logg.info(
        f"    {n_candidates} candidate neighbours per cell, from one search on the finest scale", time=start
    )
    graphs = ScaleNeighbors(candidates, embeddings, n_neighbors)
    if method == "nested":
        finest = _leiden_of(graphs[0], resolution, n_iterations, random_state)
        stage = logg.info("    Leiden on the finest scale", time=stage)
        thresholds = cast(Sequence[float], np.asarray(manifest[Manifest.THRESHOLDS]))
        # each coarser scale votes in its own kNN graph; the finest one's places moved cells
        levels = merge_across_scales(
            embeddings,
            finest,
            thresholds,
            separation,
            graphs if reassign else None,
            populations=populations,
            progress=show_progress(),
        )
        logg.info("    merged across scales" + (", each scale's graph voting" if reassign else ""), time=stage)
    else:
        scales = tqdm(range(len(embeddings)), desc="Leiden", unit="scale", disable=not show_progress(), leave=False)
        levels = [_leiden_of(graphs[t], resolution, n_iterations, random_state) for t in scales]
        logg.info("    Leiden on every scale", time=stage)
    labels = [_categorical(level) for level in levels]
    obs_keys = [keys.clusters(t, key_added) for t in range(len(labels))]
    ari = np.array([adjusted_rand_score(a, b) for a, b in pairwise(levels)])
    summary = Clustering(
        obs_keys=tuple(obs_keys),
        n_clusters=np.array([len(c.categories) for c in labels], dtype=np.int64),
        ari_consecutive=ari,
        nesting=np.array([nesting(fine, coarse) for fine, coarse in pairwise(levels)]),
        params={
            "method": method,
            "resolution": resolution,
            "separation": separation,
            "reassign": reassign,
            "n_neighbors": n_neighbors,
            "n_iterations": n_iterations,
            **({"random_state": random_state} if random_state is not None else {}),
        },
    )
    if copy:
        adata = adata.copy()
    colors = {Keys.colors(k): categorical_colors(len(c.categories)) for k, c in zip(obs_keys, labels, strict=True)}
    manifest = with_section(adata.uns[key], key, summary, key_added)
    results = Results(obs=dict(zip(obs_keys, labels, strict=True)), uns={**manifest, **colors})
    write_results(adata, results, stale_entries(adata, key, clustering=key_added))
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    {len(obs_keys)} cluster columns '{key}_{key_added}_*' (adata.obs), "
        f"clusters per scale {summary.n_clusters.tolist()}",
    )
    return adata if copy else None


def _leiden_of(graph: sparse.csr_matrix, resolution: float, n_iterations: int, random_state: int | None) -> np.ndarray:
    """Leiden labels on one kNN graph as integers numbered by cluster size."""
    return by_size(leiden_communities(graph, resolution, n_iterations, random_state))


def _categorical(labels: np.ndarray) -> pd.Categorical:
    """Integer labels as a categorical with categories '0', '1', … in numeric order."""
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    return pd.Categorical(labels.astype(str), categories=[str(c) for c in range(n_clusters)])
