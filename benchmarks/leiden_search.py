"""``tl.leiden`` from one neighbour search against a search per scale: the same clusters, and their cost.

Usage::

    python benchmarks/leiden_search.py [--extra-data EXTRA] [--out results/leiden_search.md] [--sizes 50000]

``tl.leiden`` searches neighbours once, on the finest scale, for 3 × ``n_neighbors``
candidates per cell, and builds every scale's kNN graph from the candidates nearest in that
scale's embedding (``pnmf._core.neighbors``). The rule it replaces searched every scale's
embedding anew with :func:`scanpy.pp.neighbors`. For every dataset of the quick evaluation
panel (and the extra data when given) this fits ``tl.pnmf`` with its defaults, clusters with
both (``method='nested'``, the defaults otherwise), and reports the ARI between the two at
every scale, their cluster counts and their times. As a floor, the old rule is run again with
every graph weight moved by a relative 1e-6 (seeded noise): Leiden and the votes move some
cells on differences of that size, so an ARI below 1 at that level is noise, not the rule. With ``--sizes``, the cached data of
``scaling.py --separated`` (four separated types) at those sizes are clustered both ways too.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from _panel_data import Dataset, add_extra_data_argument, panel
from anndata import AnnData
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

import pnmf
from pnmf._core.hierarchy import by_size, merge_across_scales
from pnmf.tl._inputs import scratch_neighbors

HERE = Path(__file__).resolve().parent


def search_per_scale(adata: AnnData, graphs: list[sparse.csr_matrix], resolution: float = 1.0) -> list[np.ndarray]:
    """The rule before one search (Leiden on the finest scale's graph, merged and voted through ``graphs``)."""
    manifest = adata.uns["pnmf"]
    embeddings = [np.asarray(adata.obsm[key], dtype=np.float64) for key in manifest["obsm_keys"]]
    scratch = AnnData(shape=(adata.n_obs, 0))
    sc.tl.leiden(
        scratch, resolution, adjacency=graphs[0], flavor="igraph", n_iterations=2, directed=False, random_state=0
    )
    finest = by_size(scratch.obs["leiden"].to_numpy().astype(int))
    return merge_across_scales(embeddings, finest, np.asarray(manifest["thresholds"]), graphs=graphs)


def jittered(graph: sparse.csr_matrix, relative: float = 1e-6) -> sparse.csr_matrix:
    """``graph`` with every weight moved by a relative ``relative`` (seeded, symmetric): rounding-sized noise."""
    noise = sparse.triu(graph, format="csr")
    noise.data = np.random.default_rng(0).uniform(-relative, relative, len(noise.data)) * noise.data
    return graph + noise + noise.T


def compare(name: str, adata: AnnData, n_neighbors: int = 15) -> dict:
    """Cluster a fitted AnnData both ways, and the old way on weights moved by rounding-sized noise; one summary row."""
    embeddings = [adata.obsm[key] for key in adata.uns["pnmf"]["obsm_keys"]]
    start = time.perf_counter()
    graphs = [sparse.csr_matrix(scratch_neighbors(E, n_neighbors, 0).obsp["connectivities"]) for E in embeddings]
    before = search_per_scale(adata, graphs)
    seconds_before = time.perf_counter() - start
    noisy = search_per_scale(adata, [jittered(graph) for graph in graphs])
    start = time.perf_counter()
    pnmf.tl.leiden(adata, n_neighbors=n_neighbors)
    seconds_now = time.perf_counter() - start
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    now = [adata.obs[key].to_numpy() for key in summary["obs_keys"]]
    ari = [adjusted_rand_score(a, b) for a, b in zip(before, now, strict=True)]
    floor = [adjusted_rand_score(a, b) for a, b in zip(before, noisy, strict=True)]
    return {
        "dataset": name,
        "cells": adata.n_obs,
        "ARI per scale": " ".join(f"{v:.2f}" for v in ari),
        "min ARI": min(ari),
        "mean ARI": float(np.mean(ari)),
        "min ARI, weights × (1 ± 1e-6)": min(floor),
        "clusters, a search per scale": " → ".join(str(len(np.unique(level))) for level in before),
        "clusters, one search": " → ".join(map(str, summary["n_clusters"])),
        "a search per scale (s)": seconds_before,
        "one search (s)": seconds_now,
    }


def fitted(dataset: Dataset) -> AnnData:
    """The dataset fitted with ``tl.pnmf``'s defaults."""
    adata = dataset.adata
    pnmf.tl.pnmf(adata, layer="lognorm" if "lognorm" in adata.layers else None)
    return adata


def separated(sizes: Sequence[int], cache: Path) -> list[dict]:
    """Both rules on the cached separated data of ``scaling.py --separated``."""
    import anndata as ad
    import scaling

    scaling.SEPARATED = True  # its cache names the separated data so
    rows = []
    for n_cells in sizes:
        adata = ad.read_h5ad(scaling.cache_path(cache, n_cells))
        pnmf.tl.pnmf(adata)
        rows.append(compare(f"separated, {n_cells:,} cells", adata))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_extra_data_argument(parser)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "leiden_search.md")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="sizes of the separated data to add")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for dataset in panel(quick=True, extra_data=args.extra_data):
        rows.append(compare(dataset.name, fitted(dataset)))
        print(rows[-1], flush=True)
    rows += separated(args.sizes, args.cache)
    report = "\n".join(
        [
            "## Clusters at every scale from one neighbour search, against a search per scale",
            "",
            markdown_table(pd.DataFrame(rows), index=False),
            "",
            f"Mean of the per-dataset minimum ARI: {np.mean([r['min ARI'] for r in rows]):.3f}; "
            f"lowest: {min(r['min ARI'] for r in rows):.3f}. With the old rule on weights × (1 ± 1e-6): "
            f"mean {np.mean([r['min ARI, weights × (1 ± 1e-6)'] for r in rows]):.3f}, "
            f"lowest {min(r['min ARI, weights × (1 ± 1e-6)'] for r in rows):.3f}.",
            "",
        ]
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
