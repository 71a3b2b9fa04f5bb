"""Batches of cells: a neighbour graph balanced across them, and the averaging that mixes them.

Two operations, both linear in the number of cells:

- :func:`balanced_neighbors`: every cell's nearest neighbours within every batch (BBKNN's
  construction), so that the filtration, the scales' graphs and the persistence see every
  batch around every cell;
- :class:`BalancedAverage`: each cell's embedding replaced by the mean of its neighbours'
  within each batch, averaged over the batches with equal weight. Repeated, it spreads a
  cell's factor usage over the cells that resemble it in every batch, so that what differs
  between batches for the same cells averages out, while what differs between cell types
  (whose neighbours stay within the type) is kept.

A batch enters a cell's average only where the batches match around that cell
(:meth:`BalancedNeighbors.matched_edges`): some cell of its neighbourhood is a mutual
nearest neighbour of a cell of that batch (MNN's evidence that two batches hold the same
population). A population that one batch lacks finds no such pair there, so it is not
averaged with whatever that batch holds nearest to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .persistence import EdgeList
from .projection import find_neighbours

__all__ = ["BalancedAverage", "BalancedNeighbors", "Batches", "neighbors_per_batch"]


@dataclass(frozen=True)
class Batches:
    """Which batch each cell belongs to: ``codes[i]`` indexes ``names``."""

    key: str
    names: np.ndarray
    codes: np.ndarray

    @property
    def n_batches(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> np.ndarray:
        """Cells per batch, in the order of ``names``."""
        return np.bincount(self.codes, minlength=self.n_batches)

    def membership(self) -> sparse.csr_matrix:
        """Return cells × batches: 1 where the cell belongs to the batch."""
        n = len(self.codes)
        return sparse.csr_matrix((np.ones(n), (np.arange(n), self.codes)), shape=(n, self.n_batches))

    def means(self, values: np.ndarray) -> np.ndarray:
        """Return the mean row of ``values`` (cells × columns) over each batch's cells: batches × columns, float64."""
        totals = self.membership().T @ values
        return np.asarray(totals, dtype=np.float64) / np.maximum(self.sizes, 1)[:, None]


def neighbors_per_batch(n_neighbors: int, n_batches: int) -> int:
    """Neighbours drawn from each batch so that a cell has about ``n_neighbors`` in all, and at least 3 per batch."""
    return max(3, -(-n_neighbors // n_batches))


@dataclass(frozen=True)
class BalancedNeighbors:
    """Every cell's nearest cells within every batch: the directed graph ``adjacency`` (cell → neighbour).

    A cell's neighbours in its own batch include itself.
    """

    batches: Batches
    adjacency: sparse.csr_matrix

    def edges(self, points: np.ndarray) -> EdgeList:
        """Return the undirected edges of the graph, measured in ``points``."""
        coo = self.adjacency.tocoo()
        return EdgeList.from_pairs(coo.shape[0], coo.row, coo.col, points)

    def matched(self) -> np.ndarray:
        """Cells × batches: whether the batch holds counterparts of the cell's neighbourhood.

        True where some cell of the neighbourhood (the cell and its neighbours in its own
        batch) and some cell of that batch are each other's nearest neighbours; always true
        for the cell's own batch.
        """
        codes = self.batches.codes
        n = len(codes)
        in_batch = self.batches.membership()
        mutual = self.adjacency.multiply(self.adjacency.T)
        has_mutual = (mutual @ in_batch) > 0  # cells × batches: a mutual pair with that batch
        coo = self.adjacency.tocoo()
        same = codes[coo.row] == codes[coo.col]
        neighbourhood = sparse.csr_matrix((np.ones(same.sum()), (coo.row[same], coo.col[same])), shape=(n, n))
        neighbourhood = neighbourhood + sparse.identity(n, format="csr")
        return ((neighbourhood @ has_mutual) > 0).toarray() | (in_batch > 0).toarray()

    def matched_edges(self, points: np.ndarray, matched: np.ndarray) -> EdgeList:
        """Return the undirected edges a cell averages over: within its batch, and to the batches it matches.

        ``matched`` is :meth:`matched`'s cells × batches table.
        """
        coo = self.adjacency.tocoo()
        keep = matched[coo.row, self.batches.codes[coo.col]]
        return EdgeList.from_pairs(coo.shape[0], coo.row[keep], coo.col[keep], points)

    def matching(self, matched: np.ndarray) -> np.ndarray:
        """Return batches × batches: the share of each batch's cells (rows) that average over each batch (columns)."""
        codes = self.batches.codes
        return np.stack([matched[codes == b].mean(axis=0) for b in range(self.batches.n_batches)])


def balanced_neighbors(
    points: np.ndarray, batches: Batches, n_per_batch: int, random_state: int | None
) -> BalancedNeighbors:
    """Every cell's ``n_per_batch`` nearest cells within every batch, in ``points``.

    Every cell queries each batch as new cells query a reference
    (:func:`~pnmf._core.projection.find_neighbours`): exactly up to
    :data:`~pnmf._core.projection.EXACT_PAIRS` pairs, through pynndescent's index of the
    batch above.
    """
    rows, cols = [], []
    everyone = np.arange(len(points))
    for code in range(batches.n_batches):
        members = np.flatnonzero(batches.codes == code)
        k = min(n_per_batch, len(members))
        nearest = find_neighbours(points[members], points, k, random_state).indices
        rows.append(np.repeat(everyone, k))
        cols.append(members[nearest].ravel())
    row, col = np.concatenate(rows), np.concatenate(cols)
    adjacency = sparse.csr_matrix((np.ones(len(row)), (row, col)), shape=(len(points), len(points)))
    adjacency.data[:] = 1.0  # a pair found twice (approximate search) is one edge
    return BalancedNeighbors(batches, adjacency)


@dataclass(frozen=True)
class BalancedAverage:
    """The operator that replaces each cell's row by the batch-balanced mean over its graph neighbourhood.

    For cell i with neighbourhood N(i) ∪ {i}, the mean over the members of each batch that
    it holds, then the mean of those means: every batch a cell touches weighs the same,
    however many of its neighbours come from it. ``matrix`` is that row-stochastic operator
    (sparse, one entry per edge end and per cell).
    """

    matrix: sparse.csr_matrix

    @classmethod
    def from_edges(cls, edges: EdgeList, batches: Batches) -> BalancedAverage:
        """Build the operator on the undirected ``edges`` (both ends) plus every cell itself."""
        n = edges.n_nodes
        rows = np.concatenate([edges.rows, edges.cols, np.arange(n)])
        cols = np.concatenate([edges.cols, edges.rows, np.arange(n)])
        # members of each (cell, batch) pair, then the batches each cell touches
        pair = rows * batches.n_batches + batches.codes[cols]
        members = np.bincount(pair, minlength=n * batches.n_batches)
        touched = np.bincount(rows[np.unique(pair, return_index=True)[1]], minlength=n)
        weights = 1.0 / (members[pair] * touched[rows])
        return cls(sparse.csr_matrix((weights, (rows, cols)), shape=(n, n)))

    def apply(self, embedding: np.ndarray, n_steps: int) -> np.ndarray:
        """Return ``matrix^n_steps @ embedding``, in the embedding's dtype; nonnegative rows stay nonnegative."""
        out = embedding
        for _ in range(n_steps):
            out = self.matrix @ out
        return np.asarray(out, dtype=embedding.dtype)
