"""How the graph weight λ1 moves clustering quality, and whether a stronger one separates populations better.

Usage::

    python benchmarks/graph_weight.py                 # pbmc68k, shared/data, two nested sets
    python benchmarks/graph_weight.py --extra-data EXTRA
    python benchmarks/graph_weight.py --out benchmarks/results/graph_weight.md
    python benchmarks/graph_weight.py --halves        # the gene-half agreement only

For every dataset of the quick panel (``_panel_data.py``: one graph per real dataset), pnmf
is fitted with each λ1 of :data:`WEIGHTS` given, and with ``graph_weight='auto'``. Per
fit: k-means ARI (as in ``panel.py``) at the recommended scale and at the best scale
(picked with the labels, an upper bound), and the held-out error of the λ1
cross-validation (relative to its smallest value over the same weights, on the same gene
split), which is what ``'auto'`` minimizes; and the recommended scale's ARI with the
clusters of one majority label merged (``panel.merged_ari``), which tells a weight that
separates populations better from one that only keeps the largest population in one
k-means cluster.

``--halves`` measures a candidate label-free criterion instead: the genes are split in two
halves, each half gets its own PCA and kNN graph and its own fit at every λ1, and the
agreement (ARI) between the halves' k-means partitions at their recommended scales is
reported beside each half's ARI against the labels.
"""

from __future__ import annotations

import argparse
import time
import warnings
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from _panel_data import add_extra_data_argument, panel
from panel import kmeans_partitions, mean_ari, merged_ari
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import pnmf
from pnmf._core import fit as fit_module
from pnmf._core.cross_validation import CANDIDATE_WEIGHTS, WeightSelection

HERE = Path(__file__).resolve().parent
#: λ1 values tried: the cross-validation's candidates and two stronger ones.
WEIGHTS = (*CANDIDATE_WEIGHTS, 300.0, 1000.0)


def auto_fit(adata: sc.AnnData, n_comps: int) -> tuple[sc.AnnData, np.ndarray]:
    """Fit with ``graph_weight='auto'`` and return it with the held-out error of every weight in :data:`WEIGHTS`.

    tl.pnmf offers no wider grid of candidates, so its cross-validation is called with
    :data:`WEIGHTS`, and the weight it returns is the best of its own candidates. These come
    first in :data:`WEIGHTS` and are fitted in increasing order from the same start, so
    their errors, and the fit, are those of a plain ``'auto'`` fit.
    """
    original = fit_module.cross_validate_graph_weight
    evidence = {}

    def wider(split, graph, **kwargs):
        evidence["errors"] = original(split, graph, **{**kwargs, "candidates": WEIGHTS}).errors
        own = evidence["errors"][: len(CANDIDATE_WEIGHTS)]
        return WeightSelection(CANDIDATE_WEIGHTS[int(np.argmin(own))], np.asarray(CANDIDATE_WEIGHTS), own)

    fit_module.cross_validate_graph_weight = wider
    try:
        fitted = pnmf.tl.pnmf(adata, n_comps, layer="lognorm", copy=True)
    finally:
        fit_module.cross_validate_graph_weight = original
    return fitted, evidence["errors"]


def sweep(dataset, n_comps: int = 20) -> pd.DataFrame:
    """One row per λ1 (and one for ``'auto'``): ARI at the recommended and best scales, relative held-out error."""
    adata = dataset.adata
    labels = adata.obs[dataset.labels["label"]].astype(str).to_numpy()
    n_clusters = len(np.unique(labels))
    auto, errors = auto_fit(adata, n_comps)
    # one fitted copy at a time besides the 'auto' one
    fits = ((f"{w:g}", pnmf.tl.pnmf(adata, n_comps, layer="lognorm", graph_weight=w, copy=True)) for w in WEIGHTS)
    rows = []
    for name, fitted in chain(fits, [("auto", auto)]):
        manifest = fitted.uns["pnmf"]
        chosen = float(manifest["params"]["graph_weight"])
        recommended = int(manifest["recommended_scale"])
        partitions = [kmeans_partitions(np.asarray(fitted.obsm[str(key)]), n_clusters) for key in manifest["obsm_keys"]]
        scores = [mean_ari(labels, scale) for scale in partitions]
        rows.append(
            {
                "dataset": dataset.name,
                "λ1": name,
                "λ1 used": chosen,
                "held-out error / smallest": float(errors[WEIGHTS.index(chosen)] / errors.min()),
                "rec. scale": recommended,
                "recommended": scores[recommended],
                "recommended, splits merged": merged_ari(labels, partitions[recommended]),
                "best scale (labels)": max(scores),
            }
        )
    return pd.DataFrame(rows)


def half_agreement(dataset, n_comps: int = 20, seed: int = 0) -> pd.DataFrame:
    """One row per λ1: ARI between the k-means partitions of two gene halves, each with its own PCA and graph."""
    adata = dataset.adata
    labels = adata.obs[dataset.labels["label"]].astype(str).to_numpy()
    n_clusters = len(np.unique(labels))
    genes = np.flatnonzero(adata.var["highly_variable"].to_numpy())
    genes = np.random.default_rng(seed).permutation(genes)
    n_neighbors = int(np.ravel(adata.uns["neighbors"]["params"]["n_neighbors"])[0])
    halves = []
    for half in (np.sort(genes[: len(genes) // 2]), np.sort(genes[len(genes) // 2 :])):
        part = sc.AnnData(adata.layers["lognorm"][:, half].copy())
        part.layers["lognorm"] = part.X
        sc.pp.pca(part, n_comps=30, random_state=0)
        sc.pp.neighbors(part, n_neighbors=n_neighbors, random_state=0)
        halves.append(part)
    rows = []
    for weight in WEIGHTS:
        partitions = []
        for part in halves:
            fitted = pnmf.tl.pnmf(part, n_comps, layer="lognorm", graph_weight=weight, copy=True)
            embedding = pnmf.get.embedding(fitted).to_numpy()
            partitions.append(KMeans(n_clusters, n_init=10, random_state=0).fit_predict(embedding))
        rows.append(
            {
                "dataset": dataset.name,
                "λ1": f"{weight:g}",
                "agreement of the halves": adjusted_rand_score(*partitions),
                "half A (labels)": adjusted_rand_score(labels, partitions[0]),
                "half B (labels)": adjusted_rand_score(labels, partitions[1]),
            }
        )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, score: str = "recommended") -> pd.DataFrame:
    """Per dataset: ``score`` at the recommended scale for every λ1 side by side, and the λ1 that clusters best."""
    fixed = table[table["λ1"] != "auto"]
    wide = fixed.pivot(index="dataset", columns="λ1", values=score)[[f"{w:g}" for w in WEIGHTS]]
    wide.columns = [f"λ1 = {c}" for c in wide.columns]
    auto = table[table["λ1"] == "auto"].set_index("dataset")
    wide["auto (λ1)"] = auto[score].round(3).astype(str) + " (" + auto["λ1 used"].map("{:g}".format) + ")"
    best = fixed.loc[fixed.groupby("dataset")[score].idxmax()].set_index("dataset")
    wide["best λ1 (labels)"] = best["λ1"]
    wide["its held-out error / smallest"] = best["held-out error / smallest"]
    return wide.reindex(table["dataset"].unique()).reset_index()


def halves_report(table: pd.DataFrame, seconds: float) -> str:
    """The gene-half agreement per dataset and λ1, and the λ1 where it peaks."""
    peaks = table.loc[table.groupby("dataset", sort=False)["agreement of the halves"].idxmax()]
    return (
        "\n\n".join(
            [
                "## Agreement of two gene halves' k-means partitions (own PCA and 15- or 10-NN graph each) per λ1",
                markdown_table(table.round(3), index=False),
                "## The λ1 where the halves agree most",
                markdown_table(peaks[["dataset", "λ1", "agreement of the halves"]].round(3), index=False),
                f"Wall time: {seconds:.0f} s.",
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "graph_weight.md")
    add_extra_data_argument(parser)
    parser.add_argument("--halves", action="store_true", help="measure the gene-half agreement instead")
    args = parser.parse_args()
    if args.halves and args.out == parser.get_default("out"):
        args.out = HERE / "results" / "graph_weight_halves.md"
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    tables = []
    for dataset in panel(quick=True, extra_data=args.extra_data):
        tables.append(half_agreement(dataset) if args.halves else sweep(dataset))
        print(tables[-1].round(3).to_string(index=False), flush=True)
    table = pd.concat(tables, ignore_index=True)
    if args.halves:
        publish(halves_report(table, time.perf_counter() - start), args.out)
        return
    report = (
        "\n\n".join(
            [
                "## k-means ARI at the recommended scale for each graph weight λ1 (n_init=10, 5 seeds)",
                markdown_table(summary(table).round(3), index=False),
                "## The same partitions with the clusters of one majority label merged (no population counted as split)",
                markdown_table(summary(table, "recommended, splits merged").round(3), index=False),
                "## Every fit: λ1, its held-out error relative to the smallest, recommended and best scale",
                markdown_table(table.round(3), index=False),
                f"Wall time: {time.perf_counter() - start:.0f} s.",
            ]
        )
        + "\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
