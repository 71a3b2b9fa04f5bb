"""Do the scales span resolutions? Per-scale k-means against two label levels, and the cluster tree.

Usage::

    python benchmarks/hierarchy.py [--extra-data EXTRA] [--out results/hierarchy.md] [--pooling-weight 10]

For every dataset with two label levels (synthetic hierarchies with separable and with
barely separable subtypes, paul15, pbmc68k under two graphs, the mouse pancreas), fit
``tl.pnmf`` with its defaults and report, per scale, k-means ARI (n_init=10, 3 seeds)
against the fine labels with their count and against the coarse labels with theirs; the
best scale for each level; whether some scale matches the coarse labels at ≥ 0.95 while
k-means with the fine count there gives ≤ 0.5 (the fine level has collapsed); how far the
coarsest embedding moved from the finest (relative Frobenius norm); the number of clusters
of ``tl.leiden`` at every scale; and the time of the fit. PCA (k-means on ``X_pca``) is the
reference for the finest scale.

Beside pnmf, the anchors users reach for, on the same data: scanpy's Leiden on the
dataset's kNN graph over resolutions 0.1 to 2 (the clustree habit; the resolution whose
clusters match each level best, with its cluster count), HDBSCAN on the PCA (scikit-learn's,
``min_cluster_size=10``; its points left as noise form one cluster) and scikit-learn's NMF
with the same k (k-means on W rescaled to unit-norm loadings, against each level; ``panel.sklearn_nmf``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from _panel_data import Dataset, add_extra_data_argument, extra, nested, pbmc, real, separable_hierarchy
from panel import sklearn_nmf
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score

import pnmf

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)
RESOLUTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)


def kmeans_ari(embedding: np.ndarray, labels: np.ndarray) -> float:
    """Mean ARI of k-means with as many clusters as labels over :data:`SEEDS`."""
    k = len(np.unique(labels))
    return float(
        np.mean(
            [adjusted_rand_score(labels, KMeans(k, n_init=10, random_state=s).fit_predict(embedding)) for s in SEEDS]
        )
    )


def anchors(adata, fine: np.ndarray, coarse: np.ndarray, n_comps: int = 20) -> dict:
    """Leiden over resolutions, HDBSCAN on the PCA and scikit-learn's NMF against both label levels."""
    row = {}
    start = time.perf_counter()
    levels = []
    for resolution in RESOLUTIONS:
        sc.tl.leiden(
            adata, resolution, key_added="_leiden", flavor="igraph", n_iterations=2, directed=False, random_state=0
        )
        levels.append(np.asarray(adata.obs.pop("_leiden")))
    for name, labels in (("fine", fine), ("coarse", coarse)):
        scores = [adjusted_rand_score(labels, level) for level in levels]
        best = int(np.argmax(scores))
        row[f"Leiden best {name} (res., clusters)"] = (
            f"{scores[best]:.3f} ({RESOLUTIONS[best]:g}, {len(np.unique(levels[best]))})"
        )
    row["Leiden 8 res. (s)"] = time.perf_counter() - start
    start = time.perf_counter()
    hdbscan = HDBSCAN(min_cluster_size=10).fit_predict(adata.obsm["X_pca"])
    row["HDBSCAN clusters"] = len(np.unique(hdbscan[hdbscan >= 0]))
    row["HDBSCAN fine / coarse"] = (
        f"{adjusted_rand_score(fine, hdbscan):.3f} / {adjusted_rand_score(coarse, hdbscan):.3f}"
    )
    row["HDBSCAN (s)"] = time.perf_counter() - start
    _, W = sklearn_nmf(adata, n_comps)  # rescaled to unit-norm loadings
    row["sklearn NMF fine / coarse"] = f"{kmeans_ari(W, fine):.3f} / {kmeans_ari(W, coarse):.3f}"
    return row


def datasets(extra_data: Path | None) -> list[Dataset]:
    """The two-level datasets: separable and barely separable synthetic hierarchies, then real data."""
    found = [
        separable_hierarchy(3000, n_types, n_subtypes, seed)
        for n_types, n_subtypes in ((5, 3), (4, 4), (6, 4))
        for seed in (1, 2)
    ]
    found += [nested(3000, 4, 3, 1, 4.0), nested(3000, 6, 4, 2, 4.0)]
    found += [pbmc(None), pbmc(15)]
    for k in (15, 10):
        dataset = real("paul15", k)
        if dataset is not None:
            found.append(dataset)
    if extra_data is not None:
        found += [d for d in extra(extra_data, 15) if "coarse" in d.labels]
    return found


def evaluate(dataset: Dataset, pooling_weight: float | None) -> dict:
    """Fit, cluster and score one dataset; return one summary row."""
    adata = dataset.adata
    fine = np.asarray(adata.obs[dataset.labels["label"]].astype(str))
    coarse = np.asarray(adata.obs[dataset.labels["coarse"]].astype(str))
    options = {} if pooling_weight is None else {"pooling_weight": pooling_weight}
    start = time.perf_counter()
    pnmf.tl.pnmf(adata, layer="lognorm", **options)
    seconds = time.perf_counter() - start
    manifest = adata.uns["pnmf"]
    embeddings = [adata.obsm[key] for key in manifest["obsm_keys"]]
    fine_ari = [kmeans_ari(e, fine) for e in embeddings]
    coarse_ari = [kmeans_ari(e, coarse) for e in embeddings]
    collapsed = [t for t in range(len(embeddings)) if coarse_ari[t] >= 0.95 and fine_ari[t] <= 0.5]
    pnmf.tl.leiden(adata)
    counts = [int(n) for n in adata.uns["pnmf"]["clusters"]["leiden"]["n_clusters"]]
    moved = np.linalg.norm(embeddings[-1] - embeddings[0]) / np.linalg.norm(embeddings[0])
    best_fine, best_coarse = int(np.argmax(fine_ari)), int(np.argmax(coarse_ari))
    return {
        "dataset": dataset.name,
        "fine / coarse labels": f"{len(set(fine))} / {len(set(coarse))}",
        "PCA, fine": kmeans_ari(adata.obsm["X_pca"], fine),
        "finest, fine": fine_ari[0],
        "best fine (scale)": f"{fine_ari[best_fine]:.3f} ({best_fine})",
        "best coarse (scale)": f"{coarse_ari[best_coarse]:.3f} ({best_coarse})",
        "collapsed at": ", ".join(map(str, collapsed)) or "none",
        "fine per scale": " ".join(f"{v:.2f}" for v in fine_ari),
        "coarse per scale": " ".join(f"{v:.2f}" for v in coarse_ari),
        "tree": " → ".join(map(str, counts)),
        "coarsest − finest (rel.)": float(moved),
        "recommended": int(manifest["recommended_scale"]),
        "fit (s)": seconds,
        **anchors(adata, fine, coarse),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hierarchy.md")
    parser.add_argument("--pooling-weight", type=float, help="ρ (default: tl.pnmf's)")
    add_extra_data_argument(parser)
    args = parser.parse_args()
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    rows = []
    for dataset in datasets(args.extra_data):
        rows.append(evaluate(dataset, args.pooling_weight))
        print({k: rows[-1][k] for k in ("dataset", "best fine (scale)", "best coarse (scale)", "collapsed at", "tree")})
    table = pd.DataFrame(rows).round(3)
    weight = "tl.pnmf's default" if args.pooling_weight is None else f"{args.pooling_weight:g}"
    report = (
        f"## Two label levels, per scale (pooling weight: {weight}; k-means n_init=10, seeds {SEEDS})\n\n"
        + markdown_table(table, index=False)
        + f"\n\nWall time: {time.perf_counter() - start:.0f} s.\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
