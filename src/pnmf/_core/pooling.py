"""Pooling: what makes a coarse scale coarse.

At scale t every cell is pulled towards the mean embedding of its *group*, the H0
component that holds it at the scale's threshold, with weight ``ρ_t``. This is the
flat-weight limit of the paper's ε-graph, which joins every pair of a component closer
than ε: as ε grows, the graph of a compact component becomes complete and smoothing along
it contracts the component to a point. Pooling does that at O(n k) per pass, with no
pair of cells stored.

Two rules make it safe on real data, where single-linkage components chain:

* **Bulk components are not pooled anew.** A component holding more than half of the
  cells is the data's bulk, joined by chaining (a continuum, or the coarsest threshold,
  which joins everything), not a population persistence has set apart. Its cells keep
  the groups they had at the next finer scale, so pooling never spreads over a chain, and
  a coarser scale never pools less than a finer one.
* **The weight grows with the threshold**, ``ρ_t = ρ ((ε_t / ε_0)² − 1)``: zero at the
  finest scale, which stays the data's finest view, and growing like the squared width of
  the heat kernel, the diffusion time a graph of that width would need to mix a group.

The pooling term is ``ρ_t Σ_i ‖u_i − ū_g(i)‖²``, the squared distance of every pooled cell
to its group's mean: ``min_c Σ_i ‖u_i − c_g(i)‖²`` over free group centres. Its exact block
minimization over the centres is the group means, and over the embedding, with the means
fixed, a pull of every cell towards its mean: the solver alternates the two, so the
objective still never increases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components

from .persistence import EdgeList

__all__ = ["BULK_SHARE", "Pooling", "pooling_groups", "pooling_scales"]

#: A component holding more than this share of the cells is the bulk: not pooled anew at that scale.
BULK_SHARE = 0.5

_ROW_CHUNK = 1 << 15  # rows per chunk: no cells × k temporary


@dataclass(frozen=True)
class Pooling:
    """The groups of one scale and the relative strength of their pull.

    ``groups[i]`` is cell i's group (``-1``: not pooled), ``sizes`` every group's number of
    cells (each at least 2), ``scale`` the factor ``(ε_t / ε_0)² − 1`` that multiplies the
    pooling weight ρ.
    """

    groups: np.ndarray
    sizes: np.ndarray
    scale: float

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.sizes)

    @property
    def n_pooled(self) -> int:
        """Number of cells in a group."""
        return int(self.sizes.sum())

    def cell_weights(self, weight: float) -> np.ndarray:
        """Every cell's pull towards its group's mean at pooling weight ρ (0 for cells not pooled)."""
        return np.where(self.groups >= 0, weight * self.scale, 0.0)

    def means(self, U: np.ndarray) -> np.ndarray:
        """Every group's mean embedding, groups × k."""
        pooled = np.flatnonzero(self.groups >= 0)
        indicator = csr_array((np.ones(len(pooled)), (self.groups[pooled], pooled)), shape=(self.n_groups, U.shape[0]))
        return (indicator @ U) / self.sizes[:, None]

    def add_pull(self, linear: np.ndarray, U: np.ndarray, weight: float) -> None:
        """Add every pooled cell's pull towards its group's current mean to ``linear`` (in place)."""
        if weight * self.scale == 0 or self.n_groups == 0:
            return
        centres = self.means(U) * (weight * self.scale)
        for start in range(0, U.shape[0], _ROW_CHUNK):
            rows = slice(start, start + _ROW_CHUNK)
            groups = self.groups[rows]
            pooled = groups >= 0
            linear[rows][pooled] += centres[groups[pooled]]

    def penalty(self, U: np.ndarray, weight: float) -> float:
        """``ρ_t Σ_i ‖u_i − ū_g(i)‖²`` over the pooled cells."""
        if weight * self.scale == 0 or self.n_groups == 0:
            return 0.0
        centres = self.means(U)
        row_norms = np.einsum("ij,ij->i", U, U)
        total = float(row_norms[self.groups >= 0].sum()) - float(self.sizes @ np.einsum("ij,ij->i", centres, centres))
        return weight * self.scale * max(total, 0.0)


def pooling_scales(thresholds: np.ndarray) -> np.ndarray:
    """``(ε_t / ε_0)² − 1`` for every threshold, ε_0 the smallest: 0 at the finest scale."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    finest = thresholds.min() if len(thresholds) else 0.0
    if finest <= 0:
        return np.zeros(len(thresholds))
    return (thresholds / finest) ** 2 - 1.0


def pooling_groups(edges: EdgeList, thresholds: np.ndarray, bulk_share: float = BULK_SHARE) -> list[Pooling]:
    """Return every threshold's :class:`Pooling`: its H0 components, with the bulk kept at the finer scale's groups.

    At each threshold (taken fine to coarse, returned in the given order) the groups are
    the connected components of the edges strictly shorter than it, with at least two
    cells and at most ``bulk_share`` of all cells. The cells of a larger component keep
    their groups of the next finer threshold (none at the finest).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n = edges.n_nodes
    factors = pooling_scales(thresholds)
    result: list[Pooling | None] = [None] * len(thresholds)
    finer = np.full(n, -1, dtype=np.int64)
    for t in np.argsort(thresholds, kind="stable"):
        keep = edges.lengths < thresholds[t]
        adjacency = coo_array((np.ones(int(keep.sum())), (edges.rows[keep], edges.cols[keep])), shape=(n, n))
        _, components = connected_components(adjacency, directed=False)
        sizes = np.bincount(components)
        bulk = sizes[components] > bulk_share * n
        # inherited groups get labels after the components', so the two never collide
        labels = np.where(bulk, np.where(finer >= 0, finer + len(sizes), -1), components)
        labels[~bulk & (sizes[components] < 2)] = -1
        groups = _consecutive(labels)
        result[t] = Pooling(groups, np.bincount(groups[groups >= 0]).astype(np.float64), float(factors[t]))
        finer = groups
    return [pooling for pooling in result if pooling is not None]


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber the labels ≥ 0 as 0, 1, … in order of first appearance of their value; keep −1."""
    groups = np.full(len(labels), -1, dtype=np.int64)
    pooled = labels >= 0
    _, groups[pooled] = np.unique(labels[pooled], return_inverse=True)
    return groups
