"""Sparse per-scale graphs and their Laplacians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array

from .kernels import csr_times_dense, greedy_coloring
from .persistence import EdgeList

__all__ = ["ScaleGraph", "scale_graph", "scale_graphs"]


@dataclass(frozen=True)
class ScaleGraph:
    """Weighted graph at one scale, stored as its normalized adjacency and degrees.

    The Laplacian is ``diag(degree) - adjacency`` with symmetrically normalized weights, so
    that the graph penalty per cell is of the order of the reconstruction error per cell
    whatever the neighbourhood size (see :func:`scale_graph`).
    ``order`` and ``color_starts`` group the cells into classes without internal edges, for
    parallel coordinate descent.
    """

    adjacency: csr_array
    degree: np.ndarray
    n_edges: int
    order: np.ndarray
    color_starts: np.ndarray

    def laplacian_times(self, U: np.ndarray) -> np.ndarray:
        """``L @ U`` without forming L."""
        A = self.adjacency
        return self.degree[:, None] * U - csr_times_dense(
            A.indptr, A.indices, A.data, np.ascontiguousarray(U, dtype=np.float64)
        )

    def quadratic_form(self, U: np.ndarray) -> float:
        """``tr(Uᵀ L U)``, the graph roughness of the columns of ``U``."""
        return float(np.einsum("ij,ij->", U, self.laplacian_times(U)))


def scale_graphs(edges: EdgeList, thresholds: np.ndarray) -> list[ScaleGraph]:
    """Return the graph of every threshold (see :func:`scale_graph`); every cell's shortest edge is found once."""
    nearest = _nearest_edges(edges) if len(edges) else np.empty(0, dtype=np.int64)
    return [scale_graph(edges, float(threshold), nearest=nearest) for threshold in thresholds]


def scale_graph(edges: EdgeList, threshold: float, *, nearest: np.ndarray | None = None) -> ScaleGraph:
    """Graph of the edges strictly shorter than ``threshold``, plus every cell's shortest edge.

    Edge weights are ``exp(-(d / threshold)**2)``: a kernel whose width follows the scale,
    so every edge shorter than the threshold weighs between e⁻¹ and 1 whatever the units of
    the representation (the paper's ``exp(-d² / ε^1.5)`` depends on them).

    Two choices keep every cell on the same footing at every scale:

    * every cell keeps its shortest edge even where that edge is longer than the threshold.
      Between the finest and the coarsest scale the thresholded graph joins dense regions
      and leaves cells in sparse regions alone; smoothed cells then contract while lone
      cells keep their full noise, and a clustering of the embedding spends its clusters on
      the lone cells (k-means ARI near 0 on whole ranges of scales). A cell's nearest
      neighbour is always the best evidence about it, whatever the scale.
    * weights are normalized symmetrically, ``w_ij / sqrt(d_i d_j)`` (the normalized
      Laplacian's weights), so the pull of a cell's neighbourhood is of order 1 per cell
      whether it has one neighbour or fifty; the graph weight λ1 then means the same in
      dense and sparse regions, at every scale and on every dataset.

    ``nearest`` (the index of every cell's shortest edge) is computed when not given. The
    adjacency's indices are 32-bit when the cells and edges allow it: half the memory of
    64-bit indices for the largest arrays of a fit.
    """
    n = edges.n_nodes
    keep = edges.lengths < threshold
    if len(edges):
        keep[_nearest_edges(edges) if nearest is None else nearest] = True
    index = np.int32 if max(n, 2 * int(keep.sum())) < np.iinfo(np.int32).max else np.int64
    rows, cols, lengths = edges.rows[keep].astype(index), edges.cols[keep].astype(index), edges.lengths[keep]
    weights = np.exp(-((lengths / threshold) ** 2)) if threshold > 0 else np.zeros(len(rows))
    degree = np.bincount(rows, weights, minlength=n) + np.bincount(cols, weights, minlength=n)
    positive = weights > 0
    weights = np.where(positive, weights / np.sqrt(np.maximum(degree[rows] * degree[cols], np.finfo(float).tiny)), 0.0)
    degree = np.bincount(rows, weights, minlength=n) + np.bincount(cols, weights, minlength=n)
    adjacency = csr_array(
        (np.concatenate([weights, weights]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
        shape=(n, n),
    )
    order, color_starts = _color_classes(adjacency)
    return ScaleGraph(adjacency, degree, int(keep.sum()), order, color_starts)


def _nearest_edges(edges: EdgeList) -> np.ndarray:
    """Index of every node's shortest edge."""
    order = np.argsort(edges.lengths, kind="stable")
    ends = np.column_stack([edges.rows[order], edges.cols[order]]).ravel()  # both ends, shortest edge first
    positions = np.repeat(order, 2)
    _, first = np.unique(ends, return_index=True)
    return positions[first]


def _color_classes(adjacency: csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Cells grouped by a greedy colouring: ``order[starts[c]:starts[c + 1]]`` share no edge."""
    colors = greedy_coloring(adjacency.indptr, adjacency.indices)
    order = np.argsort(colors, kind="stable")
    starts = np.searchsorted(colors[order], np.arange(colors.max() + 2 if len(colors) else 1))
    return order, starts
