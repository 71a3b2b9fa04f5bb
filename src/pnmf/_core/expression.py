"""The cells × genes matrix as the solver sees it: products with factors, never densified."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._errors import PnmfValueError
from .kernels import csr_times_dense, csr_transpose_times_dense

__all__ = ["Expression", "canonical_csr", "normalize_cells"]


def canonical_csr(X: sparse.spmatrix | sparse.sparray) -> sparse.csr_matrix:
    """``X`` as a CSR matrix with sorted indices and no duplicate entries; the input is never modified.

    Duplicate entries (which h5ad files may hold) mean their sum; every computation here
    assumes each (cell, gene) is stored once. A canonical input is returned without a copy.
    """
    X = sparse.csr_matrix(X)
    # a fresh wrapper, so that the canonical-format flag is computed from the arrays, not trusted
    fresh = sparse.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape, copy=False)
    if fresh.has_canonical_format:
        return fresh
    fresh = fresh.copy()
    fresh.sum_duplicates()
    return fresh


def normalize_cells(X: np.ndarray | sparse.spmatrix) -> np.ndarray | sparse.csr_matrix:
    """Divide every cell (row) by its L2 norm; all-zero cells stay zero. Returns a new matrix.

    Each row is first divided by its largest absolute value, so that no square overflows or
    underflows (values from denormal to ~1e308 keep their proportions); the result keeps the
    input's float dtype.
    """
    if sparse.issparse(X) or isinstance(X, sparse.sparray):
        X = canonical_csr(X).copy()
        counts = np.diff(X.indptr)
        nonempty = counts > 0
        starts = X.indptr[:-1][nonempty]  # reduceat needs starts < nnz: skip empty rows, even trailing ones
        data = np.abs(X.data.astype(np.float64))
        peak = np.zeros(X.shape[0])
        if len(starts):
            peak[nonempty] = np.maximum.reduceat(data, starts)
        rows = np.repeat(np.arange(X.shape[0]), counts)
        scaled = data / np.where(peak > 0, peak, 1.0)[rows]
        sq = np.zeros(X.shape[0])
        if len(starts):
            sq[nonempty] = np.add.reduceat(scaled**2, starts)
        norms = np.sqrt(sq)
        X.data = np.divide(scaled, norms[rows], out=np.zeros_like(scaled), where=norms[rows] > 0).astype(X.dtype)
        return X
    X = np.asarray(X)
    values = np.abs(X.astype(np.float64))
    peak = values.max(axis=1, initial=0.0)
    scaled = X.astype(np.float64) / np.where(peak > 0, peak, 1.0)[:, None]
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]
    return np.divide(scaled, norms, out=np.zeros_like(scaled), where=norms > 0).astype(X.dtype)


class Expression:
    """Products of a nonnegative cells × genes matrix with dense factors.

    Sparse input is held once, in CSR; both products stream over its rows in threaded
    kernels that read the data in their own dtype (float32 stays float32, no upcast copy)
    and accumulate in float64. Dense input uses BLAS in its own dtype.
    """

    def __init__(self, X: np.ndarray | sparse.spmatrix) -> None:
        if sparse.issparse(X) or isinstance(X, sparse.sparray):
            self.matrix = canonical_csr(X)
            values = self.matrix.data
        else:
            self.matrix = np.ascontiguousarray(X)
            values = self.matrix
        self.dtype = self.matrix.dtype
        self.shape = self.matrix.shape
        flat = values.ravel().astype(np.float64)
        self.sq_norm = float(np.dot(flat, flat))
        self.mean = float(flat.sum()) / max(self.shape[0] * self.shape[1], 1)
        peak = float(np.abs(flat).max()) if flat.size else 0.0
        if peak > 0 and not 0 < self.sq_norm < np.inf:
            msg = (
                f"the expression values are too {'small' if self.sq_norm == 0 else 'large'} to factorize as they are "
                f"(largest {peak:.3g}: their squares {'underflow' if self.sq_norm == 0 else 'overflow'} in float64); "
                "pass normalize=True, or rescale the matrix (e.g. divide it by its maximum)."
            )
            raise PnmfValueError(msg)

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
