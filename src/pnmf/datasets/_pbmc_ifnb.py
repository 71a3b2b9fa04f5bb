"""Real batches shipped with the package: control and interferon-β-stimulated PBMCs."""

from __future__ import annotations

from importlib.resources import as_file, files

import anndata as ad

__all__ = ["pbmc_ifnb"]


def pbmc_ifnb() -> ad.AnnData:
    """Control and IFN-β-stimulated PBMCs of two donors: two real batches with cell-type labels, offline.

    1,556 cells × 1,267 genes of Kang et al., *Multiplexed droplet single-cell RNA-sequencing
    using natural genetic variation*, Nature Biotechnology 36, 89–94 (2018), GEO GSE96583:
    peripheral blood mononuclear cells of two lupus patients (donors 101 and 107), cultured
    for 6 hours with or without interferon-β, 10x Genomics counts. The subset of five cell
    types is the one muscat ships as its example data (Crowell et al., *muscat detects
    subpopulation-specific state transitions from multi-sample multi-condition single-cell
    transcriptomics data*, Nature Communications 11, 6077, 2020).

    The stimulation changes the expression of every cell type (the interferon response),
    so fitted without a batch key the conditions split each type in two; with
    ``batch_key='condition'`` pnmf integrates them, and :func:`pnmf.get.batch_usage` finds
    the response.

    Returns
    -------
    AnnData with raw counts in ``X`` (float32, CSR) and ``obs`` columns ``cell_type`` (B
    cells, CD14+ and FCGR3A+ monocytes, CD4 and CD8 T cells), ``condition`` (``'ctrl'``,
    ``'stim'``) and ``donor``; genes by symbol.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.pbmc_ifnb()
    >>> adata.shape
    (1556, 1267)
    >>> adata.obs["condition"].value_counts().to_dict()
    {'stim': 806, 'ctrl': 750}
    """
    with as_file(files(__package__) / "data" / "pbmc_ifnb.h5ad") as path:
        return ad.read_h5ad(path)
