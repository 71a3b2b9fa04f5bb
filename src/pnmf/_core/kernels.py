"""Compiled inner loops of the solver (numba; compiled once and cached on disk).

They run on validated, finite data, so ``fastmath`` (reassociation, vectorized
reductions) is safe; results are identical from run to run on one machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["TRANSPOSE_CHUNKS", "csr_times_dense", "csr_transpose_times_dense", "embedding_pass", "greedy_coloring"]

#: Row chunks of a transposed product. Fixed, not the thread count, so that the partial sums,
#: and hence the result, are the same on every machine and every run.
TRANSPOSE_CHUNKS = 16


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def csr_times_dense(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """Multiply a CSR matrix ``A``, given by its arrays, by a dense matrix, accumulating in float64.

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


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def csr_transpose_times_dense(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dense: np.ndarray, n_cols: int
) -> np.ndarray:
    """Compute ``Aᵀ @ dense`` for a CSR matrix ``A`` (rows × n_cols) without transposing it.

    Streams over the rows of A and of ``dense`` in order and accumulates into a small
    n_cols × k output, which stays in cache; reading ``dense`` through a transposed CSR
    instead jumps across it at random and becomes several times slower once it outgrows
    the cache. Each of ``TRANSPOSE_CHUNKS`` row chunks has its own partial sum; the partial
    sums are added in a fixed order.
    """
    n_rows = len(indptr) - 1
    k = dense.shape[1]
    partial = np.zeros((TRANSPOSE_CHUNKS, n_cols, k))
    step = (n_rows + TRANSPOSE_CHUNKS - 1) // TRANSPOSE_CHUNKS
    for chunk in prange(TRANSPOSE_CHUNKS):
        out = partial[chunk]
        for i in range(chunk * step, min((chunk + 1) * step, n_rows)):
            source = dense[i]
            for p in range(indptr[i], indptr[i + 1]):
                value = data[p]
                target = out[indices[p]]
                for j in range(k):
                    target[j] += value * source[j]
    result = np.zeros((n_cols, k))
    for chunk in range(TRANSPOSE_CHUNKS):
        result += partial[chunk]
    return result


@njit(cache=True)
def greedy_coloring(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Colour the nodes of a graph so that no edge joins two nodes of the same colour.

    Greedy in node order: each node takes the smallest colour none of its coloured
    neighbours has. Uses at most max degree + 1 colours.
    """
    n = len(indptr) - 1
    colors = np.full(n, -1, dtype=np.int64)
    seen = np.full(n + 1, -1, dtype=np.int64)  # seen[c] == i: colour c is taken around node i
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            c = colors[indices[p]]
            if c >= 0:
                seen[c] = i
        color = 0
        while seen[color] == i:
            color += 1
        colors[i] = color
    return colors


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
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
    order: np.ndarray,
    color_starts: np.ndarray,
) -> float:
    """One pass of exact coordinate descent over the cells × factors of ``U`` (in place).

    For cell i and factor j the objective restricted to ``u_ij`` is a 1-D quadratic,

        (G_jj + diagonal + λ1 d_i) u² − 2 u (linear_ij − Σ_{l≠j} G_jl u_il + λ1 Σ_n a_in u_nj),

    minimized over u ≥ 0 in closed form. Cells are visited colour class by colour class
    (``order[color_starts[c]:color_starts[c + 1]]``): no edge joins two cells of one class,
    so a class is updated in parallel with exactly the result of a sequential sweep, and
    every cell sees the newest values of its neighbours (multicolour Gauss–Seidel).

    Returns
    -------
    The squared Frobenius norm of the change of ``U``.
    """
    n, k = U.shape
    moved = np.zeros(n)
    for c in range(len(color_starts) - 1):
        for position in prange(color_starts[c], color_starts[c + 1]):
            i = order[position]
            neighbour_sum = np.zeros(k)
            for p in range(indptr[i], indptr[i + 1]):
                w = weights[p]
                row = indices[p]
                for j in range(k):
                    neighbour_sum[j] += w * U[row, j]
            curvature_graph = graph_weight * degree[i]
            change = 0.0
            for j in range(k):
                coupled = 0.0
                for other in range(k):
                    coupled += gram_W[j, other] * U[i, other]
                old = U[i, j]
                numerator = linear[i, j] - coupled + gram_W[j, j] * old + graph_weight * neighbour_sum[j]
                new = numerator / (gram_W[j, j] + diagonal + curvature_graph)
                if new < 0.0:
                    new = 0.0
                U[i, j] = new
                change += (new - old) * (new - old)
            moved[i] = change
    return moved.sum()
