"""The cells × genes matrix as the solver sees it: products with factors, never densified."""

from __future__ import annotations

from typing import Protocol, cast

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
    "cell_scales",
    "check_scale",
    "normalize_cells",
    "times",
    "transpose_times",
    "value_statistics",
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

    A sparse result has new values but shares the index arrays of (the canonical form of)
    ``X``: neither is ever written to.

    Each row is first brought to a largest value near 1 (sparse rows by a power of two,
    :func:`_row_factors`; dense rows by dividing by that value), so that no square
    overflows or underflows (values from denormal to ~1e308 keep their proportions); the
    result keeps the input's float dtype. Rows are normalized a chunk at a time (each row's result depends
    on that row alone, so the chunks change nothing but the memory used).
    """
    if sparse.issparse(X) or isinstance(X, sparse.sparray):
        X = canonical_csr(X)
        data = np.empty_like(X.data)
        for first, last in _row_chunks(X.indptr, NORMALIZE_CHUNK):
            start, stop = X.indptr[first], X.indptr[last]
            data[start:stop] = _normalized_csr_rows(X.data[start:stop], X.indptr[first : last + 1] - start)
        # only the values change: the result shares the (read-only) structure, half the memory of a copy
        return sparse.csr_matrix((data, X.indices, X.indptr), shape=X.shape, copy=False)
    X = np.asarray(X)
    out = np.empty(X.shape, dtype=X.dtype)
    step = max(1, NORMALIZE_CHUNK // max(X.shape[1], 1))
    for first in range(0, X.shape[0], step):
        out[first : first + step] = _normalized_dense_rows(X[first : first + step])
    return out


def value_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Squared norm, sum and largest absolute value of ``values``, accumulated in float64.

    A chunk at a time: a float64 copy of every value at once would be the largest
    temporary of a fit (1.6 GB for 200M nonzeros).
    """
    flat = values.reshape(-1)
    sq_norm = total = peak = 0.0
    with np.errstate(over="ignore"):  # an infinite square norm is refused with its fix by check_scale
        for start in range(0, flat.size, NORMALIZE_CHUNK):
            part = flat[start : start + NORMALIZE_CHUNK].astype(np.float64)
            sq_norm += float(np.dot(part, part))
            total += float(part.sum())
            peak = max(peak, float(np.abs(part).max()))
    return sq_norm, total, peak


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


def _row_factors(values: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of some CSR rows (``indptr`` from 0): the exponent e and the factor b of its normalization.

    Row i divided by its L2 norm is ``(x · 2⁻ᵉ) · b``: the power of two 2⁻ᵉ brings the
    row's largest value into [0.5, 1) exactly, so no square overflows or underflows
    (values from denormal to ~1e308 keep their proportions), and ``b`` (in [1/√genes, 2])
    is the reciprocal of the norm of the rescaled row. Empty rows get ``b = 0``.
    """
    n_rows = len(indptr) - 1
    counts = np.diff(indptr)
    nonempty = counts > 0
    starts = indptr[:-1][nonempty]  # reduceat needs starts < nnz: skip empty rows, even trailing ones
    data = np.abs(values.astype(np.float64))
    peak = np.zeros(n_rows)
    if len(starts):
        peak[nonempty] = np.maximum.reduceat(data, starts)
    exponent = np.frexp(peak)[1]
    scaled = np.ldexp(data, -np.repeat(exponent, counts))
    sq = np.zeros(n_rows)
    if len(starts):
        sq[nonempty] = np.add.reduceat(scaled**2, starts)
    factor = np.divide(1.0, np.sqrt(sq), out=np.zeros(n_rows), where=sq > 0)
    return exponent, factor


def _single_factors(exponent: np.ndarray, factor: np.ndarray) -> np.ndarray | None:
    """Return the rows' factors ``2⁻ᵉ · b`` as one float64 each, or ``None`` when one is not a normal float."""
    with np.errstate(over="ignore"):
        combined = np.ldexp(factor, -exponent)
    if not np.isfinite(combined).all() or (combined[combined > 0] < np.finfo(np.float64).tiny).any():
        return None
    return combined


def _scaled_values(values: np.ndarray, row_scales: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return CSR values times their row's factor (``counts`` values per row), in the values' dtype."""
    return (values.astype(np.float64) * np.repeat(row_scales, counts)).astype(values.dtype)


def cell_scales(X: sparse.csr_matrix) -> np.ndarray | None:
    """One factor per cell such that ``X[i] · scale[i]`` is cell i at unit L2 norm, or ``None``.

    The factor is ``2⁻ᵉ · b`` (see :func:`_row_factors`), so a scaled value is the value
    :func:`normalize_cells` stores. ``None`` when some factor is not a normal float64 (a
    cell whose largest value is below ~1e-308 or above ~1e307): such a matrix is normalized
    in a copy.
    """
    scales = np.empty(X.shape[0])
    for first, last in _row_chunks(X.indptr, NORMALIZE_CHUNK):
        start, stop = X.indptr[first], X.indptr[last]
        chunk = _single_factors(*_row_factors(X.data[start:stop], X.indptr[first : last + 1] - start))
        if chunk is None:
            return None
        scales[first:last] = chunk
    return scales


def _normalized_csr_rows(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Return the stored values of some CSR rows (``indptr`` from 0), each row divided by its L2 norm."""
    exponent, factor = _row_factors(values, indptr)
    counts = np.diff(indptr)
    combined = _single_factors(exponent, factor)
    if combined is not None:
        # one factor per row, exactly as the products scale rows on the fly (see cell_scales)
        return _scaled_values(values, combined, counts)
    data = np.ldexp(values.astype(np.float64), -np.repeat(exponent, counts))
    return (data * np.repeat(factor, counts)).astype(values.dtype)


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

    With ``normalize``, every cell is scaled to unit L2 norm. A sparse matrix is not
    copied for that: the products scale each row as they read it (``cell_scale``), with
    the values a normalized copy would hold (:func:`normalize_cells`), so the results are
    those of the copy without its memory (0.8 GB for 200M float32 nonzeros). Dense input,
    and the rare sparse matrix whose scales are not representable, are normalized in a copy.

    The solver needs only what this class offers (``shape``, ``dtype``, ``sq_norm``,
    ``mean``, :meth:`times`, :meth:`transpose_times`, :meth:`truncated_svd`, :meth:`rows`);
    :mod:`.streamed` and :mod:`.dask_expression` offer the same for a matrix that is not in memory.
    """

    in_memory = True

    def __init__(self, X: np.ndarray | sparse.spmatrix, *, normalize: bool = False) -> None:
        self.stored: np.ndarray | sparse.csr_matrix
        self.cell_scale: np.ndarray | None = None
        if sparse.issparse(X) or isinstance(X, sparse.sparray):
            self.stored = canonical_csr(X)
            if normalize:
                self.cell_scale = cell_scales(self.stored)
                if self.cell_scale is None:
                    self.stored = normalize_cells(self.stored)
        else:
            self.stored = normalize_cells(X) if normalize else np.ascontiguousarray(X)
        self.dtype = self.stored.dtype
        self.shape = self.stored.shape
        self.sq_norm, total, peak = self._statistics()
        self.mean = total / max(self.shape[0] * self.shape[1], 1)
        check_scale(self.sq_norm, peak)

    def _statistics(self) -> tuple[float, float, float]:
        """Squared norm, sum and largest value of the matrix as factorized (scaled a chunk of rows at a time)."""
        if not sparse.issparse(self.stored):
            return value_statistics(np.asarray(self.stored))
        X = cast(sparse.csr_matrix, self.stored)
        if self.cell_scale is None:
            return value_statistics(X.data)
        sq_norm = total = peak = 0.0
        indptr = X.indptr
        for first, last in _row_chunks(indptr, NORMALIZE_CHUNK):
            start, stop = indptr[first], indptr[last]
            values = _scaled_values(X.data[start:stop], self.cell_scale[first:last], np.diff(indptr[first : last + 1]))
            chunk_sq, chunk_total, chunk_peak = value_statistics(values)
            sq_norm, total, peak = sq_norm + chunk_sq, total + chunk_total, max(peak, chunk_peak)
        return sq_norm, total, peak

    @property
    def matrix(self) -> np.ndarray | sparse.csr_matrix:
        """The matrix as factorized, in memory; a normalized copy when the cells are scaled on the fly."""
        if self.cell_scale is None:
            return self.stored
        return normalize_cells(self.stored)

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` for a genes × r matrix."""
        if self.cell_scale is None:
            return times(self.stored, factors)
        X = cast(sparse.csr_matrix, self.stored)
        return csr_times_dense(
            X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64), self.cell_scale
        )

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` for a cells × r matrix."""
        if self.cell_scale is None:
            return transpose_times(self.stored, factors)
        X = cast(sparse.csr_matrix, self.stored)
        return csr_transpose_times_dense(
            X.indptr, X.indices, X.data, np.ascontiguousarray(factors, dtype=np.float64), X.shape[1], self.cell_scale
        )

    def truncated_svd(
        self, n_comps: int, random_state: int | np.random.RandomState | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the leading ``n_comps`` singular triplets ``(left, singular values, right transposed)``, randomized."""
        return randomized_svd(self.shape, self.times, self.transpose_times, n_comps, random_state)

    def rows(self, cells: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """Return the rows ``cells`` (sorted indices) as factorized, in memory."""
        rows = self.stored[cells]
        return rows if self.cell_scale is None else normalize_cells(rows)
