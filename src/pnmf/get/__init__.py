"""Tidy tables and arrays read from a ``tl.pnmf`` result, located through its manifest."""

from ._scales import embedding, loadings, persistence_bars, scales

__all__ = ["embedding", "loadings", "persistence_bars", "scales"]
