"""Sparse per-scale graphs and their Laplacians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array

from .kernels import csr_times_dense, greedy_coloring
from .persistence import EdgeList

__all__ = ["ScaleGraph", "scale_graph"]


@dataclass(frozen=True)
class ScaleGraph:
    """Weighted graph at one scale, stored as its normalized adjacency and degrees.

    The Laplacian is ``diag(degree) - adjacency``; both are divided by the mean degree of
    the connected cells, so that the graph penalty per cell is of the order of the
    reconstruction error per cell whatever the neighbourhood size (see :func:`scale_graph`).
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


def scale_graph(edges: EdgeList, threshold: float) -> ScaleGraph:
    """Graph of the edges strictly shorter than ``threshold`` with heat-kernel weights.

    Edge weights are ``exp(-(d / threshold)**2)``: a kernel whose width follows the scale,
    so every edge kept weighs between e⁻¹ and 1 whatever the units of the representation
    (the paper's ``exp(-d² / ε^1.5)`` depends on them). Weights are then divided by the
    mean weighted degree over the cells that have an edge.
    """
    n = edges.n_nodes
    keep = edges.lengths < threshold
    rows, cols, lengths = edges.rows[keep], edges.cols[keep], edges.lengths[keep]
    weights = np.exp(-((lengths / threshold) ** 2)) if threshold > 0 else np.empty(0)
    degree = np.bincount(rows, weights, minlength=n) + np.bincount(cols, weights, minlength=n)
    connected = degree > 0
    if connected.any():
        scale = degree[connected].mean()
        weights = weights / scale
        degree = degree / scale
    adjacency = csr_array(
        (np.concatenate([weights, weights]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
        shape=(n, n),
    )
    order, color_starts = _color_classes(adjacency)
    return ScaleGraph(adjacency, degree, int(keep.sum()), order, color_starts)


def _color_classes(adjacency: csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Cells grouped by a greedy colouring: ``order[starts[c]:starts[c + 1]]`` share no edge."""
    colors = greedy_coloring(adjacency.indptr, adjacency.indices)
    order = np.argsort(colors, kind="stable")
    starts = np.searchsorted(colors[order], np.arange(colors.max() + 2 if len(colors) else 1))
    return order, starts
