"""Tools: fit the multi-scale factorization and analyse its scales."""

from ._leiden import leiden
from ._pnmf import pnmf
from ._scores import score_scales
from ._umap import umap

__all__ = ["leiden", "pnmf", "score_scales", "umap"]
