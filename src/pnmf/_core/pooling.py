"""Pooling: what makes a coarse scale coarse.

At scale t every cell is pulled towards the mean embedding of its *group*, the H0
component that holds it at the scale's threshold, with weight ``ρ_t``. This is the
flat-weight limit of the paper's ε-graph, which joins every pair of a component closer
than ε: as ε grows, the graph of a compact component becomes complete and smoothing along
it contracts the component to a point. Pooling does that at O(n k) per pass, with no
pair of cells stored.

Single-linkage components chain on real data (one giant component plus stragglers), so
only components that persistence sets apart as populations are pooled:

* **A group is a population that persists.** A component of scale t is a group when it
  stays apart from every other population (a component of at least :data:`MIN_POPULATION`
  cells) up to the next coarser scale of the fit, or when it joins populations that were
  all groups at the next finer scale (types joining their subtypes). A component that
  merges with another population before the next scale is a chain, not a population, at
  this resolution.
* **The bulk is not pooled anew.** A component holding more than half of the cells that are
  in populations is the data's bulk (a continuum, or the coarsest threshold, which joins
  everything).

Cells of a component that is not a group keep their groups of the next finer scale, so a
coarser scale never pools fewer cells than a finer one. The weight grows with the
threshold, ``ρ_t = ρ ((ε_t / ε_0)² − 1)``: zero at the finest scale, which stays the data's
finest view, and growing like the squared width of the heat kernel, the diffusion time a
graph of that width would need to mix a group.

The pooling term is ``ρ_t Σ_i ‖u_i − ū_g(i)‖²``, the squared distance of every pooled cell
to its group's mean: ``min_c Σ_i ‖u_i − c_g(i)‖²`` over free group centres. Its exact block
minimization over the centres is the group means, and over the embedding, with the means
fixed, a pull of every cell towards its mean: the solver alternates the two, so the
objective still never increases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components

from .persistence import EdgeList

__all__ = ["BULK_SHARE", "MIN_POPULATION", "Pooling", "pooling_groups", "pooling_scales"]

#: A component holding more than this share of the cells in populations is the bulk: not pooled anew.
BULK_SHARE = 0.5
#: Components of at least this many cells are populations: merging with one ends a component's persistence.
MIN_POPULATION = 10

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

    @cached_property
    def _indicator(self) -> csr_array:
        """Groups × cells, 1 where the cell is in the group: built once, read at every update."""
        pooled = np.flatnonzero(self.groups >= 0)
        shape = (self.n_groups, len(self.groups))
        return csr_array((np.ones(len(pooled)), (self.groups[pooled], pooled)), shape=shape)

    def means(self, U: np.ndarray) -> np.ndarray:
        """Every group's mean embedding, groups × k."""
        return (self._indicator @ U) / self.sizes[:, None]

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


def pooling_groups(
    edges: EdgeList,
    thresholds: np.ndarray,
    *,
    bulk_share: float = BULK_SHARE,
    min_population: int = MIN_POPULATION,
) -> list[Pooling]:
    """Return every threshold's :class:`Pooling`: the components that persist as populations.

    The thresholds are the scales of one fit (returned in the given order, judged fine to
    coarse). At each, a connected component of the edges strictly shorter than the threshold
    is a group when it has at least two cells, at most ``bulk_share`` of the cells in
    populations (components of at least ``min_population`` cells), and either stays apart
    from every other population up to the next coarser threshold or joins populations that
    were all groups at the next finer one. The cells of any other component keep their
    groups of the next finer threshold (none at the finest).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(thresholds, kind="stable")
    components = [_components(edges, thresholds[t]) for t in order]  # fine to coarse
    factors = pooling_scales(thresholds)
    result: list[Pooling] = [None] * len(thresholds)  # type: ignore[list-item]
    finer_groups = np.full(edges.n_nodes, -1, dtype=np.int64)
    finer_is_group = np.zeros(0, dtype=bool)
    for rank, t in enumerate(order):
        labels = components[rank]
        sizes = np.bincount(labels)
        populations = sizes >= min_population
        is_group = (sizes >= 2) & (sizes <= bulk_share * sizes[populations].sum())
        persists = np.zeros(len(sizes), dtype=bool)
        if rank + 1 < len(order):
            persists |= _apart_until(labels, populations, components[rank + 1])
        if rank > 0:
            persists |= _joins_groups(components[rank - 1], finer_is_group, labels, min_population)
        is_group &= persists
        # inherited groups get labels after the components', so the two never collide
        kept = np.where(finer_groups >= 0, finer_groups + len(sizes), -1)
        groups = _consecutive(np.where(is_group[labels], labels, kept))
        result[t] = Pooling(groups, np.bincount(groups[groups >= 0]).astype(np.float64), float(factors[t]))
        finer_groups, finer_is_group = groups, is_group
    return result


def _components(edges: EdgeList, threshold: float) -> np.ndarray:
    """Return the connected component of every cell in the graph of the edges strictly shorter than ``threshold``."""
    below = edges.shorter_than(threshold)
    n = edges.n_nodes
    adjacency = coo_array((np.ones(len(below)), (below.rows, below.cols)), shape=(n, n))
    return connected_components(adjacency, directed=False)[1]


def _apart_until(labels: np.ndarray, populations: np.ndarray, coarser: np.ndarray) -> np.ndarray:
    """Per component: whether no other population shares its component at the ``coarser`` labels."""
    owner = np.zeros(len(populations), dtype=np.int64)
    owner[labels] = coarser  # components are nested: each lies in one coarser component
    n_populations = np.bincount(owner[populations], minlength=int(coarser.max()) + 1)
    return n_populations[owner] - populations == 0


def _joins_groups(finer: np.ndarray, finer_is_group: np.ndarray, labels: np.ndarray, min_population: int) -> np.ndarray:
    """Per component: whether it holds populations of the ``finer`` labels and all of them were groups."""
    finer_sizes = np.bincount(finer)
    finer_populations = finer_sizes >= min_population
    owner = np.zeros(len(finer_sizes), dtype=np.int64)
    owner[finer] = labels
    n_components = int(labels.max()) + 1
    held = np.bincount(owner[finer_populations], minlength=n_components)
    held_groups = np.bincount(owner[finer_populations & finer_is_group], minlength=n_components)
    return (held > 0) & (held_groups == held)


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber the labels ≥ 0 as 0, 1, … in order of first appearance of their value; keep −1."""
    groups = np.full(len(labels), -1, dtype=np.int64)
    pooled = labels >= 0
    _, groups[pooled] = np.unique(labels[pooled], return_inverse=True)
    return groups
