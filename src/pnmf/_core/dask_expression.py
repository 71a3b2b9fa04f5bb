"""The cells × genes matrix as a Dask array: the products run where the blocks are, the rest on the client.

Dask is optional (``pip install 'persistent-nmf[dask]'``); it is imported only when a
Dask array is factorized. The array must be chunked along cells only (every block holds
whole rows): each block is prepared as the in-memory path prepares the whole matrix
(genes selected, float, checked, cells normalized, all row by row) and kept on the
workers (``persist``). Then

* ``X W`` is one task per block (``map_blocks``), whose cells × k result comes back to the
  client;
* ``Xᵀ U`` is one genes × k partial product per block, summed by Dask's tree reduction;

both through the compiled kernels of :mod:`.kernels`. The embeddings, the graphs and the
per-cell updates stay on the client: the coordinate descent over cells follows the graph's
edges, which cross blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from .._errors import PnmfValueError
from .expression import check_scale, factorized_dtype, times, transpose_times
from .streamed import Block, BlockedSVD, block_statistics, prepare_block

__all__ = ["DaskExpression", "DaskSource", "check_row_chunks", "import_dask", "is_dask_array"]

INSTALL_HINT = "pip install 'persistent-nmf[dask]'"


def import_dask() -> Any:
    """Import ``dask.array``, or say how to install it."""
    try:
        import dask.array as da
    except ImportError as error:
        msg = f"factorizing a Dask array needs Dask; install it with {INSTALL_HINT}."
        raise ImportError(msg) from error
    return da


def is_dask_array(X: object) -> bool:
    """Whether ``X`` is a Dask array (without importing Dask when it is not loaded)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks") and hasattr(X, "map_blocks")


def check_row_chunks(X: Any, where: str) -> None:
    """Refuse a Dask array whose blocks split the genes: every block must hold whole rows."""
    if X.ndim != 2:
        msg = f"{where} is a {X.ndim}-dimensional Dask array; pnmf needs a cells × genes matrix."
        raise PnmfValueError(msg)
    if len(X.chunks[1]) != 1:
        msg = (
            f"{where} is chunked along genes ({len(X.chunks[1])} chunks of columns); pnmf needs every block to hold "
            "whole cells. Rechunk it along cells only, e.g. adata.X = adata.X.rechunk({1: -1})."
        )
        raise PnmfValueError(msg)


def _prepared(block: Any, columns: np.ndarray | None, normalize: bool, where: str) -> Block:
    return prepare_block(block, columns, normalize, where)


def _statistics(block: Block) -> np.ndarray:
    return np.array([block_statistics(block)])


def _times(block: Block, factors: np.ndarray) -> np.ndarray:
    return times(block, factors)


def _transpose_times(block: Block, factors: np.ndarray) -> np.ndarray:
    return transpose_times(block, factors)[None]


class DaskExpression(BlockedSVD):
    """The products of :class:`~pnmf._core.expression.Expression` for a Dask array chunked along cells.

    Parameters
    ----------
    X
        Cells × genes Dask array with NumPy or SciPy sparse blocks, one chunk of columns.
    columns
        The genes to factorize (``None``: all).
    normalize
        Scale every cell to unit L2 norm.
    where
        How messages name the matrix.
    """

    in_memory = False

    def __init__(self, X: Any, columns: np.ndarray | None, *, normalize: bool, where: str) -> None:
        da = import_dask()
        check_row_chunks(X, where)
        self.where = where
        n_genes = X.shape[1] if columns is None else len(columns)
        self.shape = (int(X.shape[0]), int(n_genes))
        self.dtype = factorized_dtype(X.dtype)
        self.sparse = sparse.issparse(X._meta) or isinstance(X._meta, sparse.sparray)
        meta = sparse.csr_matrix((0, 0), dtype=self.dtype) if self.sparse else np.empty((0, 0), dtype=self.dtype)
        prepared = X.map_blocks(
            _prepared,
            columns,
            normalize,
            where,
            chunks=(X.chunks[0], (n_genes,)),
            dtype=self.dtype,
            meta=meta,
        )
        # the prepared blocks stay on the workers: every product reads them, none rebuilds them
        self.array = prepared.persist()
        self.row_chunks = np.asarray(self.array.chunks[0], dtype=np.int64)
        self.offsets = np.r_[0, np.cumsum(self.row_chunks)]
        stats = self.array.map_blocks(
            _statistics,
            chunks=((1,) * len(self.row_chunks), (3,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        ).compute()
        self.sq_norm = float(stats[:, 0].sum())
        self.mean = float(stats[:, 1].sum()) / max(self.shape[0] * self.shape[1], 1)
        check_scale(self.sq_norm, float(stats[:, 2].max()) if len(stats) else 0.0)
        self._da = da

    def _row_chunked(self, factors: np.ndarray) -> Any:
        return self._da.from_array(factors, chunks=(tuple(self.row_chunks), (factors.shape[1],)))

    def _by_rows(self, function: Any, factors: np.ndarray, dtype: np.dtype) -> np.ndarray:
        out = self.array.map_blocks(
            function,
            factors,
            chunks=(self.array.chunks[0], (factors.shape[1],)),
            dtype=dtype,
            meta=np.empty((0, 0), dtype=dtype),
        )
        return np.asarray(out.compute())

    def _summed(self, function: Any, factors: np.ndarray, dtype: np.dtype) -> np.ndarray:
        partials = self._da.blockwise(
            function,
            "bij",
            self.array,
            "bi",
            self._row_chunked(factors),
            "bj",
            adjust_chunks={"b": 1},
            dtype=dtype,
            meta=np.empty((0, 0, 0), dtype=dtype),
        )
        # partials: blocks × genes × r (one genes × r partial per block), summed as a tree
        return np.asarray(partials.sum(axis=0, dtype=dtype).compute())

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` for a genes × r matrix: one task per block of cells."""
        return self._by_rows(_times, np.ascontiguousarray(factors, dtype=np.float64), np.dtype(np.float64))

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` for a cells × r matrix: per-block genes × r partials, summed by Dask."""
        return self._summed(_transpose_times, np.ascontiguousarray(factors, dtype=np.float64), np.dtype(np.float64))

    def rows(self, cells: np.ndarray) -> Block:
        """Gather the rows ``cells`` (sorted indices) on the client from the blocks that hold them."""
        import dask

        owner = np.searchsorted(self.offsets[1:], cells, side="right")
        blocks = self.array.to_delayed()[:, 0]
        parts = dask.compute(
            *(dask.delayed(_take_rows)(blocks[i], cells[owner == i] - self.offsets[i]) for i in np.unique(owner))
        )
        if not parts:
            empty = np.empty((0, self.shape[1]), dtype=self.dtype)
            return sparse.csr_matrix(empty) if self.sparse else empty
        return sparse.vstack(parts, format="csr") if self.sparse else np.vstack(parts)


def _take_rows(block: Block, rows: np.ndarray) -> Block:
    return block[rows]


@dataclass(frozen=True)
class DaskSource:
    """A cells × genes Dask array to factorize, the genes to keep (``None``: all) and its name in messages."""

    array: Any
    where: str
    columns: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Cells × selected genes."""
        n_genes = self.array.shape[1] if self.columns is None else len(self.columns)
        return int(self.array.shape[0]), int(n_genes)

    @property
    def dtype(self) -> np.dtype:
        """The dtype the selected values are factorized in."""
        return factorized_dtype(self.array.dtype)
