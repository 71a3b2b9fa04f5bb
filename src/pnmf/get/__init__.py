"""Tidy tables and arrays read from a ``tl.pnmf`` result, located through its manifest."""

from ._batches import batch_usage
from ._clusters import cluster_tree
from ._factors import factor_similarity, top_genes
from ._k_selection import k_selection, programs, reproducibility
from ._network import network
from ._scales import embedding, gene_scores, history, loadings, persistence_bars, scale_scores, scales

__all__ = [
    "batch_usage",
    "cluster_tree",
    "embedding",
    "factor_similarity",
    "gene_scores",
    "history",
    "k_selection",
    "loadings",
    "network",
    "persistence_bars",
    "programs",
    "reproducibility",
    "scale_scores",
    "scales",
    "top_genes",
]
