"""Batch integration scored with scib-metrics: pnmf with ``batch_key`` against the tools users reach for.

Usage::

    python benchmarks/integration.py --batch-data BATCH_DATA [--out results/integration.md] [--only NAME ...]

``BATCH_DATA`` is the folder that ``benchmarks/batch_data.py`` writes (real multi-batch
datasets with cell-type labels, raw counts). Two synthetic sets with a known batch effect are
always added (``pnmf.datasets.nested_populations`` with 3 batches, a per-gene technical
factor of log-sd 0.5, and one cell type present in the first batch only).

Every dataset is prepared the standard way: counts scaled to 10,000 per cell, log1p,
2,000 highly variable genes chosen per batch (``flavor='seurat'``, ``batch_key``), PCA with
30 components. On those cells and genes, each method gives an embedding:

- unintegrated PCA;
- Harmony (``harmonypy.run_harmony`` on the PCA; called directly, as scanpy 1.11's wrapper
  transposes harmonypy 2's output);
- BBKNN (``bbknn.bbknn`` on the PCA); it returns a graph, so it is scored on the 2-D UMAP
  of that graph;
- Scanorama (``scanpy.external.pp.scanorama_integrate`` on the PCA, cells sorted by batch);
- LIGER's iNMF (``pyliger``: counts per batch, its normalization, the same genes,
  ``optimize_ALS`` with k = 20, ``quantile_norm``);
- scikit-learn's NMF (k = 20, NNDSVDa, on cells scaled to unit norm as pnmf scales them;
  W rescaled to unit-norm loadings);
- pnmf without ``batch_key``, at its recommended scale;
- pnmf with ``batch_key``, at every scale (``*`` marks the recommended one).

scib-metrics' ``Benchmarker`` scores them all with its default bio-conservation and
batch-correction metrics, unscaled (``min_max_scale=False``), so that a score does not depend on
which other methods ran. Tools of the ``bench`` extra that are missing are reported as such.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from _markdown import markdown_table, publish
from scipy import sparse

import pnmf

HERE = Path(__file__).resolve().parent
N_COMPS = 20
N_PCS = 30
N_HVG = 2000
SCORES = ["Bio conservation", "Batch correction", "Total", "Isolated labels"]


def prepared(adata: ad.AnnData, *, counts: bool) -> ad.AnnData:
    """Normalize (from counts), choose highly variable genes per batch, and compute the PCA."""
    adata = adata.copy()
    adata.obs["batch"] = adata.obs["batch"].astype(str).astype("category")
    adata.obs["label"] = adata.obs["label"].astype(str).astype("category")
    if counts:
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    else:
        adata.layers["counts"] = adata.X.copy()
    n_top = min(N_HVG, adata.n_vars // 2)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, batch_key="batch", flavor="seurat")
    adata = adata[:, adata.var["highly_variable"]].copy()
    sc.pp.pca(adata, n_comps=N_PCS, random_state=0)
    return adata


def synthetic(seed: int) -> tuple[str, ad.AnnData]:
    data = pnmf.datasets.nested_populations(
        4000, 1500, n_types=5, n_subtypes=2, n_batches=3, batch_effect=0.5, batch_specific_types=1, random_state=seed
    )
    data.obs["label"] = data.obs["cell_type"]
    return f"synthetic, 3 batches, 1 type in one batch (seed {seed})", prepared(data, counts=False)


def real(folder: Path, only: list[str] | None) -> list[tuple[str, ad.AnnData]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    out = []
    for file, entry in manifest.items():
        name = file.removesuffix(".h5ad")
        if only and name not in only:
            continue
        data = ad.read_h5ad(folder / file)
        data.obs["label"] = data.obs[entry["label"]]
        data.obs["batch"] = data.obs[entry["batch"]]
        out.append((name, prepared(data, counts=entry["values"] == "counts")))
    return out


# the methods: each returns an embedding (cells × dimensions) in the AnnData's cell order


def unintegrated(adata: ad.AnnData) -> np.ndarray:
    return adata.obsm["X_pca"]


def harmony(adata: ad.AnnData) -> np.ndarray:
    import harmonypy

    corrected = np.asarray(
        harmonypy.run_harmony(adata.obsm["X_pca"], adata.obs, "batch", random_state=0, verbose=False).Z_corr
    )
    return corrected if corrected.shape[0] == adata.n_obs else corrected.T


def bbknn_umap(adata: ad.AnnData) -> np.ndarray:
    import bbknn

    work = ad.AnnData(obs=adata.obs[["batch"]].copy(), obsm={"X_pca": adata.obsm["X_pca"]}, shape=(adata.n_obs, 0))
    bbknn.bbknn(work, batch_key="batch", use_rep="X_pca")
    sc.tl.umap(work, random_state=0)
    return work.obsm["X_umap"]


def scanorama(adata: ad.AnnData) -> np.ndarray:
    import scanpy.external as sce

    order = np.argsort(adata.obs["batch"].to_numpy(), kind="stable")
    work = ad.AnnData(  # scanpy's wrapper reads the number of cells from X
        sparse.csr_matrix((adata.n_obs, 1)),
        obs=adata.obs[["batch"]].iloc[order].copy(),
        obsm={"X_pca": adata.obsm["X_pca"][order]},
    )
    sce.pp.scanorama_integrate(work, "batch", basis="X_pca", verbose=0)
    embedding = np.empty_like(work.obsm["X_scanorama"])
    embedding[order] = work.obsm["X_scanorama"]
    return embedding


def liger(adata: ad.AnnData) -> np.ndarray:
    import pyliger

    parts, cells = [], []
    for batch in adata.obs["batch"].cat.categories:
        mask = (adata.obs["batch"] == batch).to_numpy()
        part = ad.AnnData(
            sparse.csr_matrix(adata.layers["counts"][mask]),
            obs=pd.DataFrame(index=pd.Index(adata.obs_names[mask], name="barcodes")),
            var=pd.DataFrame(index=pd.Index(adata.var_names, name="genes")),
        )
        part.uns["sample_name"] = str(batch)
        parts.append(part)
        cells.append(np.flatnonzero(mask))
    model = pyliger.create_liger(parts, remove_missing=False)
    pyliger.normalize(model)
    model.var_genes = list(adata.var_names)
    pyliger.scale_not_center(model)
    pyliger.optimize_ALS(model, k=N_COMPS)
    pyliger.quantile_norm(model)
    embedding = np.zeros((adata.n_obs, N_COMPS))
    for part, index in zip(model.adata_list, cells, strict=True):
        embedding[index] = part.obsm["H_norm"]
    return embedding


def sklearn_nmf(adata: ad.AnnData) -> np.ndarray:
    from sklearn.decomposition import NMF
    from sklearn.preprocessing import normalize

    X = normalize(sparse.csr_matrix(adata.X), norm="l2")
    model = NMF(N_COMPS, init="nndsvda", max_iter=400, random_state=0)
    W = model.fit_transform(X)
    return W * np.linalg.norm(model.components_, axis=1)  # the scale of unit-norm loadings


def pnmf_plain(adata: ad.AnnData) -> np.ndarray:
    work = adata.copy()
    pnmf.tl.pnmf(work, N_COMPS)
    manifest = work.uns["pnmf"]
    return work.obsm[manifest["obsm_keys"][manifest["recommended_scale"]]]


def pnmf_batches(adata: ad.AnnData) -> dict[str, np.ndarray]:
    work = adata.copy()
    pnmf.tl.pnmf(work, N_COMPS, batch_key="batch")
    manifest = work.uns["pnmf"]
    recommended = int(manifest["recommended_scale"])
    return {
        f"pnmf batch_key s{t}" + ("*" if t == recommended else ""): work.obsm[key]
        for t, key in enumerate(manifest["obsm_keys"])
    }


METHODS: dict[str, Callable] = {
    "PCA (unintegrated)": unintegrated,
    "Harmony": harmony,
    "BBKNN (UMAP)": bbknn_umap,
    "Scanorama": scanorama,
    "LIGER iNMF": liger,
    "scikit-learn NMF": sklearn_nmf,
    "pnmf": pnmf_plain,
}


def scib_results(adata: ad.AnnData, embedding_keys: list[str]) -> pd.DataFrame:
    """Every default metric of scib-metrics' ``Benchmarker`` (unscaled) for the embeddings in ``adata.obsm``."""
    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

    bench = Benchmarker(
        adata,
        batch_key="batch",
        label_key="label",
        embedding_obsm_keys=embedding_keys,
        pre_integrated_embedding_obsm_key="X_pca",
        bio_conservation_metrics=BioConservation(),
        batch_correction_metrics=BatchCorrection(),
        n_jobs=1,
        progress_bar=False,
    )
    bench.benchmark()
    return bench.get_results(min_max_scale=False).drop(index="Metric Type", errors="ignore").astype(float)


def run(name: str, adata: ad.AnnData) -> tuple[pd.DataFrame, list[str]]:
    """Every method on one dataset, scored; returns the table and the methods that could not run."""
    seconds, failed = {}, []
    for method, embed in [*METHODS.items(), ("pnmf batch_key", pnmf_batches)]:
        start = time.perf_counter()
        try:
            result = embed(adata)
        except Exception as error:  # a comparison tool that is missing or breaks is reported, not fatal
            failed.append(f"{method}: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
            continue
        elapsed = time.perf_counter() - start
        for key, embedding in (result if isinstance(result, dict) else {method: result}).items():
            adata.obsm[key] = np.asarray(embedding, dtype=np.float64)
            seconds[key] = elapsed
        print(f"  {name}: {method} {elapsed:.1f} s", flush=True)
    table = scib_results(adata, list(seconds))[SCORES]
    table["seconds"] = pd.Series(seconds)
    table.index.name = "method"
    return table, failed


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per dataset: pnmf with batch_key at its recommended scale against Harmony and LIGER, and the issue's bars."""
    rows = []
    for name, table in tables.items():
        ours = table.loc[next(i for i in table.index if i.startswith("pnmf batch_key") and i.endswith("*"))]
        harmony_row = table.loc["Harmony"] if "Harmony" in table.index else None
        liger_row = table.loc["LIGER iNMF"] if "LIGER iNMF" in table.index else None
        batch_bar = liger_row if liger_row is not None else harmony_row
        rows.append(
            {
                "dataset": name,
                "pnmf total": ours["Total"],
                "Harmony total": np.nan if harmony_row is None else harmony_row["Total"],
                "pnmf bio": ours["Bio conservation"],
                "Harmony bio": np.nan if harmony_row is None else harmony_row["Bio conservation"],
                "pnmf batch": ours["Batch correction"],
                "LIGER batch": np.nan if liger_row is None else liger_row["Batch correction"],
                "total ≥ Harmony": harmony_row is not None and ours["Total"] >= harmony_row["Total"],
                "bio ≥ Harmony − 0.02": harmony_row is not None
                and ours["Bio conservation"] >= harmony_row["Bio conservation"] - 0.02,
                "batch ≥ LIGER (else Harmony)": batch_bar is not None
                and ours["Batch correction"] >= batch_bar["Batch correction"],
                "isolated ≥ unintegrated": ours["Isolated labels"]
                >= table.loc["PCA (unintegrated)", "Isolated labels"],
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-data", type=Path, default=None, help="folder written by benchmarks/batch_data.py")
    parser.add_argument("--only", nargs="*", default=None, help="real datasets to run (default: all)")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "integration.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sc.settings.verbosity = 0

    datasets = [] if args.no_synthetic else [synthetic(1), synthetic(2)]
    if args.batch_data is not None:
        datasets += real(args.batch_data, args.only)
    tables, notes = {}, []
    for name, adata in datasets:
        print(f"{name}: {adata.n_obs} cells × {adata.n_vars} genes, {adata.obs['batch'].nunique()} batches", flush=True)
        tables[name], failed = run(name, adata)
        notes += [f"- {name}: {line}" for line in failed]
        print(markdown_table(tables[name]), flush=True)

    lines = ["# Batch integration: scib-metrics scores (unscaled) and time", ""]
    lines += ["Made by `benchmarks/integration.py`; the method and the data are described there.", ""]
    lines += ["## pnmf with batch_key at its recommended scale, against the bars", ""]
    lines += [markdown_table(summary(tables), index=False), ""]
    for name, table in tables.items():
        lines += [f"## {name}", "", markdown_table(table), ""]
    if notes:
        lines += ["## Methods that did not run", "", *notes, ""]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
