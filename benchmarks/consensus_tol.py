"""How far ``tl.consensus``'s runs must converge: its programs' stability at two tolerances.

Usage::

    python benchmarks/consensus_tol.py
    python benchmarks/consensus_tol.py --out benchmarks/results/consensus_tol.md

On planted gene programs (``pnmf.datasets.gene_programs``: 5 programs in 2,000 cells ×
1,000 genes, three seeds, standard PCA and 15-NN graph), one ``tl.pnmf`` fit at its default
tolerance (1e-4) with k = 5 (the true number) and k = 8 (more factors than programs), then
``tl.consensus`` of 10 runs with the runs stopped at 1e-4 (the source fit's tolerance)
and at the default (1e-6). Per fit this prints the time of the consensus, the stability of
its programs at the recommended scale (least and median; 0.8 is ``get.programs``'s bar) and
how many reach 0.8, and how well the planted programs are found: each program's largest
cosine with a consensus loading, on its excess over the other programs (least and mean).
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

import pnmf

HERE = Path(__file__).resolve().parent
SEEDS = (1, 2, 3)
N_PROGRAMS = 5
KS = (N_PROGRAMS, 8)
TOLERANCES = (1e-4, None)  # the source's tolerance, and tl.consensus's default


def planted(seed: int) -> sc.AnnData:
    adata = pnmf.datasets.gene_programs(2000, 1000, n_programs=N_PROGRAMS, random_state=seed)
    sc.pp.pca(adata, n_comps=30, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    return adata


def recovery(adata: sc.AnnData, scale: int) -> np.ndarray:
    """Each planted program's largest cosine with a consensus loading, on its excess over the other programs."""
    truth = np.asarray(adata.varm["programs"], dtype=float)
    truth = truth - truth.min(axis=1, keepdims=True)
    truth /= np.linalg.norm(truth, axis=0)
    loadings = np.asarray(adata.varm[f"pnmf_consensus_loadings_{scale}"], dtype=float)
    loadings = loadings / np.maximum(np.linalg.norm(loadings, axis=0), np.finfo(float).tiny)
    return (truth.T @ loadings).max(axis=1)


def measure(seed: int, k: int) -> list[dict]:
    source = planted(seed)
    pnmf.tl.pnmf(source, n_comps=k)
    rows = []
    for tol in TOLERANCES:
        adata = source.copy()
        start = time.perf_counter()
        pnmf.tl.consensus(adata, n_runs=10, tol=tol)
        seconds = time.perf_counter() - start
        manifest = adata.uns["pnmf_consensus"]
        scale = int(manifest["recommended_scale"])
        programs = pnmf.get.programs(adata, scale=scale, n_genes=1)
        stability = programs.groupby("factor")["stability"].first().to_numpy()
        found = recovery(adata, scale)
        rows.append(
            {
                "seed": seed,
                "k": k,
                "runs' tol": f"{float(manifest['params']['tol']):.0e}",
                "consensus (s)": seconds,
                "least stability": stability.min(),
                "median stability": float(np.median(stability)),
                "programs ≥ 0.8": int((stability >= 0.8).sum()),
                "least recovery": found.min(),
                "mean recovery": found.mean(),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "consensus_tol.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    sc.settings.verbosity = 0
    rows = [row for seed in SEEDS for k in KS for row in measure(seed, k)]
    frame = pd.DataFrame(rows)
    report = (
        "## tl.consensus: its programs' stability with the runs stopped at 1e-4 and at 1e-6\n\n"
        "`python benchmarks/consensus_tol.py` (planted programs, 5 in 2,000 cells; 10 runs; 2 cores)\n\n"
        + markdown_table(frame, index=False)
        + "\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
