"""Do the scales span resolutions? Per-scale k-means against two label levels, and the cluster tree.

Usage::

    python benchmarks/hierarchy.py [--extra-data EXTRA] [--out results/hierarchy.md] [--pooling-weight 10]
    python benchmarks/hierarchy.py --synthetic-seeds 1 2 3 4 --no-anchors --out results/hierarchy_seeds.md
    python benchmarks/hierarchy.py --synthetic-seeds 1 2 3 4 --no-anchors --n-comps 30 --out results/hierarchy_seeds_k30.md

For every dataset with two label levels (synthetic hierarchies with separable and with
barely separable subtypes, paul15, pbmc68k under two graphs, the mouse pancreas), fit
``tl.pnmf`` with its defaults and report, per scale, k-means ARI (n_init=10, 3 seeds)
against the fine labels with their count and against the coarse labels with theirs; the
best scale for each level; whether some scale matches the coarse labels at ≥ 0.95 while
k-means with the fine count there gives ≤ 0.5 (the fine level has collapsed); how far the
coarsest embedding moved from the finest (relative Frobenius norm); the number of clusters
of ``tl.leiden`` at every scale; and the time of the fit. PCA (k-means on ``X_pca``) is the
reference for the finest scale, with all its components and with its first k, as many as
the factors (``--n-comps``, default ``tl.pnmf``'s): the same number of dimensions.

Beside pnmf, the anchors users reach for, on the same data: scanpy's Leiden on the
dataset's kNN graph over resolutions 0.1 to 2 (the clustree habit; the resolution whose
clusters match each level best, with its cluster count), HDBSCAN on the PCA (scikit-learn's,
``min_cluster_size=10``; its points left as noise form one cluster) and scikit-learn's NMF
with the same k (k-means on W rescaled to unit-norm loadings, against each level; ``panel.sklearn_nmf``).
And diffusion condensation as Multiscale PHATE runs it (``multiscale_phate``, the ``bench`` extra;
Brugnone et al. 2019, Kuchroo et al. 2022) on the PCA: the clusters of every level of its condensation
tree, the level whose clusters match each level of labels best (with its cluster count), the cluster
counts at its own salient levels, and the time of the fit. Without the package these columns say so.

``--synthetic-seeds`` replaces the datasets by the synthetic hierarchies alone, every one of
the five generated with each seed given (how the results hold across draws of the data);
``--no-anchors`` leaves the anchors out.
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

try:  # the bench extra
    import multiscale_phate
    import tasklogger
except ImportError:
    multiscale_phate = None

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


def condensation_levels(X: np.ndarray, random_state: int = 0) -> tuple[list[int], list[np.ndarray], list[int]]:
    """Diffusion condensation of ``X`` by Multiscale PHATE: the clusters of every distinct level of its tree.

    ``multiscale_phate.Multiscale_PHATE`` with its defaults, on one job: PHATE's diffusion
    potential (5-NN α-decay kernel, on 2000 landmarks above 2000 points) reduced to its
    principal components above 1 % of the variance; then, step by step, a 5-NN kernel whose
    fixed bandwidth grows by 2.5 % diffuses the points, and points closer than the 0.001st
    percentile of the first distances merge. Each step forms dense point-by-point distance,
    kernel and diffusion matrices (the package coarse-grains by k-means only above 100,000
    points), so time and memory grow with the square of the points. Its ``NxTs`` holds one
    assignment per step, and steps without a merge repeat the one before; points only ever
    merge, so each cluster count names one partition and the first step with it is kept.

    Brugnone et al., "Coarse graining of data via inhomogeneous diffusion condensation", IEEE
    Big Data 2019; Kuchroo et al., "Multiscale PHATE identifies multimodal signatures of
    COVID-19", Nature Biotechnology 40, 681–691 (2022).

    Returns
    -------
    The step of each kept level, its clusters (one label per row of ``X``), and the cluster
    counts at the tree's salient levels (``Multiscale_PHATE.levels``, from its gradient analysis).
    """
    tasklogger.set_level(0)
    operator = multiscale_phate.Multiscale_PHATE(n_jobs=1, random_state=random_state)
    salient = operator.fit(np.asarray(X, dtype=np.float64))
    steps, partitions, seen = [], [], set()
    for step, assignment in enumerate(operator.NxTs):
        n_clusters = len(np.unique(assignment))
        if n_clusters not in seen:
            seen.add(n_clusters)
            steps.append(step)
            partitions.append(np.asarray(assignment))
    return steps, partitions, [len(np.unique(operator.NxTs[level])) for level in salient]


def condensation_anchor(X: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> dict:
    """Multiscale PHATE's diffusion condensation (:func:`condensation_levels`) against both label levels.

    The best level for each label level over all levels of the tree, as for Leiden's resolutions;
    the time is the fit's alone.
    """
    if multiscale_phate is None:
        return {"M-PHATE": "not installed (pip install 'persistent-nmf[bench]')"}
    row = {}
    start = time.perf_counter()
    steps, partitions, salient = condensation_levels(X)
    seconds = time.perf_counter() - start
    for name, labels in (("fine", fine), ("coarse", coarse)):
        scores = [adjusted_rand_score(labels, partition) for partition in partitions]
        best = int(np.argmax(scores))
        row[f"M-PHATE best {name} (level, clusters)"] = (
            f"{scores[best]:.3f} ({steps[best]}, {len(np.unique(partitions[best]))})"
        )
    row["M-PHATE salient levels (clusters)"] = " → ".join(map(str, salient))
    row["M-PHATE (s)"] = seconds
    return row


def anchors(adata, fine: np.ndarray, coarse: np.ndarray, n_comps: int = 20) -> dict:
    """Leiden over resolutions, HDBSCAN on the PCA, scikit-learn's NMF and Multiscale PHATE against both label levels."""
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
    return row | condensation_anchor(adata.obsm["X_pca"], fine, coarse)


def synthetic(seeds: list[int]) -> list[Dataset]:
    """The separable hierarchies (5 × 3, 4 × 4, 6 × 4) and the barely separable ones (4 × 3, 6 × 4), each with every seed."""
    separable = [separable_hierarchy(3000, t, s, seed) for t, s in ((5, 3), (4, 4), (6, 4)) for seed in seeds]
    return separable + [nested(3000, t, s, seed, 4.0) for t, s in ((4, 3), (6, 4)) for seed in seeds]


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


def evaluate(
    dataset: Dataset, pooling_weight: float | None, with_anchors: bool = True, n_comps: int | None = None
) -> dict:
    """Fit, cluster and score one dataset (and the anchors on it, ``with_anchors``); return one summary row."""
    adata = dataset.adata
    fine = np.asarray(adata.obs[dataset.labels["label"]].astype(str))
    coarse = np.asarray(adata.obs[dataset.labels["coarse"]].astype(str))
    options = {} if pooling_weight is None else {"pooling_weight": pooling_weight}
    start = time.perf_counter()
    if n_comps is not None:
        options["n_comps"] = n_comps
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
        "PCA k PCs, fine": kmeans_ari(adata.obsm["X_pca"][:, : manifest["params"]["n_comps"]], fine),
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
        **(anchors(adata, fine, coarse, manifest["params"]["n_comps"]) if with_anchors else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hierarchy.md")
    parser.add_argument("--pooling-weight", type=float, help="ρ (default: tl.pnmf's)")
    parser.add_argument(
        "--synthetic-seeds", type=int, nargs="+", help="the synthetic hierarchies alone, with these seeds"
    )
    parser.add_argument("--no-anchors", action="store_true", help="pnmf alone: no Leiden, HDBSCAN, NMF, M-PHATE")
    parser.add_argument("--n-comps", type=int, help="k, the number of factors (default: tl.pnmf's)")
    add_extra_data_argument(parser)
    args = parser.parse_args()
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    rows = []
    found = synthetic(args.synthetic_seeds) if args.synthetic_seeds else datasets(args.extra_data)
    for dataset in found:
        rows.append(evaluate(dataset, args.pooling_weight, with_anchors=not args.no_anchors, n_comps=args.n_comps))
        print({k: rows[-1][k] for k in ("dataset", "best fine (scale)", "best coarse (scale)", "collapsed at", "tree")})
    table = pd.DataFrame(rows).round(3)
    weight = "tl.pnmf's default" if args.pooling_weight is None else f"{args.pooling_weight:g}"
    k = "tl.pnmf's default" if args.n_comps is None else args.n_comps
    report = (
        f"## Two label levels, per scale (pooling weight: {weight}; k: {k}; k-means n_init=10, seeds {SEEDS})\n\n"
        + markdown_table(table, index=False)
        + f"\n\nWall time: {time.perf_counter() - start:.0f} s.\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
