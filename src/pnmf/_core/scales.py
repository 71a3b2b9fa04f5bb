"""The canonical scale set of an H0 barcode and the rules that pick scales from it.

Between two consecutive death values the graph of edges shorter than ε has the same
connected components, so the thresholds that matter are the death values themselves (the
graph at ε = δ joins every edge strictly shorter than δ) plus one threshold above every
edge, where all cells are joined.
"""

from __future__ import annotations

import numpy as np

from .persistence import Persistence

__all__ = [
    "MAX_ALL_SCALES",
    "RECOMMENDED_CELLS_PER_COMPONENT",
    "canonical_thresholds",
    "recommend_scale",
    "select_scales",
]

#: The ``scales='all'`` path solves one factorization per canonical threshold; above this many it is refused.
MAX_ALL_SCALES = 500

#: The recommended scale has about this many cells per connected component (see :func:`recommend_scale`).
RECOMMENDED_CELLS_PER_COMPONENT = 6.0


def canonical_thresholds(persistence: Persistence, top: float) -> np.ndarray:
    """Distinct death values followed by ``top``, the threshold at which all edges are present.

    A death value of 0 (duplicate cells) is dropped: the graph of edges shorter than 0 is empty.
    """
    deaths = np.unique(persistence.deaths)
    deaths = deaths[deaths > 0]
    return np.append(deaths[deaths < top], top)


def select_scales(persistence: Persistence, top: float, n_scales: int) -> np.ndarray:
    """Pick up to ``n_scales`` canonical thresholds whose component counts are log-spaced.

    The target component counts run geometrically from n/2 (about half of the cells joined
    to a neighbour, the finest graph with structure) down to 1 (everything joined). For each
    target, the canonical threshold whose component count is closest on a log scale is
    taken. Targets that land on the same threshold are merged, so fewer scales than asked
    can come back when the barcode has few distinct deaths.

    Returns
    -------
    Increasing thresholds, fine to coarse.
    """
    candidates = canonical_thresholds(persistence, top)
    counts = persistence.n_connected(candidates)
    n = persistence.n_cells
    finest = max(n / 2.0, 1.0)
    targets = np.geomspace(finest, 1.0, n_scales) if n_scales > 1 else np.array([1.0])
    gaps = np.abs(np.log(counts[None, :]) - np.log(targets[:, None]))
    chosen = np.unique(gaps.argmin(axis=1))
    return candidates[chosen]


def recommend_scale(n_connected: np.ndarray, n_cells: int) -> int:
    """Index of the scale recommended when the data are too narrow to cross-validate it (the fallback).

    ``tl.pnmf`` recommends a scale by cross-validation over a split of the genes
    (:func:`pnmf._core.cross_validation.cross_validate_scales`); with too few genes to
    split it falls back to this rule: the scale whose number of connected components is
    closest, on a log scale, to ``n_cells / 6``, where each cell is joined to its immediate
    neighbourhood and populations are still apart.
    """
    target = max(n_cells / RECOMMENDED_CELLS_PER_COMPONENT, 1.0)
    return int(np.argmin(np.abs(np.log(np.asarray(n_connected, dtype=np.float64)) - np.log(target))))
