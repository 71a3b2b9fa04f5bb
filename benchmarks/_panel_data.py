"""The datasets of the evaluation panel, each preprocessed the standard way.

Real data come from ``../shared/data`` (beside the repository) when that folder exists;
without it they are skipped with a message. More real data come from a folder built by
``extra_data.py`` when one is given. ``pbmc68k_reduced`` ships with scanpy; the synthetic
data are generated here, seeded.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scipy import sparse

import pnmf

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = {
    "pollen": ("pollen.h5ad", {"label": "label"}),
    "cellbench": ("cellbench_celseq2_5cl.h5ad", {"label": "label"}),
    "worm_neuron": ("worm_neuron.h5ad", {"label": "label"}),
    "paul15": ("paul15.h5ad", {"label": "label", "coarse": "label_coarse"}),
}


@dataclass
class Dataset:
    """One panel entry: preprocessed data, its label columns (finest first) and how it was made."""

    name: str
    adata: AnnData
    labels: dict[str, str]
    kind: str
    notes: dict = field(default_factory=dict)


def preprocess(adata: AnnData, n_neighbors: int, random_state: int = 0, *, counts: bool = True) -> AnnData:
    """The standard preprocessing of ``shared/data/README.md``: lognorm layer, 2000 HVG, PCA, kNN.

    ``counts=False``: ``X`` already holds log values, which are used as they are.
    """
    if counts:
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    adata.layers["lognorm"] = adata.X.copy()
    n_top = min(2000, adata.n_vars)
    if n_top < adata.n_vars:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top)
    else:
        adata.var["highly_variable"] = True
    sc.pp.pca(adata, n_comps=min(50, adata.n_obs // 2), mask_var="highly_variable", random_state=random_state)
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=random_state)
    return adata


def pbmc(n_neighbors: int | None) -> Dataset:
    """pbmc68k_reduced with log-normalized values from ``raw``; ``None`` keeps its stored 10-NN graph."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.pbmc68k_reduced()
    adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    name = "pbmc68k stored 10-NN"
    if n_neighbors is not None:
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=0)
        name = f"pbmc68k {n_neighbors}-NN"
    # a coarse level: T-cell subsets and NK merged, as the populations a coarser view should keep apart
    coarse = adata.obs["bulk_labels"].astype(str).map(_pbmc_coarse)
    adata.obs["coarse"] = coarse.astype("category")
    return Dataset(name, adata, {"label": "bulk_labels", "coarse": "coarse"}, "real")


def _pbmc_coarse(label: str) -> str:
    if "CD4" in label or "CD8" in label or "NK" in label:
        return "T/NK"
    if "CD14" in label:
        return "monocyte"
    if "CD19" in label:
        return "B"
    if "Dendritic" in label:
        return "dendritic"
    return label


def real(name: str, n_neighbors: int = 15) -> Dataset | None:
    """One of the shared real datasets, or ``None`` when the folder is absent."""
    file, labels = REAL[name]
    path = DATA / file
    if not path.exists():
        return None
    adata = sc.read_h5ad(path)
    adata.X = adata.X.astype(np.float32)
    preprocess(adata, n_neighbors)
    return Dataset(f"{name} {n_neighbors}-NN", adata, labels, "real")


def add_extra_data_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--extra-data``: the folder ``extra_data.py`` wrote (default ``$PNMF_EXTRA_DATA``)."""
    parser.add_argument(
        "--extra-data",
        type=Path,
        default=os.environ.get("PNMF_EXTRA_DATA"),
        help="folder written by extra_data.py (default: $PNMF_EXTRA_DATA; none: those datasets are left out)",
    )


def extra(folder: Path, n_neighbors: int = 15) -> Iterator[Dataset]:
    """The datasets that ``extra_data.py`` wrote to ``folder`` (its ``manifest.json`` names their label columns)."""
    for file, entry in json.loads((folder / "manifest.json").read_text()).items():
        adata = sc.read_h5ad(folder / file)
        adata.X = adata.X.astype(np.float32)
        preprocess(adata, n_neighbors, counts=entry["values"] == "counts")
        labels = {"label": entry["label"]} | ({"coarse": entry["coarse"]} if entry["coarse"] else {})
        yield Dataset(f"{Path(file).stem} {n_neighbors}-NN", adata, labels, "extra")


def nested(n_cells: int, n_types: int, n_subtypes: int, seed: int, fold_change: float = 4.0) -> Dataset:
    """Synthetic counts with a known two-level hierarchy, preprocessed like real data."""
    adata = pnmf.datasets.nested_populations(
        n_cells, 1000, n_types=n_types, n_subtypes=n_subtypes, fold_change=fold_change, random_state=seed
    )
    return _synthetic(adata, f"nested {n_types}×{n_subtypes} n={n_cells} fc={fold_change:g} seed={seed}")


def _synthetic(adata: AnnData, name: str) -> Dataset:
    """A synthetic two-level hierarchy with log values in ``X``: all genes, PCA 30, 15-NN, as the panel fits it."""
    adata.layers["lognorm"] = adata.X.copy()
    adata.var["highly_variable"] = True
    sc.pp.pca(adata, n_comps=30, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    return Dataset(name, adata, {"label": "subtype", "coarse": "cell_type"}, "synthetic")


def separable_hierarchy(n_cells: int, n_types: int, n_subtypes: int, seed: int) -> Dataset:
    """Counts from types whose subtypes k-means on the PCA separates (ARI 0.9 to 1), with unequal sizes.

    Every type switches on 40 marker genes (8-fold) and every subtype 30 of its own (6-fold)
    over 2000 genes with log-normal base rates (mean 1 count per gene before library size);
    type shares are Dirichlet(5) and subtype shares within a type Dirichlet(5), so the
    smallest subtype holds about a tenth of the largest. Unlike ``nested_populations``,
    whose subtypes overlap (a classifier trained on them reaches 0.25 to 0.6 ARI), these
    subtypes are apart, and persistence sees them join into types.
    """
    rng = np.random.default_rng(seed)
    n_genes, n_leaves = 2000, n_types * n_subtypes
    base = rng.lognormal(0.0, 1.2, n_genes)
    base *= 1.0 / base.mean()
    type_shares = rng.dirichlet(np.full(n_types, 5.0))
    shares = np.concatenate([type_shares[t] * rng.dirichlet(np.full(n_subtypes, 5.0)) for t in range(n_types)])
    leaf = rng.choice(n_leaves, size=n_cells, p=shares / shares.sum())
    genes = rng.permutation(n_genes)
    log_fold = np.zeros((n_leaves, n_genes))
    cursor = 0
    for t in range(n_types):
        type_genes = genes[cursor : cursor + 40]
        cursor += 40
        for s in range(n_subtypes):
            log_fold[t * n_subtypes + s, type_genes] = np.log(8.0)
            log_fold[t * n_subtypes + s, genes[cursor : cursor + 30]] = np.log(6.0)
            cursor += 30
    library = rng.lognormal(0.0, 0.3, n_cells)
    counts = rng.poisson(library[:, None] * base[None, :] * np.exp(log_fold[leaf])).astype(np.float32)
    adata = AnnData(sparse.csr_matrix(counts))
    adata.obs["subtype"] = pd.Categorical([f"type_{i // n_subtypes}.{i % n_subtypes}" for i in leaf])
    adata.obs["cell_type"] = pd.Categorical([f"type_{i // n_subtypes}" for i in leaf])
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return _synthetic(adata, f"separable {n_types}×{n_subtypes} n={n_cells} seed={seed}")


def panel(quick: bool = False, extra_data: Path | None = None) -> Iterator[Dataset]:
    """Every dataset of the panel; ``quick`` keeps one graph per real dataset and two synthetic ones.

    ``extra_data``: a folder written by ``extra_data.py``, whose datasets join the real ones.
    """
    yield pbmc(None)
    yield pbmc(15)
    if not quick:
        yield pbmc(30)
    missing = []
    for name in REAL:
        for k in (15,) if quick else (15, 10):
            dataset = real(name, k)
            if dataset is None:
                missing.append(name)
                break
            yield dataset
    if missing:
        print(f"skipped {missing}: {DATA} is absent")
    if extra_data is not None:
        for k in (15,) if quick else (15, 10):
            yield from extra(extra_data, k)
    synthetic = [(3000, 4, 3, 1, 4.0), (3000, 6, 4, 2, 4.0)]
    if not quick:
        synthetic += [(2000, 4, 3, 3, 3.0), (5000, 6, 4, 4, 3.0), (1500, 3, 3, 5, 5.0)]
    for n_cells, n_types, n_subtypes, seed, fold in synthetic:
        yield nested(n_cells, n_types, n_subtypes, seed, fold)
