"""The evaluation panel: is the label-free scale better than single-scale baselines, and do clusters evolve?

Usage::

    python benchmarks/panel.py                    # the whole panel, about an hour on 2 cores
    python benchmarks/panel.py --quick            # one graph per dataset, two synthetic sets
    python benchmarks/panel.py --extra-data EXTRA # with the datasets extra_data.py built in EXTRA
    python benchmarks/panel.py --out benchmarks/results/panel.md

Datasets (``_panel_data.py``): ``pbmc68k_reduced`` under its stored 10-NN graph and
scanpy 15- and 30-NN graphs; the real labelled datasets of ``../shared/data`` under 15- and
10-NN graphs (skipped with a message when that folder is absent); the eight real datasets
that ``extra_data.py`` builds from their public sources, when their folder is given
(``--extra-data`` or the environment variable ``PNMF_EXTRA_DATA``); synthetic counts with a
known two-level hierarchy (``pnmf.datasets.nested_populations``: several seeds, sizes,
fold changes, unequal type sizes); the paper's concentric circles.

Scores: k-means with as many clusters as labels (n_init=10, 5 seeds, mean ARI) on every
scale, the recommended scale (label-free), the best scale (picked with the labels, an upper
bound only), scikit-learn NMF on the same cell-normalized genes and k (its W as returned and
rescaled to unit-norm loadings), pnmf's single-scale GNMF (``tl.score_scales``), the PCA,
and Leiden on the dataset's own kNN graph at the resolution giving the true number of
clusters, and a classifier trained on the labels (logistic regression, 5 stratified folds:
how much of the labels the expression itself tells apart). The recommended scale and the
better NMF are also scored with the clusters of one majority label merged
(:func:`merged_ari`), since on some datasets k-means splitting a large population decides
the plain ARI. Cluster evolution: four per-scale clustering designs (``tl.leiden``
nested with and without its neighbour vote, independent, and gudhi's ToMATo on every
embedding), with clusters per scale, whether the count never rises and falls overall,
nesting (the share of cells in their finer cluster's main coarser cluster), and the scales
where the fine and coarse labels are matched best.
"""

from __future__ import annotations

import argparse
import time
import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from _panel_data import Dataset, add_extra_data_argument, panel
from gudhi.clustering.tomato import Tomato
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

import pnmf

HERE = Path(__file__).resolve().parent
N_SEEDS = 5
#: The per-scale clustering designs compared (besides ToMATo): the default, the merge tree
#: without the neighbour vote, and Leiden on every scale on its own.
CLUSTER_DESIGNS = {
    "tl.leiden nested (default)": {"method": "nested"},
    "tl.leiden nested, reassign=False": {"method": "nested", "reassign": False},
    "tl.leiden independent": {"method": "independent"},
}


def kmeans_partitions(embedding: np.ndarray, n_clusters: int) -> list[np.ndarray]:
    """k-means partitions (``n_init=10``), one per seed of ``N_SEEDS``."""
    return [KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedding) for seed in range(N_SEEDS)]


def mean_ari(labels: np.ndarray, partitions: list[np.ndarray]) -> float:
    """Mean ARI of the partitions against the labels."""
    return float(np.mean([adjusted_rand_score(labels, partition) for partition in partitions]))


def kmeans_ari(embedding: np.ndarray, labels: np.ndarray) -> float:
    """Mean ARI of k-means (as many clusters as labels, n_init=10) over ``N_SEEDS`` seeds."""
    return mean_ari(labels, kmeans_partitions(embedding, len(np.unique(labels))))


def merged_ari(labels: np.ndarray, partitions: list[np.ndarray]) -> float:
    """Mean ARI of the partitions with the clusters of one majority label merged.

    Every cluster is renamed to the label most of its cells carry, so a population that
    k-means spread over several clusters counts as one: what the partition scores when no
    population is counted as split. It reads the labels, so it diagnoses a score, it is none.
    """
    merged = []
    for partition in partitions:
        majority = pd.crosstab(partition, labels).idxmax(axis=1)
        merged.append(adjusted_rand_score(labels, majority.loc[partition].to_numpy()))
    return float(np.mean(merged))


def unit_cells(matrix) -> sparse.csr_matrix:
    """Cells scaled to unit L2 norm (zero cells stay zero), as ``tl.pnmf`` does."""
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ matrix


def factorized_genes(adata: sc.AnnData) -> sparse.csr_matrix:
    """The matrix ``tl.pnmf`` factorizes here: the log-normalized highly variable genes, cells at unit norm."""
    genes = adata.var["highly_variable"].to_numpy() if "highly_variable" in adata.var else slice(None)
    return unit_cells(adata.layers["lognorm"][:, genes])


def sklearn_nmf(adata: sc.AnnData, n_comps: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn NMF of the same genes and cells: W as returned, and rescaled to unit-norm loadings."""
    model = NMF(n_comps, init="nndsvda", solver="cd", tol=1e-4, max_iter=1000, random_state=0)
    W = model.fit_transform(factorized_genes(adata))
    return W, W * np.linalg.norm(model.components_, axis=1)


def single_scale_gnmf(adata: sc.AnnData, n_comps: int, top: float) -> np.ndarray:
    """pnmf's own single-scale GNMF: one scale at ``top`` (a fit's whole kNN graph), the same solver and weights."""
    gnmf = pnmf.tl.pnmf(adata, n_comps, layer="lognorm", scales=[top], key_added="gnmf", copy=True)
    return pnmf.get.embedding(gnmf, 0, key="gnmf").to_numpy()


def supervised_ari(adata: sc.AnnData, labels: np.ndarray) -> float:
    """ARI of a classifier trained on the labels: how much of them the matrix itself can tell apart.

    Logistic regression on the matrix every method factorizes (the same cell-normalized
    genes), its predictions out of 5 stratified folds. An unsupervised method seldom matches
    the labels better (k-means can on small, well-separated data); where it stays low, the
    labels are mostly not in the expression.
    """
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    predicted = cross_val_predict(LogisticRegression(max_iter=2000), factorized_genes(adata), labels, cv=folds)
    return float(adjusted_rand_score(labels, predicted))


def leiden_at_k(adata: sc.AnnData, n_clusters: int) -> np.ndarray:
    """Leiden on the dataset's kNN graph, the resolution bisected until it gives ``n_clusters``."""
    low, high = 0.01, 5.0
    best = None
    for _ in range(20):
        resolution = float(np.sqrt(low * high))
        sc.tl.leiden(adata, resolution=resolution, flavor="igraph", n_iterations=2, directed=False, key_added="_k")
        found = adata.obs["_k"].nunique()
        if best is None or abs(found - n_clusters) < abs(best[0] - n_clusters):
            best = (found, adata.obs["_k"].to_numpy())
        if found == n_clusters:
            break
        low, high = (resolution, high) if found < n_clusters else (low, resolution)
    del adata.obs["_k"]
    return best[1]


def tomato_levels(embeddings: list[np.ndarray]) -> list[np.ndarray]:
    """ToMATo on every embedding, the number of clusters at the widest gap of its prominences."""
    levels = []
    for embedding in embeddings:
        tomato = Tomato(graph_type="knn", k=15, density_type="logDTM", k_DTM=15)
        tomato.fit(embedding)
        prominence = np.sort(np.array([b - d for b, d in tomato.diagram_]))[::-1] if len(tomato.diagram_) else []
        if len(prominence) > 1:
            gaps = -np.diff(prominence[:30])
            tomato.n_clusters_ = int(np.argmax(gaps)) + 1
        levels.append(np.asarray(tomato.labels_))
    return levels


def evolution(levels: list[np.ndarray], dataset: Dataset) -> dict:
    """Counts per scale, monotonicity, nesting and the scales that match each label level best."""
    counts = [len(np.unique(level)) for level in levels]
    nesting = [pd.crosstab(fine, coarse).max(axis=1).sum() / len(fine) for fine, coarse in pairwise(levels)]
    row = {
        "clusters fine → coarse": " ".join(map(str, counts)),
        "never rises": all(b <= a for a, b in pairwise(counts)),
        "falls": counts[-1] < counts[0],
        "nesting (min)": float(min(nesting)) if nesting else 1.0,
    }
    for level, key in dataset.labels.items():
        labels = dataset.adata.obs[key].astype(str).to_numpy()
        scores = [adjusted_rand_score(labels, cells) for cells in levels]
        row[f"best ARI {level}"] = float(max(scores))
        row[f"at scale ({level})"] = int(np.argmax(scores))
        row[f"ARI per scale ({level})"] = " ".join(f"{score:.2f}" for score in scores)
        if level == "coarse":
            # share of cells in a cluster whose majority coarse label is theirs: it falls when
            # a merge joins different coarse populations (T-cell subsets merging keeps it)
            purity = [pd.crosstab(cells, labels).max(axis=1).sum() / len(labels) for cells in levels]
            row["coarse purity per scale"] = " ".join(f"{share:.2f}" for share in purity)
    return row


def evaluate(dataset: Dataset, n_comps: int = 20) -> tuple[dict, pd.DataFrame, list[dict]]:
    """Scores of one dataset: a summary row, per-scale ARI, and one evolution row per clustering design."""
    adata = dataset.adata
    labels = adata.obs[dataset.labels["label"]].astype(str).to_numpy()
    start = time.perf_counter()
    pnmf.tl.pnmf(adata, n_comps, layer="lognorm")
    seconds = time.perf_counter() - start
    manifest = adata.uns["pnmf"]
    embeddings = [np.asarray(adata.obsm[str(k)]) for k in manifest["obsm_keys"]]
    n_clusters = len(np.unique(labels))
    partitions = [kmeans_partitions(embedding, n_clusters) for embedding in embeddings]
    per_scale = [mean_ari(labels, scale) for scale in partitions]
    recommended = int(manifest["recommended_scale"])
    nmf_partitions = [kmeans_partitions(W, n_clusters) for W in sklearn_nmf(adata, n_comps)]
    gnmf_ari = kmeans_ari(single_scale_gnmf(adata, n_comps, float(manifest["persistence"]["top"])), labels)
    sk_raw, sk_unit = (mean_ari(labels, nmf) for nmf in nmf_partitions)
    summary = {
        "dataset": dataset.name,
        "kind": dataset.kind,
        "cells": adata.n_obs,
        "labels": len(np.unique(labels)),
        "recommended": per_scale[recommended],
        "rec. scale": recommended,
        "λ1 (auto)": float(manifest["params"]["graph_weight"]),
        "finest": per_scale[0],
        "best scale (labels)": max(per_scale),
        "sklearn NMF (raw W)": sk_raw,
        "sklearn NMF (unit loadings)": sk_unit,
        "GNMF one scale": gnmf_ari,
        "PCA": kmeans_ari(np.asarray(adata.obsm["X_pca"])[:, :n_comps], labels),
        "Leiden at true K": adjusted_rand_score(labels, leiden_at_k(adata, n_clusters)),
        "supervised (5-fold)": supervised_ari(adata, labels),
        "pnmf seconds": seconds,
    }
    summary["rec. − better NMF"] = summary["recommended"] - max(sk_raw, sk_unit)
    # the same partitions with one population's clusters merged (merged_ari): a split largest
    # population, not the embedding, decides the plain ARI on some datasets
    summary["rec., splits merged"] = merged_ari(labels, partitions[recommended])
    summary["better NMF, splits merged"] = max(merged_ari(labels, nmf) for nmf in nmf_partitions)
    per_scale_table = pd.DataFrame(
        {
            "dataset": dataset.name,
            "scale": range(len(per_scale)),
            "n_connected": manifest["n_connected"],
            "ARI": per_scale,
        }
    )
    designs = []
    for design, options in CLUSTER_DESIGNS.items():
        pnmf.tl.leiden(adata, key_added="design", **options)
        summary_key = adata.uns["pnmf"]["clusters"]["design"]
        levels = [adata.obs[str(k)].to_numpy() for k in summary_key["obs_keys"]]
        designs.append({"dataset": dataset.name, "design": design, **evolution(levels, dataset)})
    designs.append(
        {"dataset": dataset.name, "design": "ToMATo per scale", **evolution(tomato_levels(embeddings), dataset)}
    )
    return summary, per_scale_table, designs


def circles(authors_file: Path | None = None) -> pd.DataFrame:
    """The paper's circles: the first scale at which each inner circle's spread falls below 5 % of the outer one's.

    Two settings on circles generated here: every death value a scale (the paper's
    construction) and the defaults (8 scales of the kNN filtration), both with k = 2. With
    ``authors_file`` (the authors' ``3D_concentric_circles.mat``, ``X`` 80 × 100 and the
    circle of every point in ``Y``), the defaults on their data too. -1: never below 5 %.
    """
    generated = pnmf.datasets.concentric_circles(random_state=0)
    runs = {
        "generated, every death a scale": (
            generated,
            {"filtration": "rips", "scales": "all", "use_rep": "X", "normalize": False},
        ),
        "generated, defaults": (generated, {}),
    }
    if authors_file is not None:
        from scipy.io import loadmat

        data = loadmat(authors_file)
        authors = sc.AnnData(np.asarray(data["X"], dtype=np.float64))
        authors.obs["circle"] = pd.Categorical([f"circle_{int(c) + 1}" for c in np.ravel(data["Y"])])
        runs["the authors' file, defaults"] = (authors, {})
    rows = {}
    for setting, (adata, options) in runs.items():
        adata = adata.copy()
        pnmf.tl.pnmf(adata, 2, mask_var=None, **options)
        circle = adata.obs["circle"].astype(str).to_numpy()
        names = sorted(np.unique(circle), key=lambda c: _spread(adata.X[circle == c]))  # innermost first
        embeddings = [np.asarray(adata.obsm[str(key)]) for key in adata.uns["pnmf"]["obsm_keys"]]
        for name in names[:-1]:
            ratios = [_spread(E[circle == name]) / _spread(E[circle == names[-1]]) for E in embeddings]
            below = np.flatnonzero(np.array(ratios) < 0.05)
            rows.setdefault(name, {"circle": name})[setting] = int(below[0]) if len(below) else -1
    return pd.DataFrame(list(rows.values()))


def _spread(points: np.ndarray) -> float:
    return float(np.linalg.norm(points - points.mean(axis=0), axis=1).mean())


DEFAULT_DESIGN = "tl.leiden nested (default)"


def comparison(rows: pd.DataFrame, name: str) -> str:
    """One sentence: the recommended scale against the better scikit-learn NMF, and against the best scale."""
    gain = rows["rec. − better NMF"]
    gap = rows["best scale (labels)"] - rows["recommended"]
    merged = rows["rec., splits merged"] - rows["better NMF, splits merged"]
    return (
        f"{name} ({len(rows)}): recommended ≥ better scikit-learn NMF on {(gain >= 0).sum()} of {len(rows)}, "
        f"mean difference {gain.mean():+.3f} (median {gain.median():+.3f}); best − recommended {gap.mean():.3f} on average. "
        f"With the splits merged: ≥ on {(merged >= 0).sum()} of {len(rows)}, mean difference {merged.mean():+.3f}."
    )


def tree_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: do the counts fall, do levels nest, and are coarse labels matched at a coarser scale than fine ones."""
    table = rows[["dataset", "clusters fine → coarse", "never rises", "falls", "nesting (min)"]].copy()
    table["fine labels best at"] = rows["at scale (label)"]
    if "at scale (coarse)" in rows:
        table["coarse labels best at"] = rows["at scale (coarse)"]
        table["coarse at a coarser scale"] = np.where(
            rows["at scale (coarse)"].isna(), "", (rows["at scale (coarse)"] > rows["at scale (label)"]).astype(str)
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one graph per real dataset, two synthetic sets")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "panel.md")
    add_extra_data_argument(parser)
    parser.add_argument(
        "--authors-circles",
        type=Path,
        help="the authors' datasets/Simulation/3D_concentric_circles.mat (github.com/LiminLi-xjtu/pNMF), measured too",
    )
    args = parser.parse_args()
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    summaries, per_scale, designs = [], [], []
    if args.extra_data is None:
        print("no --extra-data folder: the extra real datasets are left out (build them with extra_data.py)")
    for dataset in panel(quick=args.quick, extra_data=args.extra_data):
        summary, scales, evolutions = evaluate(dataset)
        summaries.append(summary)
        per_scale.append(scales)
        designs.extend(evolutions)
        print(
            f"{dataset.name}: recommended {summary['recommended']:.3f}, best {summary['best scale (labels)']:.3f}, "
            f"sklearn NMF {max(summary['sklearn NMF (raw W)'], summary['sklearn NMF (unit loadings)']):.3f}",
            flush=True,
        )
    summaries = pd.DataFrame(summaries)
    designs = pd.DataFrame(designs)
    kind = summaries.pop("kind")
    groups = {
        "Real datasets of shared/data": (kind == "real") & ~summaries["dataset"].str.startswith("pbmc"),
        "Extra real datasets": kind == "extra",
        "All real datasets but pbmc68k": kind.isin(["real", "extra"]) & ~summaries["dataset"].str.startswith("pbmc"),
    }
    report = (
        "\n\n".join(
            [
                "## k-means ARI against the finest labels (n_init=10, 5 seeds); best scale is picked with labels (upper bound)",
                markdown_table(summaries.round(3), index=False),
                *[comparison(summaries[rows], name) for name, rows in groups.items() if rows.any()],
                "## Per-scale clusterings: the default design across datasets",
                markdown_table(tree_summary(designs[designs["design"] == DEFAULT_DESIGN]), index=False),
                "## Per-scale clusterings: four designs",
                markdown_table(designs.round(3), index=False),
                "## k-means ARI per scale",
                markdown_table(pd.concat(per_scale).round(3), index=False),
                "## Concentric circles: the first scale where an inner circle's spread is below 5 % of the outer one's (k = 2)",
                markdown_table(circles(args.authors_circles), index=False),
                f"Wall time: {time.perf_counter() - start:.0f} s.",
            ]
        )
        + "\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
