"""New cells on a fitted reference (``pnmf.tl.project``): faithfulness, label transfer and time.

Usage::

    python benchmarks/projection.py                  # accuracy tables, then 100k onto 100k
    python benchmarks/projection.py --skip-timing    # accuracy tables only
    python benchmarks/projection.py --timing-cells 20000

Accuracy. Every dataset is split 80/20 at random (seeded). The reference (80 %) gets a
``tl.pnmf`` fit with defaults and ``tl.leiden``; the query (20 %) is projected onto it from
its expression alone. A joint fit of all cells (PCA, graph, fit and clustering) is the
yardstick. Two ways to make the reference: ``shared``, the reference cells keep the PCA of
all cells and the kNN graph among themselves (the subset of the joint graph); ``own``, the
reference gets its own PCA and kNN graph, as an atlas built before the query existed. Per
scale:

* ``self cos``: median cosine between the reference cells' fitted embeddings and their
  projection onto their own reference;
* ``acc proj``: a 15-NN classifier of the labels trained on the reference cells'
  embeddings, scored on the projected query cells;
* ``acc joint``: the same classifier, 5-fold cross-validated on the joint fit, scored on
  the query cells;
* ``ARI``: the transferred clusters of the query against the joint fit's clusters of the
  same cells;
* ``ARI ref``: the reference's own clusters against the joint fit's clusters of the
  reference cells: how far the two fits' clusterings differ before any transfer.

Timing. Synthetic counts (2000 genes, ~10 % nonzeros): a reference of N cells fitted with
defaults, then N new cells projected, twice (the first call compiles NN-descent's kernels);
the fit's wall time per scale against the projection and its stages (``neighbours``: in the
PCA; ``transfer``: neighbours in the finest embedding, votes and UMAP positions).

Real data are read from ``../shared/data`` beside the repository when it exists.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

import pnmf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import markdown_table, publish
from _panel_data import DATA, REAL

HERE = Path(__file__).resolve().parent


def table(rows: list[dict]) -> str:
    return markdown_table(pd.DataFrame(rows), index=False)


def _reference_preprocessing(adata, n_neighbors: int) -> None:
    n_comps = min(50, adata.n_obs // 2, adata.n_vars - 1)
    mask = "highly_variable" if "highly_variable" in adata.var else None
    sc.pp.pca(adata, n_comps=n_comps, mask_var=mask, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1.0)


def datasets():
    """(name, AnnData with a 'lognorm' layer and X ready for PCA, label column, neighbours; None: stored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pbmc = sc.datasets.pbmc68k_reduced()
    pbmc.layers["lognorm"] = pbmc.raw[:, pbmc.var_names].X
    yield "pbmc68k stored 10-NN", pbmc, "bulk_labels", None
    yield "pbmc68k 15-NN", pbmc, "bulk_labels", 15
    for name, (file, labels) in REAL.items():
        path = DATA / file
        if not path.exists():
            print(f"skipped {name}: {DATA} is absent")
            continue
        adata = sc.read_h5ad(path)
        adata.X = adata.X.astype(np.float32)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        adata.layers["lognorm"] = adata.X.copy()
        if adata.n_vars > 2000:
            sc.pp.highly_variable_genes(adata, n_top_genes=2000)
        yield name, adata, labels["label"], 15
    synthetic = pnmf.datasets.nested_populations(20_000, 1000, n_types=6, n_subtypes=4, random_state=0)
    synthetic.layers["lognorm"] = synthetic.X.copy()
    yield "nested 6×4, 20k cells", synthetic, "subtype", 15


def fitted(adata, n_neighbors: int | None):
    """A copy of ``adata`` fitted and clustered, with its own PCA and graph unless ``n_neighbors`` is None."""
    adata = adata.copy()
    if n_neighbors is not None:
        _reference_preprocessing(adata, n_neighbors)
    pnmf.tl.pnmf(adata, layer="lognorm")
    pnmf.tl.leiden(adata)
    return adata


def accuracy_rows(name: str, adata, label: str, n_neighbors: int | None, variant: str) -> list[dict]:
    """Rows of one dataset and one way of making the reference; ``n_neighbors=None`` keeps the stored PCA and graph."""
    query = np.random.default_rng(0).random(adata.n_obs) < 0.2
    adata = adata.copy()
    if n_neighbors is not None:
        _reference_preprocessing(adata, n_neighbors)
    joint = fitted(adata, None)
    reference = fitted(adata[~query], (n_neighbors or 10) if variant == "own" else None)
    new = adata[query].copy()
    start = time.perf_counter()
    pnmf.tl.project(new, reference)
    seconds = time.perf_counter() - start
    own = reference.copy()
    pnmf.tl.project(own, reference, key_added="own")
    labels = adata.obs[label].astype(str).to_numpy()
    rows = []
    for t in range(len(reference.uns["pnmf"]["obsm_keys"])):
        embedding = f"X_pnmf_{t}"
        classifier = KNeighborsClassifier(15).fit(reference.obsm[embedding], labels[~query])
        cv = (
            cross_val_predict(KNeighborsClassifier(15), joint.obsm[embedding], labels, cv=5)
            if t < len(joint.uns["pnmf"]["obsm_keys"])
            else None
        )
        clusters = f"pnmf_leiden_{t}"
        rows.append(
            {
                "dataset": name,
                "reference": variant,
                "scale": t,
                "self cos": float(np.median(_cosine(own.obsm[f"X_own_{t}"], reference.obsm[embedding]))),
                "acc proj": float(np.mean(classifier.predict(new.obsm[embedding]) == labels[query])),
                "acc joint": float(np.mean(cv[query] == labels[query])) if cv is not None else np.nan,
                "ARI": float(adjusted_rand_score(new.obs[clusters], joint.obs[clusters].to_numpy()[query]))
                if clusters in joint.obs
                else np.nan,
                "ARI ref": float(adjusted_rand_score(reference.obs[clusters], joint.obs[clusters].to_numpy()[~query]))
                if clusters in joint.obs
                else np.nan,
                "clusters ref/joint": f"{reference.obs[clusters].nunique()}/{joint.obs[clusters].nunique() if clusters in joint.obs else '-'}",
                "project s": seconds,
            }
        )
    return rows


def timing_rows(n_cells: int) -> list[dict]:
    adata = pnmf.datasets.nested_populations(2 * n_cells, 2000, n_types=6, n_subtypes=4, density=0.1, random_state=0)
    reference, new = adata[:n_cells].copy(), adata[n_cells:].copy()
    del adata
    _reference_preprocessing(reference, 15)
    start = time.perf_counter()
    pnmf.tl.pnmf(reference)
    fit = time.perf_counter() - start
    n_scales = len(reference.uns["pnmf"]["obsm_keys"])
    pnmf.tl.leiden(reference)
    rows = []
    for run in ("first", "again"):  # the first call compiles NN-descent's kernels
        query = new.copy()
        start = time.perf_counter()
        pnmf.tl.project(query, reference)
        project = time.perf_counter() - start
        stages = query.uns["pnmf"]["timings"]
        rows.append(
            {
                "cells (reference, query)": f"{n_cells:,}, {n_cells:,}",
                "run": run,
                "fit s": fit,
                "fit s per scale": fit / n_scales,
                "project s": project,
                "inputs s": float(stages["inputs"]),
                "neighbours s": float(stages["neighbors"]),
                "solve s": float(stages["solve"]),
                "transfer s": float(stages["transfer"]),
                "peak RSS GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--timing-cells", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "projection.md")
    args = parser.parse_args()
    sc.settings.verbosity = 0
    parts = []
    if not args.skip_accuracy:
        rows = [
            row
            for name, adata, label, k in datasets()
            for variant in ("shared", "own")
            for row in accuracy_rows(name, adata, label, k, variant)
        ]
        parts.append("## Projection against a joint fit (80/20 split)\n\n" + table(rows))
        worst = {}
        for row in rows:
            entry = worst.setdefault(
                (row["dataset"], row["reference"]),
                {"min self cos": 1.0, "max acc gap": -1.0, "min ARI": 1.0, "min ARI ref": 1.0},
            )
            entry["min self cos"] = min(entry["min self cos"], row["self cos"])
            entry["max acc gap"] = max(entry["max acc gap"], row["acc joint"] - row["acc proj"])
            entry["min ARI"] = min(entry["min ARI"], row["ARI"])
            entry["min ARI ref"] = min(entry["min ARI ref"], row["ARI ref"])
        summary = [{"dataset": d, "reference": v, **values} for (d, v), values in worst.items()]
        parts.append("## Worst scale per dataset\n\n" + table(summary))
    if not args.skip_timing:
        start_load = os.getloadavg()[0]
        rows = timing_rows(args.timing_cells)
        load = f"load average {start_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        parts.append(f"## {args.timing_cells:,} cells onto {args.timing_cells:,} ({load})\n\n" + table(rows))
    text = "\n\n".join(parts) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
