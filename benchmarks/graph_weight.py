"""How the graph weight λ1 moves clustering quality, and why a held-out error cannot choose it for clustering.

Usage::

    python benchmarks/graph_weight.py                 # pbmc68k, shared/data, two nested sets
    python benchmarks/graph_weight.py --extra-data EXTRA
    python benchmarks/graph_weight.py --out benchmarks/results/graph_weight.md

For every dataset of the quick panel (``_panel_data.py``: one graph per real dataset), pnmf
is fitted with each λ1 of :data:`WEIGHTS` given, and with ``graph_weight='auto'``. Per
fit: k-means ARI (as in ``panel.py``) at the recommended scale and at the best scale
(picked with the labels, an upper bound), and the held-out error of the λ1
cross-validation (relative to its smallest value over the same weights, on the same gene
split), which is what ``'auto'`` minimizes. The table shows where clustering quality and
the held-out error part ways: on some datasets clusters sharpen far past the weight the
held-out genes support, on others the same smoothing blurs them.
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
from _panel_data import add_extra_data_argument, panel
from panel import kmeans_ari

import pnmf
from pnmf._core import fit as fit_module
from pnmf._core.cross_validation import CANDIDATE_WEIGHTS

HERE = Path(__file__).resolve().parent
#: λ1 values tried: the cross-validation's candidates and two stronger ones.
WEIGHTS = (*CANDIDATE_WEIGHTS, 300.0, 1000.0)


def held_out_errors(adata: sc.AnnData, n_comps: int) -> np.ndarray:
    """The λ1 cross-validation's held-out error of every weight in :data:`WEIGHTS`, as ``'auto'`` computes it."""
    # tl.pnmf offers no wider grid of candidates: its cross-validation is called with this one
    selection = {}
    original = fit_module.cross_validate_graph_weight

    def wider(split, graph, **kwargs):
        selection["result"] = original(split, graph, **{**kwargs, "candidates": WEIGHTS})
        return selection["result"]

    fit_module.cross_validate_graph_weight = wider
    try:
        pnmf.tl.pnmf(adata, n_comps, layer="lognorm", key_added="errors", copy=True)
    finally:
        fit_module.cross_validate_graph_weight = original
    return selection["result"].errors


def sweep(dataset, n_comps: int = 20) -> pd.DataFrame:
    """One row per λ1 (and one for ``'auto'``): ARI at the recommended and best scales, relative held-out error."""
    adata = dataset.adata
    labels = adata.obs[dataset.labels["label"]].astype(str).to_numpy()
    errors = held_out_errors(adata, n_comps)
    rows = []
    for weight in (*WEIGHTS, "auto"):
        fitted = pnmf.tl.pnmf(adata, n_comps, layer="lognorm", graph_weight=weight, copy=True)
        manifest = fitted.uns["pnmf"]
        scores = [kmeans_ari(np.asarray(fitted.obsm[str(key)]), labels) for key in manifest["obsm_keys"]]
        chosen = float(manifest["params"]["graph_weight"])
        recommended = int(manifest["recommended_scale"])
        rows.append(
            {
                "dataset": dataset.name,
                "λ1": weight if weight == "auto" else f"{weight:g}",
                "λ1 used": chosen,
                "held-out error / smallest": float(errors[WEIGHTS.index(chosen)] / errors.min()),
                "rec. scale": recommended,
                "recommended": scores[recommended],
                "best scale (labels)": max(scores),
            }
        )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: ARI at the recommended scale for every λ1 side by side, and the λ1 that clusters best."""
    fixed = table[table["λ1"] != "auto"]
    wide = fixed.pivot(index="dataset", columns="λ1", values="recommended")[[f"{w:g}" for w in WEIGHTS]]
    wide.columns = [f"λ1 = {c}" for c in wide.columns]
    auto = table[table["λ1"] == "auto"].set_index("dataset")
    wide["auto (λ1)"] = auto["recommended"].round(3).astype(str) + " (" + auto["λ1 used"].map("{:g}".format) + ")"
    best = fixed.loc[fixed.groupby("dataset")["recommended"].idxmax()].set_index("dataset")
    wide["best λ1 (labels)"] = best["λ1"]
    wide["its held-out error / smallest"] = best["held-out error / smallest"]
    return wide.reindex(table["dataset"].unique()).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "graph_weight.md")
    add_extra_data_argument(parser)
    args = parser.parse_args()
    sc.settings.verbosity = 0
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    tables = []
    for dataset in panel(quick=True, extra_data=args.extra_data):
        tables.append(sweep(dataset))
        print(tables[-1].round(3).to_string(index=False), flush=True)
    table = pd.concat(tables, ignore_index=True)
    report = (
        "\n\n".join(
            [
                "## k-means ARI at the recommended scale for each graph weight λ1 (n_init=10, 5 seeds)",
                markdown_table(summary(table).round(3), index=False),
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
