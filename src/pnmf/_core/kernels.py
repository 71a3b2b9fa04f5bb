"""Compiled inner loops of the solver (numba; compiled once and cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["csr_times_dense", "embedding_pass"]


@njit(cache=True, parallel=True, nogil=True)
def csr_times_dense(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """``A @ dense`` for a CSR matrix ``A`` given by its arrays, accumulated in float64.

    Rows are independent, so they are split across threads; each reads its nonzeros once.
    """
    n_rows = len(indptr) - 1
    k = dense.shape[1]
    out = np.zeros((n_rows, k))
    for i in prange(n_rows):
        for p in range(indptr[i], indptr[i + 1]):
            value = data[p]
            row = indices[p]
            for j in range(k):
                out[i, j] += value * dense[row, j]
    return out


@njit(cache=True, nogil=True)
def embedding_pass(
    U: np.ndarray,
    linear: np.ndarray,
    gram_W: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    degree: np.ndarray,
    graph_weight: float,
    diagonal: float,
) -> float:
    """One Gauss–Seidel pass of exact coordinate descent over the cells × factors of ``U`` (in place).

    For cell i and factor j the objective restricted to ``u_ij`` is a 1-D quadratic,

        (G_jj + diagonal + λ1 d_i) u² − 2 u (linear_ij − Σ_{l≠j} G_jl u_il + λ1 Σ_n a_in u_nj),

    minimized over u ≥ 0 in closed form. Cells are visited in order, so each update sees its
    neighbours' newest values and smoothing travels along the graph within a pass.

    Returns
    -------
    The squared Frobenius norm of the change of ``U``.
    """
    n, k = U.shape
    neighbour_sum = np.empty(k)
    moved = 0.0
    for i in range(n):
        for j in range(k):
            neighbour_sum[j] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            w = weights[p]
            row = indices[p]
            for j in range(k):
                neighbour_sum[j] += w * U[row, j]
        curvature_graph = graph_weight * degree[i]
        for j in range(k):
            coupled = 0.0
            for l in range(k):
                coupled += gram_W[j, l] * U[i, l]
            old = U[i, j]
            numerator = linear[i, j] - coupled + gram_W[j, j] * old + graph_weight * neighbour_sum[j]
            new = numerator / (gram_W[j, j] + diagonal + curvature_graph)
            if new < 0.0:
                new = 0.0
            U[i, j] = new
            moved += (new - old) * (new - old)
    return moved
