"""What sets each batch apart: the programs a batch uses beyond matching cells of the others (``get.batch_usage``).

Usage::

    python benchmarks/batch_programs.py [--batch-data BATCH_DATA] [--out results/batch_programs.md]

Two parts:

- **A planted response.** ``pnmf.datasets.nested_populations`` with 3 batches (a per-gene
  technical factor of log-sd 0.5, one cell type in the first batch only), and a response
  added to 30 genes in the second batch's cells (``+effect`` on their log-normalized
  values). Is the factor that loads the response's genes most the one with the second
  batch's largest ``shift``, and how large is it? Three seeds, two effect sizes.
- **Real batches** (``--batch-data``: the folder ``benchmarks/batch_data.py`` writes,
  prepared as ``integration.py`` prepares it): for every batch, the two factors of the
  recommended scale with the largest ``shift``, with their top genes.

pnmf runs with k = 20 and ``batch_key='batch'``, otherwise its defaults.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from integration import N_COMPS, N_PCS, real
from scipy import sparse

import pnmf

HERE = Path(__file__).resolve().parent
N_RESPONSE_GENES = 30
N_TOP_GENES = 6


def planted(seed: int, effect: float) -> dict:
    """Fit synthetic batches with a response in batch_1; where does the response's factor rank among its shifts?"""
    adata = pnmf.datasets.nested_populations(
        4000, 1500, n_types=5, n_subtypes=2, n_batches=3, batch_effect=0.5, batch_specific_types=1, random_state=seed
    )
    response = np.random.default_rng(seed).choice(adata.n_vars, N_RESPONSE_GENES, replace=False)
    responding = (adata.obs["batch"] == "batch_1").to_numpy()
    X = adata.X.tolil()
    for gene in response:
        X[responding, gene] = X[responding, gene].toarray() + effect
    adata.X = sparse.csr_matrix(X)
    sc.pp.pca(adata, n_comps=N_PCS, random_state=0)
    pnmf.tl.pnmf(adata, N_COMPS, batch_key="batch")
    loadings = pnmf.get.loadings(adata).to_numpy()
    factor = int(np.argmax(loadings[response].sum(axis=0)))
    shifts = pnmf.get.batch_usage(adata).pivot(index="batch", columns="factor", values="shift")
    ranked = shifts.loc["batch_1"].sort_values(ascending=False)
    others = shifts.drop(index="batch_1")[factor]
    return {
        "seed": seed,
        "effect (log)": effect,
        "response factor": factor,
        "its rank in batch_1's shifts": int(ranked.index.get_loc(factor)) + 1,
        "its shift in batch_1": float(shifts.loc["batch_1", factor]),
        "next largest shift in batch_1": float(ranked.drop(factor).iloc[0]),
        "its shift in the other batches (max)": float(others.max()),
    }


def leading_programs(adata) -> pd.DataFrame:
    """For every batch, its two largest shifts at the recommended scale and the factors' top genes."""
    pnmf.tl.pnmf(adata, N_COMPS, batch_key="batch")
    usage = pnmf.get.batch_usage(adata)
    top = pnmf.get.top_genes(adata, n_genes=N_TOP_GENES)
    genes = top.groupby("factor")["gene"].apply(lambda g: ", ".join(g))
    rows = []
    for batch, table in usage.groupby("batch", observed=True):
        for _, row in table.nlargest(2, "shift").iterrows():
            factor = int(row["factor"])
            rows.append(
                {
                    "batch": batch,
                    "cells": int(row["n_cells"]),
                    "factor": factor,
                    "shift": float(row["shift"]),
                    "usage / integrated": f"{row['usage']:.3f} / {row['integrated']:.3f}",
                    "top genes": genes[factor],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-data", type=Path, default=None, help="folder written by benchmarks/batch_data.py")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "batch_programs.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sc.settings.verbosity = 0

    lines = ["# What sets each batch apart: `get.batch_usage`", ""]
    lines += ["Made by `benchmarks/batch_programs.py`; the method and the data are described there.", ""]
    responses = pd.DataFrame([planted(seed, effect) for effect in (1.0, 2.0) for seed in (1, 2, 3)])
    lines += ["## A response planted in 30 genes of batch_1", "", markdown_table(responses, index=False), ""]
    print(lines[-2], flush=True)
    if args.batch_data is not None:
        for name, adata in real(args.batch_data, None):
            table = leading_programs(adata)
            lines += [f"## {name}: the two largest shifts of every batch", "", markdown_table(table, index=False), ""]
            print(lines[-2], flush=True)
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
