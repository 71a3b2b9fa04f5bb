"""The cells × genes matrix read in blocks of rows, for a matrix that does not sit in memory.

A backed AnnData keeps its matrix in an .h5ad file. The solver touches X only through two
products (``X W`` and ``Xᵀ U``), the matrix's squared norm and mean, a randomized SVD for
the initialization, and a few thousand rows for λ1's cross-validation; all of them are
sums over rows, so they stream. :class:`StreamedExpression` reads the stored matrix once,
block of rows by block of rows, turns each block into what the solver factorizes (genes
selected, float, checked, cells normalized: exactly what the in-memory path does, row by
row) and spills it to a private temporary folder in NumPy's own format. Every product then
reads the blocks back in order, one at a time (the next one is read while the current one
is multiplied), memory-mapped, through the same compiled kernels as an in-memory matrix.
The process maps one or two blocks at a time, never the matrix; the operating system's
file cache keeps the spilled blocks when they fit, and pages them from disk otherwise.

The initialization's randomized SVD (:mod:`.svd`) needs the two products only, so a
streamed matrix starts from the same factors as the same matrix in memory.
"""

from __future__ import annotations

import mmap
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
from scipy import sparse
from tqdm import tqdm

from .._errors import PnmfTypeError
from .._validation import check_nonnegative_finite
from .expression import (
    as_float,
    canonical_csr,
    check_scale,
    factorized_dtype,
    normalize_cells,
    times,
    transpose_times,
    value_statistics,
)
from .svd import randomized_svd

__all__ = ["BLOCK_BYTES", "BlockSource", "BlockedSVD", "StreamedExpression", "prepare_block"]

#: Bytes of one block of rows as stored (nonzeros and their indices, or dense values): a few of
#: them are in memory at once (with float64 temporaries several times larger while a block is
#: prepared), and each is large enough that reading it costs far more than a call.
BLOCK_BYTES = 1 << 25

Block: TypeAlias = np.ndarray | sparse.csr_matrix


@dataclass(frozen=True)
class BlockSource:
    """A stored cells × genes matrix, read by rows: ``read(start, stop)`` returns those rows as stored.

    ``columns`` are the genes to factorize (``None``: all); ``bytes_per_row`` is the stored
    size of an average row, which sets the rows per block; ``where`` names the matrix in messages.
    """

    read: Callable[[int, int], np.ndarray | sparse.spmatrix]
    n_rows: int
    n_cols: int
    stored_dtype: np.dtype
    bytes_per_row: float
    where: str
    columns: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Cells × selected genes."""
        return self.n_rows, self.n_cols if self.columns is None else len(self.columns)

    @property
    def dtype(self) -> np.dtype:
        """The dtype the selected values are factorized in."""
        return factorized_dtype(self.stored_dtype)

    def block_rows(self, block_bytes: int | None = None) -> int:
        """Rows per block, so that a block holds about ``block_bytes`` as stored (default :data:`BLOCK_BYTES`)."""
        block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
        return int(max(1, min(self.n_rows, block_bytes // max(self.bytes_per_row, 1.0))))


def prepare_block(
    block: np.ndarray | sparse.spmatrix, columns: np.ndarray | None, normalize: bool, where: str
) -> Block:
    """One block of rows as the solver factorizes it: genes selected, float, checked, every cell normalized.

    The same steps, in the same order, as reading the whole matrix in memory; all of them
    act row by row, so the rows are the same as the in-memory matrix's.
    """
    if sparse.issparse(block) or isinstance(block, sparse.sparray):
        block = canonical_csr(block)
    else:
        block = np.asarray(block)
    if columns is not None:
        block = block[:, columns]
    block = as_float(block, where)
    check_nonnegative_finite(block, where)
    if normalize:
        block = normalize_cells(block)
    return canonical_csr(block) if sparse.issparse(block) else np.ascontiguousarray(block)


def block_statistics(block: Block) -> tuple[float, float, float]:
    """Squared norm, sum and largest absolute value of a block's values, in float64."""
    return value_statistics(np.asarray(block if isinstance(block, np.ndarray) else block.data))


class BlockedSVD:
    """The randomized SVD and the refusal of ``matrix`` shared by the matrices that are not in memory.

    Subclasses provide ``shape``, ``where``, :meth:`times` and :meth:`transpose_times`.
    """

    shape: tuple[int, int]
    where: str

    @property
    def matrix(self) -> np.ndarray | sparse.csr_matrix:
        """Refused: this matrix is not in memory."""
        msg = f"{self.where} is not in memory (backed or a Dask array); this tool needs it loaded: adata = adata.to_memory(), or adata.X = adata.X.compute()."
        raise PnmfTypeError(msg)

    def times(self, factors: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def truncated_svd(
        self, n_comps: int, random_state: int | np.random.RandomState | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the leading ``n_comps`` singular triplets ``(left, singular values, right transposed)``, randomized."""
        return randomized_svd(self.shape, self.times, self.transpose_times, n_comps, random_state)


class StreamedExpression(BlockedSVD):
    """The products of :class:`~pnmf._core.expression.Expression` for a matrix read in blocks of rows.

    Parameters
    ----------
    source
        Where the stored matrix is read from, and which genes to keep.
    normalize
        Scale every cell to unit L2 norm (as ``normalize=True`` in memory).
    directory
        Where the private spill folder is made (default: the system's temporary folder).
        It holds the matrix as factorized, about the size of the stored matrix, and is
        removed when this object is.
    block_bytes
        Stored size of one block of rows (default :data:`BLOCK_BYTES`).
    progress
        A bar with an ETA over the cells read (the first read of a backed matrix of millions
        of cells takes minutes).
    """

    in_memory = False

    def __init__(
        self,
        source: BlockSource,
        *,
        normalize: bool,
        directory: str | Path | None = None,
        block_bytes: int | None = None,
        progress: bool = False,
    ) -> None:
        self.shape = source.shape
        self.dtype = source.dtype
        self.where = source.where
        self._folder = Path(tempfile.mkdtemp(prefix="pnmf-blocks-", dir=directory))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        step = source.block_rows(block_bytes)
        self.starts = np.arange(0, source.n_rows, step, dtype=np.int64)
        self.stops = np.minimum(self.starts + step, source.n_rows)
        self.sparse = False
        sq_norm = total = peak = 0.0
        bar = tqdm(
            total=source.n_rows,
            desc=f"reading {source.where}",
            unit="cell",
            unit_scale=True,
            disable=not progress,
            leave=False,
        )
        try:
            for i, (start, stop) in enumerate(zip(self.starts, self.stops, strict=True)):
                block = prepare_block(source.read(int(start), int(stop)), source.columns, normalize, source.where)
                self.sparse = sparse.issparse(block)
                block_sq, block_total, block_peak = block_statistics(block)
                sq_norm, total, peak = sq_norm + block_sq, total + block_total, max(peak, block_peak)
                self._spill(i, block)
                bar.update(int(stop - start))
        except BaseException:
            self.close()
            raise
        finally:
            bar.close()
        self.sq_norm = sq_norm
        self.mean = total / max(self.shape[0] * self.shape[1], 1)
        check_scale(self.sq_norm, peak)

    def close(self) -> None:
        """Remove the spilled blocks now (otherwise when the object is garbage-collected)."""
        self._cleanup()

    @property
    def n_blocks(self) -> int:
        """Number of blocks of rows."""
        return len(self.starts)

    def _spill(self, i: int, block: Block) -> None:
        if sparse.issparse(block):
            for name in ("data", "indices", "indptr"):
                np.save(self._folder / f"{i}.{name}.npy", getattr(block, name))
        else:
            np.save(self._folder / f"{i}.dense.npy", block)

    def _load(self, i: int) -> Block:
        # memory-mapped, not copied: the kernels read the file cache's pages in place
        if not self.sparse:
            return self._mapped(i, "dense")
        data, indices, indptr = (self._mapped(i, name) for name in ("data", "indices", "indptr"))
        shape = (int(self.stops[i] - self.starts[i]), self.shape[1])
        return sparse.csr_matrix((data, indices, indptr), shape=shape, copy=False)

    def _mapped(self, i: int, name: str) -> np.ndarray:
        mapped = np.load(self._folder / f"{i}.{name}.npy", mmap_mode="r")
        region = getattr(mapped, "_mmap", None)
        if region is not None and hasattr(mmap, "MADV_WILLNEED"):
            region.madvise(mmap.MADV_WILLNEED)  # the system reads the block ahead, while the previous one is used
        return np.asarray(mapped)

    def blocks(self, which: np.ndarray | None = None) -> Iterator[tuple[int, int, Block]]:
        """Yield ``(start, stop, block)`` in order, mapping the next block (read ahead) while the caller works on this one."""
        order = np.arange(self.n_blocks) if which is None else which
        if len(order) == 0:
            return
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(self._load, int(order[0]))
            for position, i in enumerate(order):
                block = pending.result()
                if position + 1 < len(order):
                    pending = reader.submit(self._load, int(order[position + 1]))
                yield int(self.starts[i]), int(self.stops[i]), block

    def times(self, factors: np.ndarray) -> np.ndarray:
        """``X @ factors`` for a genes × r matrix; each block gives its rows of the product."""
        out = np.empty((self.shape[0], factors.shape[1]))
        for start, stop, block in self.blocks():
            out[start:stop] = times(block, factors)
        return out

    def transpose_times(self, factors: np.ndarray) -> np.ndarray:
        """``Xᵀ @ factors`` for a cells × r matrix: the sum of every block's genes × r partial product."""
        out = np.zeros((self.shape[1], factors.shape[1]))
        for start, stop, block in self.blocks():
            out += transpose_times(block, factors[start:stop])
        return out

    def rows(self, cells: np.ndarray) -> Block:
        """Return the rows ``cells`` (sorted indices), in memory: only the blocks that hold them are read."""
        owner = np.searchsorted(self.stops, cells, side="right")
        parts = [
            block[cells[owner == i] - start]
            for (start, _, block), i in zip(self.blocks(np.unique(owner)), np.unique(owner), strict=True)
        ]
        if not parts:
            return (
                sparse.csr_matrix((0, self.shape[1]), dtype=self.dtype)
                if self.sparse
                else np.empty((0, self.shape[1]), dtype=self.dtype)
            )
        return sparse.vstack(parts, format="csr") if self.sparse else np.vstack(parts)
