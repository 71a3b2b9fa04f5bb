"""Plots of a ``tl.pnmf`` result. They read tables from :mod:`pnmf.get` and only draw."""

from ._persistence import persistence

__all__ = ["persistence"]
