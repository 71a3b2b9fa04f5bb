"""Tidy tables and arrays read from a ``tl.pnmf`` result, located through its manifest."""

from ._clusters import cluster_tree
from ._factors import factor_similarity, top_genes
from ._scales import embedding, history, loadings, persistence_bars, scale_scores, scales

__all__ = [
    "cluster_tree",
    "embedding",
    "factor_similarity",
    "history",
    "loadings",
    "persistence_bars",
    "scale_scores",
    "scales",
    "top_genes",
]
