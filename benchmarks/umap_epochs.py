"""Do the UMAPs of coarser scales, each started from the previous scale's layout, need all of UMAP's epochs?

Usage::

    python benchmarks/umap_epochs.py [--extra-data EXTRA] [--batch-data BATCH_DATA] [--out results/umap_epochs.md]

``pnmf.tl.umap`` lays out the scales fine to coarse and starts each from the layout of the
one before, with :func:`scanpy.tl.umap`'s epochs (500 up to 10,000 cells, 200 above). Here
every dataset is fitted with ``tl.pnmf``'s defaults, the finest scale is laid out as
``tl.umap`` lays it out, and scales 1 to 7 are laid out from the previous layout with 1,
1/2, 1/4 and 1/8 of scanpy's epochs (the same neighbour graphs, built as ``tl.umap`` builds
them). Each layout is scored on up to 3,000 sampled cells by how many of a cell's 15
nearest cells in the scale's embedding are among its 15 nearest in the layout (neighbour
preservation) and by the silhouette of the labels in the layout; the table gives their
means over scales 1 to 7 and the time of those seven layouts.

Data: pbmc68k_reduced (15-NN graph), paul15 and the worm neurons of the shared data
folder (when it exists), the CITE-seq cord blood cells of ``--extra-data`` and the five
donors' PBMCs of ``--batch-data`` (fitted without ``batch_key``), when given.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _markdown import markdown_table, publish  # noqa: E402
from _panel_data import add_extra_data_argument, extra, pbmc, real  # noqa: E402

import pnmf  # noqa: E402
from pnmf.tl._inputs import scratch_neighbors  # noqa: E402
from pnmf.tl._umap import UMAP_SPECTRAL_CELLS  # noqa: E402

FRACTIONS = (1.0, 0.5, 0.25, 0.125)
N_NEIGHBORS = 15
N_SAMPLE = 3000
EXTRA = ("cite_cbmc_rna_top2000",)
BATCH = ("kang_pbmc_5donors",)


def datasets(extra_data: Path | None, batch_data: Path | None) -> list[tuple[str, sc.AnnData, str]]:
    """``(name, preprocessed AnnData, label column)`` for every dataset found."""
    found = []
    entry = pbmc(N_NEIGHBORS)
    found.append((entry.name, entry.adata, entry.labels["label"]))
    for name in ("paul15", "worm_neuron"):
        entry = real(name)
        if entry is not None:
            found.append((entry.name, entry.adata, entry.labels["label"]))
    if extra_data is not None:
        found += [(e.name, e.adata, e.labels["label"]) for e in extra(extra_data) if e.name.split(" ")[0] in EXTRA]
    if batch_data is not None:
        from integration import real as batch_sets  # the bench extra: scib-metrics and friends

        for name, adata in batch_sets(batch_data, list(BATCH)):
            adata.layers["lognorm"] = adata.X.copy()  # its X holds the log values
            sc.pp.neighbors(adata, n_neighbors=N_NEIGHBORS, random_state=0)
            found.append((name, adata, "label"))
    return found


def neighbor_preservation(points: np.ndarray, layout: np.ndarray, sample: np.ndarray) -> float:
    """Mean share of each sampled cell's 15 nearest cells in ``points`` that are among its 15 nearest in ``layout``."""
    shared = []
    for space in (points, layout):
        search = NearestNeighbors(n_neighbors=N_NEIGHBORS + 1).fit(space)
        shared.append(search.kneighbors(space[sample], return_distance=False)[:, 1:])
    return float(np.mean([len(np.intersect1d(a, b)) / N_NEIGHBORS for a, b in zip(*shared, strict=True)]))


def laid_out(points: np.ndarray, init_pos, epochs: int | None) -> np.ndarray:
    """The layout ``tl.umap`` makes of one scale (its graph and UMAP), with ``epochs`` (``None``: scanpy's)."""
    scratch = scratch_neighbors(points, N_NEIGHBORS, 0)
    sc.tl.umap(scratch, min_dist=0.5, init_pos=init_pos, random_state=0, maxiter=epochs)
    return scratch.obsm["X_umap"]


def rows(name: str, adata: sc.AnnData, label: str) -> list[dict]:
    """One row per fraction of the epochs: the warm scales' mean scores and time."""
    pnmf.tl.pnmf(adata, layer="lognorm")
    embeddings = [np.asarray(adata.obsm[key], dtype=np.float64) for key in adata.uns["pnmf"]["obsm_keys"]]
    labels = adata.obs[label].to_numpy()
    n_cells = adata.n_obs
    sample = np.random.default_rng(0).choice(n_cells, min(n_cells, N_SAMPLE), replace=False)
    default_epochs = 500 if n_cells <= 10_000 else 200  # scanpy's
    first = laid_out(embeddings[0], "spectral" if n_cells <= UMAP_SPECTRAL_CELLS else "pca", None)
    table = []
    for fraction in FRACTIONS:
        epochs = max(1, round(fraction * default_epochs))
        layout, preservation, silhouette = first, [], []
        start = time.perf_counter()
        for points in embeddings[1:]:
            layout = laid_out(points, layout, epochs)
            preservation.append(neighbor_preservation(points, layout, sample))
            silhouette.append(float(silhouette_score(layout[sample], labels[sample])))
        table.append(
            {
                "dataset": name,
                "cells": n_cells,
                "epochs of scales 1–7": epochs,
                "neighbour preservation": np.mean(preservation),
                "lowest scale's preservation": np.min(preservation),
                "label silhouette": np.mean(silhouette),
                "seconds (7 layouts, scores included)": time.perf_counter() - start,
            }
        )
        print(table[-1], flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_extra_data_argument(parser)
    parser.add_argument("--batch-data", type=Path, default=None, help="folder written by benchmarks/batch_data.py")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "umap_epochs.md")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = [row for entry in datasets(args.extra_data, args.batch_data) for row in rows(*entry)]
    publish(
        "## Epochs of the warm-started UMAPs of scales 1 to 7 (2 cores)\n\n"
        "`python benchmarks/umap_epochs.py`, the method in the script's docstring.\n\n"
        + markdown_table(pd.DataFrame(table), index=False)
        + "\n",
        args.out,
    )


if __name__ == "__main__":
    main()
