"""LIGER's quantile alignment applied after pnmf's balanced averaging: does it close the batch-correction gap?

Usage::

    python benchmarks/quantile_alignment.py --batch-data BATCH_DATA [--out results/quantile_alignment.md]

The datasets and their preparation are those of ``benchmarks/integration.py``. On each, pnmf
is fitted with ``batch_key`` and its recommended scale's (averaged) embedding is scored with
scib-metrics as it is and after a quantile alignment, the step that gives LIGER its batch
correction (Welch et al. 2019; ``quantile_norm``), written here from its description:

- every batch's factors are scaled to unit root mean square (no centring);
- every cell is assigned to its largest factor, then to the most common assignment among
  its 20 nearest cells of the same batch;
- within each assignment held by at least 20 cells of two or more batches, every factor's
  values in a batch are mapped onto target quantiles (50 intervals, linear in between):
  the reference batch's (the largest, LIGER's choice: ``reference``) or the mean of the
  quantiles of the batches that hold the assignment (``pooled``, every batch moved).

Columns: the scib-metrics scores (unscaled) that move; the bars of the integration issue
are in ``results/integration.md``.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from anndata import AnnData
from integration import N_COMPS, real, scib_results, synthetic
from sklearn.neighbors import NearestNeighbors

import pnmf

HERE = Path(__file__).resolve().parent
N_QUANTILES = 50
MIN_CELLS = 20
KNN = 20
COLUMNS = [
    "Isolated labels",
    "KMeans ARI",
    "BRAS",
    "iLISI",
    "KBET",
    "Graph connectivity",
    "PCR comparison",
    "Bio conservation",
    "Batch correction",
    "Total",
]


def scaled_per_batch(usage: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Every batch's factors divided by their root mean square in that batch."""
    out = np.array(usage, dtype=np.float64)
    for batch in np.unique(codes):
        rows = codes == batch
        rms = np.sqrt((out[rows] ** 2).sum(axis=0) / max(rows.sum() - 1, 1))
        out[rows] /= np.where(rms > 0, rms, 1.0)
    return out


def assignments(usage: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Largest factor per cell, then the most common one among its nearest cells of its batch."""
    largest = usage.argmax(axis=1)
    out = largest.copy()
    for batch in np.unique(codes):
        rows = np.flatnonzero(codes == batch)
        k = min(KNN, len(rows))
        nearest = NearestNeighbors(n_neighbors=k).fit(usage[rows]).kneighbors(usage[rows], return_distance=False)
        out[rows] = [np.bincount(votes).argmax() for votes in largest[rows][nearest]]
    return out


def quantile_aligned(usage: np.ndarray, codes: np.ndarray, target: str) -> np.ndarray:
    """LIGER's alignment of ``usage`` (cells × factors) across batches; ``target`` 'reference' or 'pooled'."""
    scaled = scaled_per_batch(usage, codes)
    groups = assignments(scaled, codes)
    reference = np.bincount(codes).argmax()
    levels = np.linspace(0, 1, N_QUANTILES + 1)
    out = scaled.copy()
    for group in np.unique(groups):
        held = {b: rows for b in np.unique(codes) if (rows := (groups == group) & (codes == b)).sum() >= MIN_CELLS}
        if len(held) < 2 or (target == "reference" and reference not in held):
            continue
        for j in range(scaled.shape[1]):
            quantiles = {b: np.quantile(scaled[rows, j], levels) for b, rows in held.items()}
            goal = quantiles[reference] if target == "reference" else np.mean(list(quantiles.values()), axis=0)
            for b, rows in held.items():
                if (target == "pooled" or b != reference) and quantiles[b][-1] > quantiles[b][0]:
                    out[rows, j] = np.interp(scaled[rows, j], quantiles[b], goal)
    return out


def scores(adata, embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    for key, embedding in embeddings.items():
        adata.obsm[key] = np.asarray(embedding, dtype=np.float64)
    return scib_results(adata, list(embeddings))[COLUMNS]


def recommended(adata, **options) -> np.ndarray:
    """The recommended scale's embedding of ``tl.pnmf`` with ``batch_key='batch'`` and ``options``, fitted on a copy."""
    work = adata.copy()
    pnmf.tl.pnmf(work, N_COMPS, batch_key="batch", **options)
    manifest = work.uns["pnmf"]
    return np.asarray(work.obsm[manifest["obsm_keys"][int(manifest["recommended_scale"])]])


def study(description: str, title: str, out: str, embeddings_of: Callable[[AnnData], dict[str, np.ndarray]]) -> None:
    """Score the embeddings ``embeddings_of`` gives on every dataset of ``integration.py`` beside the PCA; publish one table each.

    ``description`` is the calling script's docstring, ``out`` its default results file.
    """
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--batch-data", type=Path, default=None, help="folder written by benchmarks/batch_data.py")
    parser.add_argument("--out", type=Path, default=HERE / "results" / out)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sc.settings.verbosity = 0

    datasets = [synthetic(1), synthetic(2)] + ([] if args.batch_data is None else real(args.batch_data, None))
    script = Path(out).stem
    lines = [f"# {title} (scib-metrics, unscaled)", ""]
    lines += [f"Made by `benchmarks/{script}.py`; the question and the steps are described there.", ""]
    for name, adata in datasets:
        table = scores(adata, {"PCA (unintegrated)": adata.obsm["X_pca"], **embeddings_of(adata)})
        print(f"## {name}\n{markdown_table(table)}", flush=True)
        lines += [f"## {name}", "", markdown_table(table), ""]
    publish("\n".join(lines), args.out)


def aligned(adata: AnnData) -> dict[str, np.ndarray]:
    """The averaged embedding of the recommended scale, as it is and after either alignment."""
    averaged = recommended(adata)
    codes = adata.obs["batch"].cat.codes.to_numpy()
    return {
        "pnmf (balanced averaging)": averaged,
        "+ alignment to the reference batch": quantile_aligned(averaged, codes, "reference"),
        "+ alignment to the pooled quantiles": quantile_aligned(averaged, codes, "pooled"),
    }


if __name__ == "__main__":
    study(__doc__, "LIGER's quantile alignment after pnmf's balanced averaging", "quantile_alignment.md", aligned)
