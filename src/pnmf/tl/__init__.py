"""Tools: fit the multi-scale factorization and analyse its scales."""

from ._consensus import consensus
from ._gene_scores import gene_scores
from ._leiden import leiden
from ._pnmf import pnmf
from ._project import project
from ._scores import score_scales
from ._select_k import select_k
from ._umap import umap

__all__ = ["consensus", "gene_scores", "leiden", "pnmf", "project", "score_scales", "select_k", "umap"]
