"""Build the evaluation panel's extra real labelled datasets from their public sources.

Usage::

    python benchmarks/extra_data.py --sources SOURCES --out EXTRA    # then: panel.py --extra-data EXTRA

``SOURCES`` holds the source files under the names of :data:`SOURCES` (download them from
the URLs there; the script lists the missing ones). The two R files need the PyPI package
``rdata`` (``pip install rdata``); without it those datasets are skipped. ``EXTRA`` gets
one ``.h5ad`` per dataset (cells × genes, ``X`` the source's values as float32 CSR, genes
never expressed dropped, labels as strings in ``obs['label']`` and a coarser level in
``obs['label_coarse']`` where there is one) and a ``manifest.json`` naming each file's
label columns and whether ``X`` holds counts or log values.

Labels given only as integer codes are written ``type_<code>``. The CITE-seq cord blood
set is subsampled to 6000 of its 8617 cells (seed 0), the largest size of the panel.
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

GITHUB = "https://github.com/{}/raw/{}/{}"
#: file name → (repository, commit, path): where each source file comes from.
SOURCES = {
    "mouse_bladder_cell_select_2100.h5": (
        "ttgump/scDeepCluster",
        "ff7f29d003be7112c6a3dcab37c44d461423647d",
        "scRNA-seq data/mouse_bladder_cell_select_2100.h5",
    ),
    "human_kidney_counts_top2000.h5": (
        "ttgump/scDCC",
        "142e4e0370f4134751e92a160f95f97fce8db369",
        "data/Small_Datasets/human_kidney_counts_top2000.h5",
    ),
    "CITE_CBMC_counts_top2000.h5": (
        "ttgump/scDCC",
        "142e4e0370f4134751e92a160f95f97fce8db369",
        "data/CITE_PBMC/CITE_CBMC_counts_top2000.h5",
    ),
    "sc_celseq2.count.csv.gz": (
        "LuyiTian/sc_mixology",
        "7d00ffb0bd043467f365a9358d7312f294f13c9f",
        "data/csv/sc_celseq2.count.csv.gz",
    ),
    "sc_celseq2.metadata.csv.gz": (
        "LuyiTian/sc_mixology",
        "7d00ffb0bd043467f365a9358d7312f294f13c9f",
        "data/csv/sc_celseq2.metadata.csv.gz",
    ),
    "sc_dropseq.count.csv.gz": (
        "LuyiTian/sc_mixology",
        "7d00ffb0bd043467f365a9358d7312f294f13c9f",
        "data/csv/sc_dropseq.count.csv.gz",
    ),
    "sc_dropseq.metadata.csv.gz": (
        "LuyiTian/sc_mixology",
        "7d00ffb0bd043467f365a9358d7312f294f13c9f",
        "data/csv/sc_dropseq.metadata.csv.gz",
    ),
    "Baron mouse1.zip": (
        "LiShenghao813/AttentionAE-sc",
        "8bfbbb831db56881c0824fa28b4095eb40bebc02",
        "Data/Baron/Baron mouse1.zip",
    ),
    "Baron mouse2.zip": (
        "LiShenghao813/AttentionAE-sc",
        "8bfbbb831db56881c0824fa28b4095eb40bebc02",
        "Data/Baron/Baron mouse2.zip",
    ),
    "Test_1_mECS.RData": (
        "BatzoglouLabSU/SIMLR",
        "c94b2b1e088caadbca683cc07c4fc700e216a495",
        "data/Test_1_mECS.RData",
    ),
    "iPSC.rda": ("gongx030/scDatasets", "f0204657b18f18f8d5eeb09f93aed749aac482b1", "data/iPSC.rda"),
}

#: Baron et al.'s cell types grouped into lineages, the panel's coarse level for that dataset.
BARON_LINEAGES = {
    "alpha": "endocrine",
    "beta": "endocrine",
    "delta": "endocrine",
    "gamma": "endocrine",
    "ductal": "ductal",
    "endothelial": "endothelial",
    "quiescent_stellate": "stellate",
    "activated_stellate": "stellate",
    "macrophage": "immune",
    "B_cell": "immune",
    "T_cell": "immune",
    "immune_other": "immune",
    "schwann": "schwann",
}
MAX_CELLS = 6000


def to_anndata(X, labels, genes=None, coarse=None, max_cells: int = MAX_CELLS, columns: dict | None = None) -> AnnData:
    """Cells × genes as float32 CSR with string labels; subsampled above ``max_cells``, unexpressed genes dropped.

    ``columns``: more per-cell values (name → values), kept as strings in ``obs``.
    """
    X = sparse.csr_matrix(np.asarray(X, dtype=np.float32) if not sparse.issparse(X) else X, dtype=np.float32)
    obs = pd.DataFrame({"label": pd.Categorical(np.asarray(labels).astype(str))})
    if coarse is not None:
        obs["label_coarse"] = pd.Categorical(np.asarray(coarse).astype(str))
    for name, values in (columns or {}).items():
        obs[name] = pd.Categorical(np.asarray(values).astype(str))
    obs.index = [f"cell_{i}" for i in range(X.shape[0])]
    names = np.asarray(genes).astype(str) if genes is not None else np.array([f"gene_{j}" for j in range(X.shape[1])])
    adata = AnnData(X, obs=obs, var=pd.DataFrame(index=names))
    adata.var_names_make_unique()
    if adata.n_obs > max_cells:
        adata = adata[np.sort(np.random.default_rng(0).choice(adata.n_obs, max_cells, replace=False))].copy()
    return adata[:, np.asarray((adata.X != 0).sum(axis=0)).ravel() > 0].copy()


def coded(path: Path) -> AnnData:
    """An h5 file of ``X`` (cells × genes counts) and integer labels ``Y``, as the scDeepCluster/scDCC data ship."""
    with h5py.File(path) as f:
        return to_anndata(f["X"][:], [f"type_{int(y)}" for y in f["Y"][:]])


def cellbench(count: Path, metadata: Path) -> AnnData:
    """A CellBench 3-cell-line set: genes × cells counts, cell lines from SNPs, demuxlet doublets removed."""
    counts = pd.read_csv(count, index_col=0)
    meta = pd.read_csv(metadata, index_col=0).loc[counts.columns]
    single = (meta["demuxlet_cls"] == "SNG").to_numpy()
    return to_anndata(counts.to_numpy().T[single], meta["cell_line"].to_numpy()[single], genes=counts.index)


def baron_frames(*paths: Path) -> list[pd.DataFrame]:
    """Baron et al.'s mouse pancreases as their archives hold them: one frame per mouse (cells × genes, ``barcode``, ``assigned_cluster``)."""
    frames = []
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            frames.append(pd.read_csv(io.BytesIO(archive.read(archive.namelist()[0])), index_col=0))
    return frames


def baron_genes(frame: pd.DataFrame) -> list[str]:
    """The gene columns of a Baron frame."""
    return [c for c in frame.columns if c not in ("barcode", "assigned_cluster")]


def baron(first: Path, second: Path) -> AnnData:
    """Baron et al.'s two mouse pancreases: counts with cell types, and lineages as the coarse level."""
    frame = pd.concat(baron_frames(first, second))
    genes = baron_genes(frame)
    types = frame["assigned_cluster"].to_numpy()
    return to_anndata(frame[genes].to_numpy(), types, genes=genes, coarse=[BARON_LINEAGES[t] for t in types])


def buettner(path: Path) -> AnnData:
    """Buettner et al.'s mouse ES cells sorted by cell-cycle phase (log expression; codes 1/2/3 = G1/S/G2M)."""
    import rdata

    data = rdata.conversion.convert(rdata.parser.parse_file(path))["Test_1_mECS"]
    phases = {1: "G1", 2: "S", 3: "G2M"}
    return to_anndata(data["in_X"].to_numpy().T, [phases[int(v)] for v in data["true_labs"].iloc[:, 0]])


def ipsc(path: Path) -> AnnData:
    """An iPSC to cardiomyocyte time course (counts, 5 days): read from the SummarizedExperiment's parse tree.

    rdata cannot convert this S4 object, so the assay (the numeric vector of genes × cells
    values), the gene names (a string vector of as many genes) and the day of every cell
    (the integer codes 1–5 of ``colData$group``) are taken from the parsed objects.
    """
    import rdata
    from rdata.parser import RObjectType

    numeric, strings = [], []
    seen: set[int] = set()

    def visit(obj, depth=0):
        if obj is None or id(obj) in seen or depth > 80:
            return
        seen.add(id(obj))
        kind = obj.info.type
        if kind in (RObjectType.REAL, RObjectType.INT):
            numeric.append(np.asarray(obj.value))
        elif kind == RObjectType.STR:
            strings.append([_text(item) for item in obj.value])
        children = [obj.attributes, getattr(obj, "referenced_object", None)]
        value = obj.value
        if isinstance(value, list | tuple):
            children += list(value)
        elif isinstance(value, rdata.parser.RObject):
            children.append(value)
        elif hasattr(value, "__dict__"):  # an environment: its frame and hash table
            children += list(vars(value).values())
        for child in children:
            if isinstance(child, rdata.parser.RObject):
                visit(child, depth + 1)

    visit(rdata.parser.parse_file(path).object)
    days = ["D0", "D6", "D10", "D30", "D60"]
    group = next(v for v in numeric if 100 < len(v) < 10_000 and set(np.unique(v)) == set(range(1, len(days) + 1)))
    n_cells = len(group)
    assay = next(v for v in numeric if len(v) % n_cells == 0 and len(v) > 100 * n_cells)
    n_genes = len(assay) // n_cells
    genes = next(s for s in strings if len(s) == n_genes)
    return to_anndata(assay.reshape((n_genes, n_cells), order="F").T, [days[c - 1] for c in group], genes=genes)


def _text(item) -> str:
    value = item.value
    return value.decode() if isinstance(value, bytes) else str(value)


#: output name → (source files, builder, values in X).
DATASETS: dict[str, tuple[tuple[str, ...], Callable[..., AnnData], str]] = {
    "mouse_bladder_mca_2100": (("mouse_bladder_cell_select_2100.h5",), coded, "counts"),
    "young_human_kidney_top2000": (("human_kidney_counts_top2000.h5",), coded, "counts"),
    "cite_cbmc_rna_top2000": (("CITE_CBMC_counts_top2000.h5",), coded, "counts"),
    "cellbench_celseq2_3cl": (("sc_celseq2.count.csv.gz", "sc_celseq2.metadata.csv.gz"), cellbench, "counts"),
    "cellbench_dropseq_3cl": (("sc_dropseq.count.csv.gz", "sc_dropseq.metadata.csv.gz"), cellbench, "counts"),
    "baron_mouse_pancreas": (("Baron mouse1.zip", "Baron mouse2.zip"), baron, "counts"),
    "buettner_mesc_cellcycle": (("Test_1_mECS.RData",), buettner, "log"),
    "ipsc_cardiomyocyte_timecourse": (("iPSC.rda",), ipsc, "counts"),
}


def build(
    datasets: dict[str, tuple[tuple[str, ...], Callable[..., AnnData], str]],
    sources: dict[str, tuple[str, str, str]],
    folder: Path,
    out: Path,
    describe: Callable[[AnnData, str], tuple[dict, str]],
) -> None:
    """Build every dataset whose source files are in ``folder`` into ``out``, with ``manifest.json``.

    ``describe(adata, values)`` gives a dataset's manifest entry and the line printed for it;
    a missing source file is named with where it comes from.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (files, builder, values) in datasets.items():
        missing = [f for f in files if not (folder / f).exists()]
        if missing:
            for f in missing:
                print(f"{name}: missing {f}, from {GITHUB.format(*sources[f])}")
            continue
        try:
            adata = builder(*(folder / f for f in files))
        except ImportError:
            print(f"{name}: skipped, reading R data needs `pip install rdata`")
            continue
        adata.write_h5ad(out / f"{name}.h5ad", compression="gzip")
        manifest[f"{name}.h5ad"], line = describe(adata, values)
        print(f"{name}: {line}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def describe(adata: AnnData, values: str) -> tuple[dict, str]:
    """A dataset's manifest entry (label columns, values in X) and its line."""
    coarse = "label_coarse" if "label_coarse" in adata.obs else None
    entry = {"label": "label", "coarse": coarse, "values": values}
    return entry, f"{adata.n_obs} cells × {adata.n_vars} genes, {adata.obs['label'].nunique()} labels"


def parser_of(doc: str) -> argparse.ArgumentParser:
    """The command line of a data builder: ``--sources`` and ``--out``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, required=True, help="folder with the downloaded source files")
    parser.add_argument("--out", type=Path, required=True, help="folder for the .h5ad files and manifest.json")
    return parser


def main() -> None:
    args = parser_of(__doc__).parse_args()
    warnings.filterwarnings("ignore")
    build(DATASETS, SOURCES, args.sources, args.out, describe)


if __name__ == "__main__":
    main()
