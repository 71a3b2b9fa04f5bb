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
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import pnmf

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)


def kmeans_ari(embedding: np.ndarray, labels: np.ndarray) -> float:
    """Mean ARI of k-means with as many clusters as labels over :data:`SEEDS`."""
    k = len(np.unique(labels))
    return float(
        np.mean(
            [adjusted_rand_score(labels, KMeans(k, n_init=10, random_state=s).fit_predict(embedding)) for s in SEEDS]
        )
    )


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
