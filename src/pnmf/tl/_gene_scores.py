"""``pnmf.tl.gene_scores``: a score for every gene at every scale, not only the genes that were factorized."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from anndata import AnnData
from scanpy import logging as logg
from scipy import sparse

from .._core.expression import Expression
from .._core.least_squares import nonnegative_least_squares
from .._docs import doc_params
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, fit_options, read_manifest, write_results
from .._sections import GeneScores, with_section
from .._validation import check_bool, check_in_memory
from ._inputs import read_expression

__all__ = ["gene_scores"]


@doc_params
def gene_scores(adata: AnnData, *, key: str = DEFAULT_KEY, copy: bool = False) -> AnnData | None:
    """Score every gene at every scale by regressing its expression on the scale's embedding.

    ``tl.pnmf`` factorizes the genes of ``mask_var`` (usually the highly variable ones), so
    their loadings are zero elsewhere. Here every gene g of ``adata`` gets, at every scale
    t, the nonnegative coefficients ``b`` that best reconstruct its expression from the
    embedding: ``min_{b ≥ 0} ‖x_g − U_t b‖²``, with the expression as the fit saw it (the
    same layer, every cell divided by its norm over the fitted genes). For the fitted genes
    this is the problem the loadings solve, without their unit norm, and the scores follow
    the loadings (median correlation per factor above 0.9 in the tests); for the other
    genes they say which programs a gene follows.
    One streamed pass over the expression (``Xᵀ [U_0 … U_T]``) gives all scales; nothing is
    densified.

    Parameters
    ----------
    {adata}
    {key}
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets:

    ``adata.varm['{key}_gene_scores_{t}']``
        Genes × k nonnegative scores at scale t, for every gene.
    ``adata.uns[key]['gene_scores']``
        ``varm_keys`` and ``params`` (the expression used). :func:`pnmf.get.top_genes` and
        :func:`pnmf.get.network` rank genes by them with ``by='gene_scores'``.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> adata.var["highly_variable"] = adata.var_names.isin(adata.var_names[:50])
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> pnmf.tl.gene_scores(adata)
    >>> adata.varm["pnmf_gene_scores_0"].shape
    (100, 4)
    """
    start = logg.info("scoring every gene at every pnmf scale")
    check_in_memory(adata)
    copy = check_bool("copy", copy)
    manifest = read_manifest(adata, key, genes=True, params=True)
    options = fit_options(manifest, mask_var=None)
    layer = options.layer
    X, _ = read_expression(adata, layer, np.ones(adata.n_vars, dtype=bool))
    scale = _cell_scale(X, manifest[Manifest.GENES], options.normalize)
    embeddings = [np.asarray(adata.obsm[str(k)], dtype=np.float64) for k in manifest[Manifest.OBSM_KEYS]]
    k = embeddings[0].shape[1]
    products = Expression(X).transpose_times(np.hstack(embeddings) * scale[:, None])  # one pass for all scales
    keys = Keys(key)
    varm = {
        keys.gene_scores(t): nonnegative_least_squares(U.T @ U, products[:, t * k : (t + 1) * k]).astype(X.dtype)
        for t, U in enumerate(embeddings)
    }
    section = GeneScores(
        tuple(varm), {"expression": "adata.X" if layer is None else f"adata.layers[{layer!r}]", "method": "nnls"}
    )
    previous = manifest.get(Manifest.GENE_SCORES)
    stale = GeneScores.from_uns(previous).written(keys)["varm"] if isinstance(previous, Mapping) else []
    if copy:
        adata = adata.copy()
    # the manifest as read: with the fitted genes realigned where genes were subset or reordered
    write_results(adata, Results(varm=varm, uns=with_section(manifest, key, section)), {"varm": stale})
    logg.info("    finished", time=start, deep=f"added\n    {len(varm)} gene scores '{key}_gene_scores_*' (adata.varm)")
    return adata if copy else None


def _cell_scale(X: np.ndarray | sparse.csr_matrix, fitted: np.ndarray, normalize: bool) -> np.ndarray:
    """Return the factor of every cell in the fit: one over its norm in the fitted genes (1 without normalization)."""
    if not normalize:
        return np.ones(X.shape[0])
    part = X[:, np.flatnonzero(fitted)]
    if sparse.issparse(part):
        squares = sparse.csr_matrix(part).multiply(part).sum(axis=1)
    else:
        squares = np.einsum("ij,ij->i", part, part)
    norms = np.sqrt(np.asarray(squares, dtype=np.float64).ravel())
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
