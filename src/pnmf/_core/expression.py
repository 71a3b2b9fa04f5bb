"""The cells × genes matrix as the solver sees it: products with factors, never densified."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import sparse

from .._errors import PnmfTypeError, PnmfValueError
from .kernels import csr_times_dense, csr_transpose_times_dense
from .svd import randomized_svd

__all__ = [
    "Expression",
    "Factorized",
    "as_float",
    "canonical_csr",
    "check_scale",
    "normalize_cells",
    "times",
    "transpose_times",
]


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


def as_float(X: np.ndarray | sparse.csr_matrix, where: str) -> np.ndarray | sparse.csr_matrix:
    """Return ``X`` in a float dtype the solver reads: integer, boolean and float16 values become float32.

    float32 and float64 are kept as they are (no copy); any other dtype is refused.
    """
    if X.dtype == bool or np.issubdtype(X.dtype, np.integer) or X.dtype == np.float16:
        return X.astype(np.float32)
    if X.dtype not in (np.float32, np.float64):
        msg = f"{where} has dtype {X.dtype}; pnmf needs real numbers (float or integer counts)."
        raise PnmfTypeError(msg)
    return X


def factorized_dtype(dtype: np.dtype) -> np.dtype:
    """Return the dtype :func:`as_float` turns ``dtype`` into (without checking that it is a number)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or np.issubdtype(dtype, np.integer) or dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def check_scale(sq_norm: float, peak: float) -> None:
    """Refuse values whose squares underflow or overflow float64: the objective could not be evaluated."""
    if peak > 0 and not 0 < sq_norm < np.inf:
        msg = (
            f"the expression values are too {'small' if sq_norm == 0 else 'large'} to factorize as they are "
            f"(largest {peak:.3g}: their squares {'underflow' if sq_norm == 0 else 'overflow'} in float64); "
            "pass normalize=True, or rescale the matrix (e.g. divide it by its maximum)."
        )
        raise PnmfValueError(msg)


def times(X: np.ndarray | sparse.csr_matrix, factors: np.ndarray) -> np.ndarray:
    """``X @ factors`` in float64 for a canonical CSR or C-contiguous dense ``X`` and a genes × r matrix.

    Rows of the result depend only on the same rows of ``X``: a block of rows gives exactly
    the rows of the whole product.
    """
    if isinstance(X, np.ndarray):
        return np.asarray(X @ factors.astype(X.dtype, copy=False), dtype=np.float64)
    return csr_times_dense(X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64))


def transpose_times(X: np.ndarray | sparse.csr_matrix, factors: np.ndarray) -> np.ndarray:
    """``Xᵀ @ factors`` in float64 for a canonical CSR or C-contiguous dense ``X`` and a cells × r matrix."""
    if isinstance(X, np.ndarray):
        return np.asarray(X.T @ factors.astype(X.dtype, copy=False), dtype=np.float64)
    return csr_transpose_times_dense(
        X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64), X.shape[1]
    )


#: Values normalized at a time: the float64 temporaries of a chunk take a few times this × 8 bytes,
#: not a few times the whole matrix (200M nonzeros would need ~10 GB at once).
NORMALIZE_CHUNK = 1 << 22


def normalize_cells(X: np.ndarray | sparse.spmatrix) -> np.ndarray | sparse.csr_matrix:
    """Divide every cell (row) by its L2 norm; all-zero cells stay zero. Returns a new matrix.

    Each row is first divided by its largest absolute value, so that no square overflows or
    underflows (values from denormal to ~1e308 keep their proportions); the result keeps the
    input's float dtype. Rows are normalized a chunk at a time (each row's result depends
    on that row alone, so the chunks change nothing but the memory used).
    """
    if sparse.issparse(X) or isinstance(X, sparse.sparray):
        X = canonical_csr(X).copy()
        for first, last in _row_chunks(X.indptr, NORMALIZE_CHUNK):
            start, stop = X.indptr[first], X.indptr[last]
            X.data[start:stop] = _normalized_csr_rows(X.data[start:stop], X.indptr[first : last + 1] - start)
        return X
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=X.dtype)
    step = max(1, NORMALIZE_CHUNK // max(X.shape[1], 1))
    for first in range(0, X.shape[0], step):
        out[first : first + step] = _normalized_dense_rows(X[first : first + step])
    return out


def _row_chunks(indptr: np.ndarray, max_values: int) -> list[tuple[int, int]]:
    """Consecutive row ranges ``[first, last)`` holding at most ``max_values`` values each (or one row)."""
    n_rows = len(indptr) - 1
    chunks, first = [], 0
    while first < n_rows:
        last = int(np.searchsorted(indptr, indptr[first] + max_values, side="right")) - 1
        last = min(max(last, first + 1), n_rows)
        chunks.append((first, last))
        first = last
    return chunks


def _normalized_csr_rows(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Return the stored values of some CSR rows (``indptr`` from 0), each row divided by its L2 norm."""
    n_rows = len(indptr) - 1
    counts = np.diff(indptr)
    nonempty = counts > 0
    starts = indptr[:-1][nonempty]  # reduceat needs starts < nnz: skip empty rows, even trailing ones
    data = np.abs(values.astype(np.float64))
    peak = np.zeros(n_rows)
    if len(starts):
        peak[nonempty] = np.maximum.reduceat(data, starts)
    rows = np.repeat(np.arange(n_rows), counts)
    scaled = data / np.where(peak > 0, peak, 1.0)[rows]
    sq = np.zeros(n_rows)
    if len(starts):
        sq[nonempty] = np.add.reduceat(scaled**2, starts)
    norms = np.sqrt(sq)
    return np.divide(scaled, norms[rows], out=np.zeros_like(scaled), where=norms[rows] > 0).astype(values.dtype)


def _normalized_dense_rows(X: np.ndarray) -> np.ndarray:
    """Return dense rows, each divided by its L2 norm."""
    values = np.abs(X.astype(np.float64))
    peak = values.max(axis=1, initial=0.0)
    scaled = X.astype(np.float64) / np.where(peak > 0, peak, 1.0)[:, None]
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]
    return np.divide(scaled, norms, out=np.zeros_like(scaled), where=norms > 0).astype(X.dtype)


class Factorized(Protocol):
    """What the solver needs of the matrix it factorizes, wherever the matrix is (memory, a file, a cluster)."""

    in_memory: bool
    shape: tuple[int, int]
    dtype: np.dtype
    sq_norm: float
    mean: float

    @property
    def matrix(self) -> np.ndarray | sparse.csr_matrix:
        """The whole matrix in memory (tools that fit many times on it need it there)."""
        ...

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` (float64) for a genes × r matrix."""
        ...

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` (float64) for a cells × r matrix."""
        ...

    def truncated_svd(
        self, n_comps: int, random_state: int | np.random.RandomState | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the leading singular triplets ``(left, singular values, right transposed)``."""
        ...

    def rows(self, cells: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """Return the rows ``cells`` (sorted indices), in memory."""
        ...


class Expression:
    """Products of a nonnegative cells × genes matrix with dense factors.

    Sparse input is held once, in CSR; both products stream over its rows in threaded
    kernels that read the data in their own dtype (float32 stays float32, no upcast copy)
    and accumulate in float64. Dense input uses BLAS in its own dtype.

    The solver needs only what this class offers (``shape``, ``dtype``, ``sq_norm``,
    ``mean``, :meth:`times`, :meth:`transpose_times`, :meth:`truncated_svd`, :meth:`rows`);
    :mod:`.streamed` and :mod:`.dask_expression` offer the same for a matrix that is not in memory.
    """

    in_memory = True

    def __init__(self, X: np.ndarray | sparse.spmatrix) -> None:
        self.matrix: np.ndarray | sparse.csr_matrix
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
        check_scale(self.sq_norm, float(np.abs(flat).max()) if flat.size else 0.0)

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` for a genes × r matrix."""
        return times(self.matrix, factors)

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` for a cells × r matrix."""
        return transpose_times(self.matrix, factors)

    def truncated_svd(
        self, n_comps: int, random_state: int | np.random.RandomState | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the leading ``n_comps`` singular triplets ``(left, singular values, right transposed)``, randomized."""
        return randomized_svd(self.shape, self.times, self.transpose_times, n_comps, random_state)

    def rows(self, cells: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """Return the rows ``cells`` (sorted indices), in memory."""
        return self.matrix[cells]
