"""Tools: fit the multi-scale factorization and analyse its scales."""

from ._pnmf import pnmf

__all__ = ["pnmf"]
