"""``pnmf.tl.score_scales``: how well each scale's embedding agrees with known labels, beside baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from .._docs import doc_params
from .._errors import PnmfKeyError, PnmfValueError
from .._keys import DEFAULT_CLUSTER_KEY, DEFAULT_KEY, Manifest
from .._manifest import Results, fit_options, read_clustering, read_manifest, write_results
from .._sections import Bars, Clustering, Scores, read_section, section_entries, with_section
from .._validation import check_choice, check_in_memory, check_int, check_key_added, check_seed, seed_from
from ._pnmf import fit

__all__ = ["BASELINES", "kmeans_agreement", "score_scales"]

BASELINES = ("nmf", "gnmf", "pca")


@doc_params
def score_scales(
    adata: AnnData,
    labels_key: str,
    *,
    key: str = DEFAULT_KEY,
    n_seeds: int = 5,
    n_init: int = 10,
    baselines: Sequence[str] = BASELINES,
    cluster_key: str | None = DEFAULT_CLUSTER_KEY,
    random_state: int | np.random.RandomState | None = 0,
    copy: bool = False,
) -> AnnData | None:
    """Score every scale's embedding against known labels, and baselines fitted the same way.

    Each embedding is clustered by k-means with as many clusters as labels, once per seed
    (``n_seeds`` seeds, ``n_init`` restarts each), and compared with the labels by the adjusted Rand index (ARI)
    and normalized mutual information (NMI); the mean and standard deviation over seeds are
    kept. The baselines use the same expression, genes, normalization, ``n_comps``,
    initialization and solver as the ``tl.pnmf`` run, so only the model differs:

    * ``'nmf'``: one scale, no graph term (plain NMF);
    * ``'gnmf'``: one scale on the whole kNN graph (graph-regularized NMF), the same λ1;
    * ``'pca'``: the representation ``use_rep`` the run used.

    Parameters
    ----------
    {adata}
    labels_key
        Column of ``adata.obs`` with the known labels.
    {key}
    n_seeds
        k-means runs per embedding.
    n_init
        Restarts of each k-means run (the best of them is kept).
    baselines
        Which baselines to fit and score.
    cluster_key
        A ``tl.leiden`` clustering whose per-scale ARI is added when it exists.
    random_state
        First k-means seed (``None``: a fresh one; a :class:`numpy.random.RandomState`: its next draw).
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets
    ``adata.uns[key]['scores'][labels_key]``, a table (read it with
    :func:`pnmf.get.scale_scores`) with one row per scale and per baseline: ``method``,
    ``scale`` (-1 for baselines), ``n_connected``, ``ari_mean``, ``ari_std``, ``nmi_mean``,
    ``nmi_std``, ``leiden_ari`` (NaN without a clustering) and ``recommended``.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.score_scales(adata, "circle", baselines=["nmf"])
    >>> pnmf.get.scale_scores(adata, "circle").columns[:3].tolist()
    ['method', 'scale', 'n_connected']
    """
    start = logg.info(f"scoring every pnmf scale against {labels_key!r}")
    check_in_memory(adata)
    manifest = read_manifest(adata, key, genes=bool(baselines), params=True)
    if Manifest.N_CONNECTED not in manifest:
        msg = (
            f"The pnmf result {key!r} was projected onto a reference (tl.project): its cells have no graphs of their "
            "own to score against baselines. Score the reference's result, or compare pnmf.get.embedding(adata, t) "
            "with the labels yourself."
        )
        raise PnmfValueError(msg)
    seed = check_seed("random_state", random_state)
    first_seed = seed if seed is not None else seed_from(np.random.RandomState())
    if labels_key not in adata.obs.columns:
        msg = f"labels_key={labels_key!r} is not a column of adata.obs; pass the column holding the known labels."
        raise PnmfKeyError(msg)
    check_key_added(labels_key)
    n_seeds = check_int("n_seeds", n_seeds, minimum=1)
    n_init = check_int("n_init", n_init, minimum=1)
    for name in baselines:
        check_choice("baselines", name, BASELINES)
    # cells without a label (NaN) are left out of every score, not counted as a class of their own
    known = adata.obs[labels_key].notna().to_numpy()
    labels = adata.obs[labels_key].to_numpy()[known].astype(str)
    if len(np.unique(labels)) < 2:
        msg = f"adata.obs[{labels_key!r}] has fewer than two distinct labels (missing values not counted); scores need at least two."
        raise PnmfValueError(msg)

    rows = []
    leiden = read_clustering(adata, key, cluster_key) if cluster_key in section_entries(manifest, Clustering) else None
    recommended = int(manifest[Manifest.RECOMMENDED])
    for t, obsm_key in enumerate(manifest[Manifest.OBSM_KEYS]):
        leiden_ari = (
            adjusted_rand_score(labels, adata.obs[leiden.obs_keys[t]].to_numpy()[known])
            if leiden is not None
            else np.nan
        )
        rows.append(
            _row(
                "pnmf",
                t,
                int(manifest[Manifest.N_CONNECTED][t]),
                np.asarray(adata.obsm[str(obsm_key)])[known],
                labels,
                n_seeds,
                n_init,
                first_seed,
                leiden_ari,
                t == recommended,
            )
        )
    for name in baselines:
        embedding = _baseline(adata, manifest, name)
        rows.append(_row(name, -1, -1, embedding[known], labels, n_seeds, n_init, first_seed, np.nan, False))
    table = pd.DataFrame(rows)

    if copy:
        adata = adata.copy()
    write_results(adata, Results(uns=with_section(adata.uns[key], key, Scores(table), labels_key)), {})
    best = table[table["method"] == "pnmf"]["ari_mean"].max()
    logg.info(
        "    finished",
        time=start,
        deep=f"best pnmf scale k-means ARI {best:.3f}; scores in adata.uns[{key!r}]['scores'][{labels_key!r}]",
    )
    return adata if copy else None


def kmeans_agreement(
    embedding: np.ndarray, labels: np.ndarray, n_seeds: int, random_state: int = 0, n_init: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Score k-means (as many clusters as labels) against the labels: ARI and NMI, one value per seed."""
    n_clusters = len(np.unique(labels))
    ari, nmi = [], []
    for seed in range(random_state, random_state + n_seeds):
        predicted = KMeans(n_clusters, n_init=n_init, random_state=seed).fit_predict(embedding)
        ari.append(adjusted_rand_score(labels, predicted))
        nmi.append(normalized_mutual_info_score(labels, predicted))
    return np.array(ari), np.array(nmi)


def _row(method, scale, n_connected, embedding, labels, n_seeds, n_init, random_state, leiden_ari, recommended) -> dict:
    ari, nmi = kmeans_agreement(embedding, labels, n_seeds, random_state, n_init)
    return {
        "method": method,
        "scale": scale,
        "n_connected": n_connected,
        "ari_mean": float(ari.mean()),
        "ari_std": float(ari.std()),
        "nmi_mean": float(nmi.mean()),
        "nmi_std": float(nmi.std()),
        "leiden_ari": float(leiden_ari),
        "recommended": bool(recommended),
    }


def _baseline(adata: AnnData, manifest: Mapping[str, Any], name: str) -> np.ndarray:
    """Fit a baseline with the run's own options (one scale joining every edge) and return its embedding."""
    options = fit_options(
        manifest,
        scales=(read_section(manifest, Bars).top,),
        mask_var=manifest[Manifest.GENES],
        coupling_weight=0.0,
        max_sweeps=0,
    )
    if name == "pca":
        if options.use_rep not in adata.obsm:
            msg = f"The run's representation {options.use_rep!r} is not in adata.obsm (it was computed and not stored); drop 'pca' from baselines."
            raise PnmfKeyError(msg)
        return np.asarray(adata.obsm[options.use_rep])[:, : options.n_pcs]
    if name == "nmf":
        options = replace(options, graph_weight=0.0)
    _, result = fit(adata, options)
    return result.solution.embeddings[0]
