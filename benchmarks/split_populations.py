"""Where k-means at the true number of clusters loses its ARI: large populations split.

Usage::

    python benchmarks/split_populations.py                      # the quick panel
    python benchmarks/split_populations.py --extra-data EXTRA   # with the extra real datasets
    python benchmarks/split_populations.py --out benchmarks/results/split_populations.md

The panel scores every embedding by k-means with as many clusters as labels. Where one
population is much larger or more spread than the others, k-means spends several clusters
on it and joins small populations instead, and the ARI then says more about that split
than about the embedding. Per dataset of the quick panel (``_panel_data.py``) and method
(pnmf's recommended scale with ``graph_weight='auto'`` and with λ1 = 100, scikit-learn
NMF with both scalings, pnmf's single-scale GNMF, the PCA) this prints, over the panel's
5 k-means seeds:

- the mean ARI, as in ``panel.py``;
- the share of the largest label's cells in the cluster holding most of them;
- the ARI after merging the clusters that have the same majority label: what the
  partition scores when no population is counted as split (it uses the labels, so it is a
  diagnosis, not a score).
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
from _panel_data import Dataset, add_extra_data_argument, panel
from panel import kmeans_partitions, mean_ari, merged_ari, single_scale_gnmf, sklearn_nmf, supervised_ari

import pnmf

HERE = Path(__file__).resolve().parent
N_COMPS = 20


def main_cluster_share(labels: np.ndarray, clusters: np.ndarray, label: str) -> float:
    """Share of the cells of ``label`` in the cluster holding most of them."""
    return float(pd.Series(clusters[labels == label]).value_counts(normalize=True).iloc[0])


def embeddings(adata: sc.AnnData) -> dict[str, np.ndarray]:
    """Every method's embedding of the same cell-normalized genes, ``N_COMPS`` factors each."""
    auto = pnmf.tl.pnmf(adata, N_COMPS, layer="lognorm", copy=True)
    strong = pnmf.tl.pnmf(adata, N_COMPS, layer="lognorm", graph_weight=100.0, copy=True)
    W, W_unit = sklearn_nmf(adata, N_COMPS)
    return {
        "pnmf recommended, λ1 auto": pnmf.get.embedding(auto).to_numpy(),
        "pnmf recommended, λ1 = 100": pnmf.get.embedding(strong).to_numpy(),
        "sklearn NMF (raw W)": W,
        "sklearn NMF (unit loadings)": W_unit,
        "GNMF one scale": single_scale_gnmf(adata, N_COMPS, float(auto.uns["pnmf"]["persistence"]["top"])),
        "PCA": np.asarray(adata.obsm["X_pca"])[:, :N_COMPS],
    }


def diagnose(dataset: Dataset) -> list[dict]:
    """One row per method: ARI, the largest label's share in its main cluster, ARI with splits merged."""
    adata = dataset.adata
    labels = adata.obs[dataset.labels["label"]].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    largest = str(counts.index[0])
    rows = []
    for method, embedding in embeddings(adata).items():
        partitions = kmeans_partitions(embedding, len(counts))
        rows.append(
            {
                "dataset": dataset.name,
                "method": method,
                "ARI": mean_ari(labels, partitions),
                "largest label (share of cells)": f"{largest} ({counts.iloc[0] / len(labels):.0%})",
                "its share in its main cluster": np.mean([main_cluster_share(labels, p, largest) for p in partitions]),
                "ARI, splits merged": merged_ari(labels, partitions),
            }
        )
    rows.append({"dataset": dataset.name, "method": "supervised (5-fold)", "ARI": supervised_ari(adata, labels)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "split_populations.md")
    add_extra_data_argument(parser)
    args = parser.parse_args()
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    rows = [row for dataset in panel(quick=True, extra_data=args.extra_data) for row in diagnose(dataset)]
    report = (
        "\n\n".join(
            [
                "## k-means at the true number of clusters (n_init=10, 5 seeds): how much of the ARI the largest labels' splits cost",
                markdown_table(pd.DataFrame(rows).round(3), index=False),
                f"Wall time: {time.perf_counter() - start:.0f} s.",
            ]
        )
        + "\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
