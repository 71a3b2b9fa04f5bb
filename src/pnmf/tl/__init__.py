"""Tools: fit the multi-scale factorization and analyse its scales."""

from ._leiden import leiden
from ._pnmf import pnmf

__all__ = ["leiden", "pnmf"]
