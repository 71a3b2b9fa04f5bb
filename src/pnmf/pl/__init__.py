"""Plots of a ``tl.pnmf`` result. They read tables from :mod:`pnmf.get` and only draw."""

from ._cluster_tree import cluster_tree
from ._convergence import convergence
from ._k_selection import k_selection
from ._loadings import loadings, loadings_across_scales
from ._persistence import persistence
from ._scales import scales
from ._scores import scale_scores

__all__ = [
    "cluster_tree",
    "convergence",
    "k_selection",
    "loadings",
    "loadings_across_scales",
    "persistence",
    "scale_scores",
    "scales",
]
