"""The cells × genes matrix as the solver sees it: products with factors, never densified."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .kernels import csr_times_dense, csr_transpose_times_dense

__all__ = ["Expression", "normalize_cells"]


def normalize_cells(X: np.ndarray | sparse.csr_matrix) -> np.ndarray | sparse.csr_matrix:
    """Divide every cell (row) by its L2 norm; all-zero cells stay zero. Returns a new matrix."""
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, copy=True)
        sq = np.add.reduceat(X.data.astype(np.float64) ** 2, X.indptr[:-1]) if X.nnz else np.zeros(X.shape[0])
        sq[np.diff(X.indptr) == 0] = 0.0  # reduceat returns the next row's value for empty rows
        scale = _inverse_norms(sq)
        X.data *= np.repeat(scale, np.diff(X.indptr)).astype(X.dtype)
        return X
    X = np.asarray(X)
    scale = _inverse_norms(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    return X * scale[:, None].astype(X.dtype)


def _inverse_norms(sq_norms: np.ndarray) -> np.ndarray:
    norms = np.sqrt(sq_norms)
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)


class Expression:
    """Products of a nonnegative cells × genes matrix with dense factors.

    Sparse input is held once, in CSR; both products stream over its rows in threaded
    kernels that read the data in their own dtype (float32 stays float32, no upcast copy)
    and accumulate in float64. Dense input uses BLAS in its own dtype.
    """

    def __init__(self, X: np.ndarray | sparse.spmatrix) -> None:
        if sparse.issparse(X):
            self.matrix = sparse.csr_matrix(X)
            values = self.matrix.data
        else:
            self.matrix = np.ascontiguousarray(X)
            values = self.matrix
        self.dtype = self.matrix.dtype
        self.shape = self.matrix.shape
        flat = values.ravel()
        self.sq_norm = float(np.dot(flat.astype(np.float64), flat))
        self.mean = float(values.sum(dtype=np.float64)) / max(self.shape[0] * self.shape[1], 1)

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` for a genes × r matrix."""
        X = self.matrix
        if sparse.issparse(X):
            return csr_times_dense(X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64))
        return np.asarray(X @ factors.astype(self.dtype, copy=False), dtype=np.float64)

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` for a cells × r matrix."""
        X = self.matrix
        if sparse.issparse(X):
            return csr_transpose_times_dense(
                X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64), X.shape[1]
            )
        return np.asarray(X.T @ factors.astype(self.dtype, copy=False), dtype=np.float64)
