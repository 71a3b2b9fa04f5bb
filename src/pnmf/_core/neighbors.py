"""Neighbour graphs of every scale from one neighbour search.

The scales' embeddings are views of the same cells at growing resolution, so a cell's
neighbours at a coarse scale are, for the most part, among its nearer cells at the finest
one. One search on the finest embedding for :data:`CANDIDATE_FACTOR` times as many
neighbours as a graph keeps gives every cell its candidates; each scale's graph keeps the
candidates nearest in that scale's embedding and weighs them as :func:`scanpy.pp.neighbors`
does (UMAP's fuzzy simplicial set). That costs O(cells · candidates · factors) per scale
and not a search, and only one graph need be held at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numba import njit, prange
from scipy import sparse

__all__ = ["CANDIDATE_FACTOR", "Candidates", "ScaleNeighbors", "connectivities"]

#: Candidates per cell, as a multiple of the neighbours a graph keeps. With 3, the clusters of
#: ``tl.leiden`` matched those of a search per scale at ARI 0.977 on average over the quick
#: panel (``benchmarks/leiden_search.py``); other factors were not measured.
CANDIDATE_FACTOR = 3


class Candidates:
    """Every cell's candidate neighbours (``indices[indptr[i]:indptr[i + 1]]``, ascending), the cell itself excluded.

    Built from a distance matrix in scanpy's layout (``obsp['distances']``: one row per cell,
    its neighbours' distances as explicit entries).
    """

    def __init__(self, distances: sparse.spmatrix | sparse.sparray) -> None:
        distances = sparse.csr_matrix(distances)
        self.n_cells = distances.shape[0]
        rows = np.repeat(np.arange(self.n_cells), np.diff(distances.indptr))
        other = distances.indices != rows  # every stored entry, a zero distance too, but the cell itself
        pattern = sparse.csr_matrix(
            (np.ones(int(other.sum()), dtype=np.int8), (rows[other], distances.indices[other])),
            shape=distances.shape,
        )  # indices ascending within each row
        self.indptr = pattern.indptr
        self.indices = pattern.indices

    def nearest(self, points: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``n_neighbors - 1`` candidates of every cell nearest in ``points``, the cell itself first.

        Returns cells × ``n_neighbors`` indices and Euclidean distances, as UMAP's fuzzy
        simplicial set reads them (``-1`` and infinity where a cell has too few candidates).
        Ties go to the lower index, so the result does not depend on the search's order.
        """
        knn_indices = np.full((self.n_cells, n_neighbors), -1, dtype=np.int64)
        knn_distances = np.full((self.n_cells, n_neighbors), np.inf)
        _nearest_candidates(
            self.indptr, self.indices, np.ascontiguousarray(points, dtype=np.float64), knn_indices, knn_distances
        )
        return knn_indices, knn_distances


@njit(cache=True, parallel=True, nogil=True)
def _nearest_candidates(indptr, indices, points, knn_indices, knn_distances) -> None:
    n_keep = knn_indices.shape[1] - 1
    for i in prange(len(indptr) - 1):
        start, stop = indptr[i], indptr[i + 1]
        distance = np.empty(stop - start)
        for p in range(start, stop):
            total = 0.0
            for f in range(points.shape[1]):
                difference = points[i, f] - points[indices[p], f]
                total += difference * difference
            distance[p - start] = np.sqrt(total)
        order = np.argsort(distance, kind="mergesort")  # stable: ties keep the ascending indices
        knn_indices[i, 0] = i
        knn_distances[i, 0] = 0.0
        for rank in range(min(n_keep, stop - start)):
            knn_indices[i, rank + 1] = indices[start + order[rank]]
            knn_distances[i, rank + 1] = distance[order[rank]]


def connectivities(candidates: Candidates, points: np.ndarray, n_neighbors: int) -> sparse.csr_matrix:
    """Return the kNN connectivities of ``points`` among the ``candidates``, weighted as :func:`scanpy.pp.neighbors` weighs them.

    UMAP's fuzzy simplicial set (:func:`umap.umap_.fuzzy_simplicial_set`, scanpy's default
    ``method='umap'``) of the ``n_neighbors`` nearest candidates, the cell itself counted.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed")
        from umap.umap_ import fuzzy_simplicial_set

    knn_indices, knn_distances = candidates.nearest(points, n_neighbors)
    graph, _, _ = fuzzy_simplicial_set(
        sparse.coo_matrix((candidates.n_cells, 1)),
        n_neighbors,
        None,
        None,
        knn_indices=knn_indices,
        knn_dists=knn_distances,
    )
    return sparse.csr_matrix(graph)


class ScaleNeighbors(Sequence):
    """Every scale's kNN connectivities among one set of candidates (:func:`connectivities`), computed when read.

    Reading ``graphs[t]`` builds scale t's graph; none is kept, so a caller that reads them
    one by one holds one graph at a time.
    """

    def __init__(self, candidates: Candidates, embeddings: Sequence[np.ndarray], n_neighbors: int) -> None:
        self.candidates = candidates
        self.embeddings = embeddings
        self.n_neighbors = n_neighbors

    def __len__(self) -> int:
        return len(self.embeddings)

    def __getitem__(self, scale):  # one scale at a time, no slices
        return connectivities(self.candidates, self.embeddings[scale], self.n_neighbors)
