"""Harmony's correction in pnmf's factor space: after pnmf's balanced averaging, or instead of it.

Usage::

    python benchmarks/harmony_factors.py --batch-data BATCH_DATA [--out results/harmony_factors.md]

The datasets and their preparation are those of ``benchmarks/integration.py``; the bars are
in ``results/integration.md``. cNMF corrects its factorization with Harmony, and Harmony is
the strongest fast method of that benchmark, so this asks whether running it on pnmf's
embedding (harmonypy, the ``bench`` extra, as ``integration.harmony`` runs it on the PCA)
integrates better than pnmf's own averaging. On each dataset pnmf is fitted with
``batch_key`` twice, with the default ``integration_steps`` and with 0 (the fitted
embedding, not averaged), and the recommended scale of each is scored with scib-metrics as
it is and after Harmony (its corrected coordinates, which can be negative, as they are).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import scanpy as sc
from _markdown import markdown_table, publish
from integration import N_COMPS, harmony, real, synthetic
from quantile_alignment import scores

import pnmf

HERE = Path(__file__).resolve().parent


def recommended(adata, **options) -> np.ndarray:
    """The recommended scale's embedding of ``tl.pnmf`` with ``batch_key='batch'`` and ``options``."""
    work = adata.copy()
    pnmf.tl.pnmf(work, N_COMPS, batch_key="batch", **options)
    manifest = work.uns["pnmf"]
    return np.asarray(work.obsm[manifest["obsm_keys"][int(manifest["recommended_scale"])]])


def corrected(adata, embedding: np.ndarray) -> np.ndarray:
    """Harmony's correction of ``embedding`` across ``adata.obs['batch']``."""
    work = adata.copy()
    work.obsm["X_pca"] = np.asarray(embedding, dtype=np.float64)
    return harmony(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-data", type=Path, default=None, help="folder written by benchmarks/batch_data.py")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "harmony_factors.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sc.settings.verbosity = 0

    datasets = [synthetic(1), synthetic(2)] + ([] if args.batch_data is None else real(args.batch_data, None))
    lines = ["# Harmony in pnmf's factor space (scib-metrics, unscaled)", ""]
    lines += ["Made by `benchmarks/harmony_factors.py`; the question and the steps are described there.", ""]
    for name, adata in datasets:
        averaged = recommended(adata)
        fitted = recommended(adata, integration_steps=0)
        embeddings = {
            "Harmony (on the PCA)": harmony(adata),
            "pnmf (balanced averaging)": averaged,
            "pnmf averaged, then Harmony": corrected(adata, averaged),
            "pnmf not averaged": fitted,
            "pnmf not averaged, then Harmony": corrected(adata, fitted),
        }
        table = scores(adata, {"PCA (unintegrated)": adata.obsm["X_pca"], **embeddings})
        print(f"## {name}\n{markdown_table(table)}", flush=True)
        lines += [f"## {name}", "", markdown_table(table), ""]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
