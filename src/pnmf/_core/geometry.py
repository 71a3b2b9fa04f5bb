"""From cell coordinates and edges to the scales: the filtration's edges, its H0 persistence, the thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import pdist

from .._errors import PnmfValueError
from .._options import DEFAULT_N_SCALES
from .persistence import EdgeList, Persistence, bridge_components, graph_persistence, rips_persistence
from .scales import MAX_ALL_SCALES, canonical_thresholds, select_scales

__all__ = ["DEFAULT_N_SCALES", "MAX_RIPS_CELLS", "filtration_persistence", "rips_edges", "thresholds", "top_threshold"]

#: The ``filtration='rips'`` construction stores all pairwise distances; above this many cells it is refused.
MAX_RIPS_CELLS = 3000
_TOP_MARGIN = 1e-9  # the coarsest threshold sits just above the longest edge


def rips_edges(points: np.ndarray) -> EdgeList:
    """Every pair of points, with its distance: the edges of the Vietoris–Rips filtration (small data only)."""
    n = len(points)
    if n > MAX_RIPS_CELLS:
        msg = f"filtration='rips' stores all {n * (n - 1) // 2} pairwise distances and is limited to {MAX_RIPS_CELLS} cells; use filtration='knn'."
        raise PnmfValueError(msg)
    rows, cols = np.triu_indices(n, k=1)
    return EdgeList(n, rows.astype(np.int64), cols.astype(np.int64), pdist(points))


def filtration_persistence(filtration: str, edges: EdgeList, points: np.ndarray) -> tuple[EdgeList, Persistence, int]:
    """Compute H0 persistence; a disconnected kNN graph is first bridged along exact closest pairs.

    Returns
    -------
    The edges of the filtration (with the bridges), its persistence, and how many bridges were added.
    """
    if filtration == "rips":
        return edges, rips_persistence(points), 0
    bridges = bridge_components(points, edges)
    if len(bridges):
        edges = edges.concat(bridges)
    return edges, graph_persistence(edges), len(bridges)


def top_threshold(edges: EdgeList) -> float:
    """Return the coarsest threshold, just above the longest edge, where every edge is present."""
    longest = float(edges.lengths.max()) if len(edges) else 0.0
    return longest * (1 + _TOP_MARGIN) if longest > 0 else 1.0


def thresholds(scales: str | Sequence[float], n_scales: int | None, persistence: Persistence, top: float) -> np.ndarray:
    """Return the thresholds of the scales, fine to coarse: chosen by a rule (``'auto'``, ``'all'``) or given."""
    if isinstance(scales, str):
        if scales == "auto":
            return select_scales(persistence, top, n_scales if n_scales is not None else DEFAULT_N_SCALES)
        canonical = canonical_thresholds(persistence, top)
        if len(canonical) > MAX_ALL_SCALES:
            msg = (
                f"scales='all' would fit {len(canonical)} scales (one per distinct H0 death value), more than "
                f"{MAX_ALL_SCALES}; pass n_scales=<a few> or explicit thresholds instead."
            )
            raise PnmfValueError(msg)
        return canonical
    return np.sort(np.asarray(scales, dtype=np.float64))
