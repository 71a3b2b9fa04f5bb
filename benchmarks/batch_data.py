"""Build real multi-batch labelled datasets for the batch-integration benchmark from their public sources.

Usage::

    python benchmarks/batch_data.py --sources SOURCES --out OUT

``SOURCES`` holds the source files under the names of :data:`SOURCES` (repository, commit
and path on GitHub for each; the script lists the missing ones). The R files need the PyPI
package ``rdata`` (``pip install rdata``); without it those datasets are skipped. ``OUT``
gets one ``.h5ad`` per dataset (cells × genes, ``X`` raw counts as float32 CSR, genes never
expressed dropped, cell types as strings in ``obs['label']``, a coarser level in
``obs['label_coarse']`` where there is one, the batch as strings in ``obs['batch']``) and
a ``manifest.json`` naming each file's label, coarse-label and batch columns, other
per-cell covariates, and whether ``X`` holds counts.

The datasets and their sources:

``cellbench_lung_5batches``
    Tian et al., *Benchmarking single cell RNA-sequencing analysis pipelines using mixture
    control experiments*, Nature Methods 16, 479–487 (2019): human lung adenocarcinoma
    cell lines, labels from SNP demultiplexing (demuxlet singlets only). Five batches over
    two protocols: CEL-seq2 and Drop-seq of three lines (H1975, H2228, HCC827), and three
    CEL-seq2 plates of five lines (those three plus A549 and H838, so two labels exist in
    three batches only). The files keep different gene sets (each protocol's own
    filtering), so only the genes present in all five are kept. Repository
    LuyiTian/sc_mixology, commit 7d00ffb0bd043467f365a9358d7312f294f13c9f,
    ``data/csv/{sc_celseq2,sc_dropseq,sc_celseq2_5cl_p1,sc_celseq2_5cl_p2,
    sc_celseq2_5cl_p3}.{count,metadata}.csv.gz``. (The 10x batches of the study,
    ``sc_10x*.count.csv.gz``, are left out: their files are too large for the stored
    snapshots this was built from.)
``baron_mouse_pancreas_2donors``
    Baron et al., *A single-cell transcriptomic map of the human and mouse pancreas
    reveals inter- and intra-cell population structure*, Cell Systems 3, 346–360 (2016),
    GEO GSE84133: inDrop counts of two mice (GSM2230761 mouse1, GSM2230762 mouse2) with
    the authors' cell types, lineages as the coarse level; the batch is the mouse.
    Repository LiShenghao813/AttentionAE-sc, commit
    8bfbbb831db56881c0824fa28b4095eb40bebc02, ``Data/Baron/Baron mouse1.zip`` and
    ``Data/Baron/Baron mouse2.zip``.
``pbmc_10x_3chemistries``
    Three 10x Genomics PBMC data sets of three donors with three chemistries (3' v2
    ``pbmc8k``, 3' v3 ``pbmc_10k_v3``, 5' ``vdj_v1_hs_pbmc2_5gex_protein``), with three
    broad cell types (monocytes, T/NK cells, B cells), as sub-sampled (2,000 cells,
    10,000 genes) for the ``pbmc_prep`` data of the SAVERCAT R package: Huang, Zhang and
    Zhang, *Dimension reduction and denoising of single-cell RNA sequencing data in the
    presence of observed confounding variables*, bioRxiv 2020.08.03.234765 (2020); the
    batch is the chemistry. Repository Janezjz/SAVERCAT, commit
    f0d113435307d69831b4ca6ba8479430f0031de8, ``data/pbmc_prep.rda``.
``kang_pbmc_ifnb``
    Kang et al., *Multiplexed droplet single-cell RNA-sequencing using natural genetic
    variation*, Nature Biotechnology 36, 89–94 (2018), GEO GSE96583: PBMCs of lupus
    patients, control and IFN-β stimulated for 6 h; the subset of two donors (101, 107)
    and five cell types shipped as ``example_sce`` in muscat (Crowell et al., Nature
    Communications 11, 6077, 2020). The batch is the condition (ctrl/stim), the donor
    is kept in ``obs['donor']``. Repository HelenaLC/muscat, commit
    7d68329bf1cd13fc6cda2a8f857bf90a605200e9, ``data/example_sce.rda``.
``kang_pbmc_5donors``
    Kang et al. (2018) as above: a larger subset of five donors and four cell types
    (counts of 2,511 genes) from an early version of muscat's example data; it records
    no condition, and its share of interferon-stimulated gene counts (ISG15, IFI6, MX1,
    ISG20, LY6E) is that of the control cells of ``kang_pbmc_ifnb``. The batch is the
    donor (the donors were pooled in one run, so this batch effect is donor biology more
    than technique). Repository HelenaLC/muscat, commit
    894ad198fbcedbf7e39c1c20e58cdc049b5f5d2c, ``data/kang.rda``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import extra_data
import numpy as np
import pandas as pd
from anndata import AnnData
from extra_data import BARON_LINEAGES, baron_frames, baron_genes
from scipy import sparse

_MIXOLOGY = ("LuyiTian/sc_mixology", "7d00ffb0bd043467f365a9358d7312f294f13c9f")
#: CellBench batch name → the file stem of its count and metadata files.
CELLBENCH_BATCHES = {
    "CEL-seq2_3cl": "sc_celseq2",
    "Drop-seq_3cl": "sc_dropseq",
    "CEL-seq2_5cl_p1": "sc_celseq2_5cl_p1",
    "CEL-seq2_5cl_p2": "sc_celseq2_5cl_p2",
    "CEL-seq2_5cl_p3": "sc_celseq2_5cl_p3",
}
#: file name → (repository, commit, path): where each source file comes from.
SOURCES = {
    **{
        f"{stem}.{kind}.csv.gz": (*_MIXOLOGY, f"data/csv/{stem}.{kind}.csv.gz")
        for stem in CELLBENCH_BATCHES.values()
        for kind in ("count", "metadata")
    },
    **{name: extra_data.SOURCES[name] for name in ("Baron mouse1.zip", "Baron mouse2.zip")},
    "pbmc_prep.rda": ("Janezjz/SAVERCAT", "f0d113435307d69831b4ca6ba8479430f0031de8", "data/pbmc_prep.rda"),
    "example_sce.rda": ("HelenaLC/muscat", "7d68329bf1cd13fc6cda2a8f857bf90a605200e9", "data/example_sce.rda"),
    "kang.rda": ("HelenaLC/muscat", "894ad198fbcedbf7e39c1c20e58cdc049b5f5d2c", "data/kang.rda"),
}

#: Kang et al.'s PBMC cell types grouped into lineages.
KANG_LINEAGES = {
    "B cells": "B",
    "CD4 T cells": "T",
    "CD8 T cells": "T",
    "NK cells": "NK",
    "CD14+ Monocytes": "monocyte",
    "FCGR3A+ Monocytes": "monocyte",
}


def to_anndata(X, labels, batches, genes, coarse=None, covariates: dict | None = None) -> AnnData:
    """Cells × genes counts as float32 CSR with string labels and batches, every cell kept; genes never expressed dropped."""
    columns = {"batch": batches, **(covariates or {})}
    return extra_data.to_anndata(X, labels, genes, coarse, max_cells=len(labels), columns=columns)


def cellbench(*paths: Path) -> AnnData:
    """CellBench's five CEL-seq2/Drop-seq batches: demuxlet singlets, genes present in every batch."""
    by_name = {p.name: p for p in paths}
    frames, labels, batches = [], [], []
    for batch, stem in CELLBENCH_BATCHES.items():
        counts = pd.read_csv(by_name[f"{stem}.count.csv.gz"], index_col=0)
        meta = pd.read_csv(by_name[f"{stem}.metadata.csv.gz"], index_col=0).loc[counts.columns]
        single = (meta["demuxlet_cls"] == "SNG").to_numpy()
        frames.append(counts.loc[:, single])
        labels.append(meta["cell_line_demuxlet"].to_numpy()[single])
        batches.append(np.full(single.sum(), batch))
    genes = sorted(set.intersection(*(set(f.index) for f in frames)))
    X = np.vstack([f.loc[genes].to_numpy().T for f in frames])
    batch = np.concatenate(batches)
    protocol = np.where(np.char.startswith(batch.astype(str), "Drop"), "Drop-seq", "CEL-seq2")
    return to_anndata(X, np.concatenate(labels), batch, genes, covariates={"protocol": protocol})


def baron(first: Path, second: Path) -> AnnData:
    """Baron et al.'s two mouse pancreases, the mouse as the batch, lineages as the coarse level."""
    frames = baron_frames(first, second)
    frame = pd.concat(frames)
    genes = baron_genes(frame)
    types = frame["assigned_cluster"].to_numpy()
    mice = np.repeat(["mouse1", "mouse2"], [len(f) for f in frames])
    return to_anndata(frame[genes].to_numpy(), types, mice, genes, coarse=[BARON_LINEAGES[t] for t in types])


def pbmc_chemistries(path: Path) -> AnnData:
    """SAVER-CAT's three 10x PBMC sets: a genes × cells count array and a data frame of chemistry and cell type."""
    import rdata

    data = rdata.conversion.convert(rdata.parser.parse_file(path))["pbmc_prep"]
    counts, meta = data["counts"], data["metadata"]
    genes = counts.coords[counts.dims[0]].to_numpy()
    meta = meta.loc[counts.coords[counts.dims[1]].to_numpy()]
    return to_anndata(counts.to_numpy().T, meta["celltype"], meta["tech"], genes)


def _dgc(matrix) -> sparse.csr_matrix:
    """An R dgCMatrix (genes × cells, as rdata leaves it) as cells × genes CSR."""
    shape = tuple(int(d) for d in matrix.Dim)
    return sparse.csc_matrix((matrix.x, matrix.i, matrix.p), shape=shape).T.tocsr()


def kang_ifnb(path: Path) -> AnnData:
    """muscat's ``example_sce``: Kang et al.'s two donors, ctrl and IFN-β stimulated, five cell types."""
    import rdata

    sce = rdata.conversion.convert(rdata.parser.parse_file(path))["example_sce"]
    counts = sce.assays.data.listData["counts"]
    cols = sce.colData.listData
    types = np.asarray(cols["cluster_id"]).astype(str)
    donors = [s.removeprefix("ctrl").removeprefix("stim") for s in np.asarray(cols["sample_id"]).astype(str)]
    return to_anndata(
        _dgc(counts),
        types,
        cols["group_id"],
        counts.Dimnames[0],
        coarse=[KANG_LINEAGES[t] for t in types],
        covariates={"donor": donors},
    )


def kang_donors(path: Path) -> AnnData:
    """muscat's early ``kang`` example: read from the parse tree, as rdata cannot convert it.

    The SingleCellExperiment holds a dense genes × cells count matrix (the one numeric
    vector of genes × cells values), the Ensembl IDs of its rows with a ``feature`` factor
    of gene symbols, and two cell factors: the donor (levels of digits) and the cell type.
    """
    from rdata.parser import RObjectType

    objects = _parsed(path)
    factors = {}  # levels → codes, for every factor in the tree
    for obj in objects:
        if obj.info.type == RObjectType.INT and obj.attributes is not None:
            attrs = _pairlist(obj.attributes)
            if "levels" in attrs:
                factors[tuple(_texts(attrs["levels"]))] = np.asarray(obj.value)
    donor_levels = next(lv for lv, codes in factors.items() if lv and all(s.isdigit() for s in lv) and len(codes) > 100)
    type_levels = next(lv for lv in factors if "B cells" in lv)
    n_cells = len(factors[donor_levels])
    assay = next(
        np.asarray(o.value) for o in objects if o.info.type == RObjectType.REAL and len(o.value) > 100 * n_cells
    )
    n_genes = len(assay) // n_cells
    symbol_levels = next(lv for lv, codes in factors.items() if len(codes) == n_genes)
    symbols = np.asarray(symbol_levels)[factors[symbol_levels] - 1]
    types = np.asarray(type_levels)[factors[type_levels] - 1]
    donors = np.asarray(donor_levels)[factors[donor_levels] - 1]
    return to_anndata(
        assay.reshape((n_genes, n_cells), order="F").T, types, donors, symbols, coarse=[KANG_LINEAGES[t] for t in types]
    )


def _parsed(path: Path) -> list:
    """Every object of an R data file's parse tree, depth first."""
    import rdata

    objects, seen = [], set()
    stack = [rdata.parser.parse_file(path).object]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        objects.append(obj)
        children = [obj.attributes, getattr(obj, "referenced_object", None), getattr(obj, "tag", None)]
        value = obj.value
        if isinstance(value, list | tuple):
            children += list(value)
        elif isinstance(value, rdata.parser.RObject):
            children.append(value)
        elif hasattr(value, "__dict__"):  # an environment: its frame and hash table
            children += list(vars(value).values())
        stack += [c for c in reversed(children) if isinstance(c, rdata.parser.RObject)]
    return objects


def _pairlist(obj) -> dict:
    """The tagged values of an R pairlist (such as an attribute list) by tag."""
    from rdata.parser import RObjectType

    out = {}
    while obj is not None and obj.value:
        tag = obj.tag
        if tag is not None and tag.info.type == RObjectType.REF:  # a symbol met before
            tag = tag.referenced_object
        if tag is not None:
            out[_text(tag.value)] = obj.value[0]
        obj = obj.value[1] if len(obj.value) > 1 else None
    return out


def _texts(obj) -> list[str]:
    return [_text(item) for item in obj.value]


def _text(item) -> str:
    value = getattr(item, "value", item)
    return value.decode() if isinstance(value, bytes) else str(value)


#: output name → (source files, builder, values in X).
DATASETS: dict[str, tuple[tuple[str, ...], Callable[..., AnnData], str]] = {
    "cellbench_lung_5batches": (
        tuple(f"{stem}.{kind}.csv.gz" for stem in CELLBENCH_BATCHES.values() for kind in ("count", "metadata")),
        cellbench,
        "counts",
    ),
    "baron_mouse_pancreas_2donors": (("Baron mouse1.zip", "Baron mouse2.zip"), baron, "counts"),
    "pbmc_10x_3chemistries": (("pbmc_prep.rda",), pbmc_chemistries, "counts"),
    "kang_pbmc_ifnb": (("example_sce.rda",), kang_ifnb, "counts"),
    "kang_pbmc_5donors": (("kang.rda",), kang_donors, "counts"),
}


def describe(adata: AnnData, values: str) -> tuple[dict, str]:
    """A dataset's manifest entry (label, batch and covariate columns, values in X) and its line."""
    entry, line = extra_data.describe(adata, values)
    entry["batch"] = "batch"
    entry["covariates"] = [c for c in adata.obs if c not in ("label", "label_coarse", "batch")]
    batches = ", ".join(f"{b} {n}" for b, n in adata.obs["batch"].value_counts(sort=False).items())
    return entry, f"{line}; {batches}"


def main() -> None:
    args = extra_data.parser_of(__doc__).parse_args()
    warnings.filterwarnings("ignore")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # rdata's parser recurses along R lists
    extra_data.build(DATASETS, SOURCES, args.sources, args.out, describe)


if __name__ == "__main__":
    main()
