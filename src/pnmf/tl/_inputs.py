"""Read what ``tl.pnmf`` needs from an AnnData, validated, without writing to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scanpy import logging as logg
from scipy import sparse

from .._core.batches import BalancedAverage, Batches, balanced_neighbors, neighbors_per_batch
from .._core.dask_expression import DaskSource, check_row_chunks, import_dask, is_dask_array
from .._core.expression import as_float, canonical_csr, factorized_dtype
from .._core.fit import Matrix, stage
from .._core.geometry import rips_edges
from .._core.persistence import EdgeList
from .._core.streamed import BlockSource
from .._errors import PnmfKeyError, PnmfTypeError, PnmfValueError
from .._options import HVG_IF_PRESENT, MaskVar, PnmfOptions
from .._validation import check_int, check_nonnegative_finite

__all__ = [
    "HVG_IF_PRESENT",
    "Inputs",
    "align_mask_var",
    "check_n_comps",
    "gene_mask",
    "knn_edges",
    "neighbor_distances",
    "read_batches",
    "read_expression",
    "read_inputs",
    "read_matrix",
    "read_representation",
    "scratch_neighbors",
]

DEFAULT_N_NEIGHBORS = 15
DEFAULT_N_PCS = 50
MAX_DENSE_REPRESENTATION = 20_000_000  # entries; use_rep='X' densifies the selected expression
#: Up to this many cells, pnmf's own neighbour searches are exact (scanpy's brute-force
#: search, ``transformer='sklearn'``); above, scanpy's default (pynndescent). The approximate
#: search compiles for about 30 s in every new process, then takes about 5 s at 50,000 cells
#: on 2 cores; the exact one takes 3.5 s there and needs no compiling, but grows with the
#: square of the cells (12 s at 100,000). scanpy's own default is exact below 8,192 cells.
EXACT_SEARCH_MAX_CELLS = 50_000


@dataclass(frozen=True)
class Inputs:
    """What a fit reads from an AnnData, and where each part came from (for messages and the manifest)."""

    X: Matrix
    source: str
    genes: np.ndarray
    points: np.ndarray
    representation: str
    edges: EdgeList
    graph: str
    timings: dict[str, float]
    batches: Batches | None = None
    average: BalancedAverage | None = None  # with batches: the averaging that integrates the embeddings
    matching: np.ndarray | None = None  # with pnmf's balanced graph: batches × batches shares of cells averaged over
    usage: BatchUsage | None = None  # with batches, once fitted: each batch's mean usage of the factors

    def provenance(self) -> dict[str, Any]:
        """Return where the expression, the representation and the graph came from, for ``params``."""
        return {
            "expression": self.source,
            "n_genes": int(self.genes.sum()),
            "representation": self.representation,
            "graph": self.graph,
        }


@dataclass(frozen=True)
class BatchUsage:
    """Each batch's mean usage of every factor, scales × batches × factors, as fitted and as written.

    ``fitted`` averages the solver's embeddings over each batch's cells, ``integrated`` the
    embeddings after the balanced averaging. The averaging replaces a cell's usage by that
    of similar cells of every batch, so their difference is what sets a batch apart from the
    matching cells of the others, free of the batches' different cell-type compositions.
    """

    fitted: np.ndarray
    integrated: np.ndarray


def read_inputs(adata: AnnData, options: PnmfOptions, *, out_of_core: bool = False) -> Inputs:
    """Read and check the expression (genes of ``mask_var``), the representation and the filtration's edges.

    ``n_comps`` is checked against the matrix here, before any PCA or kNN graph is built.
    With ``out_of_core``, a backed or Dask matrix is described, not read (see :func:`read_expression`).
    """
    if adata.n_obs < 3:
        msg = f"pnmf needs at least 3 cells, adata has {adata.n_obs}."
        raise PnmfValueError(msg)
    if adata.n_vars == 0:
        msg = "adata has no genes; pnmf needs an expression matrix with at least one gene."
        raise PnmfValueError(msg)
    timings: dict[str, float] = {}
    with stage(timings, "inputs"):
        genes = gene_mask(adata, options.mask_var)
        X, source = read_matrix(adata, options.layer, genes, out_of_core=out_of_core)
        check_n_comps(options.n_comps, X)
        batches = read_batches(adata, options.batch_key, options.n_comps)
        points, representation = read_representation(adata, options.use_rep, options.n_pcs, X, options.random_state)
    with stage(timings, "neighbors"):
        average, matching = None, None
        if options.filtration == "rips":
            edges, graph = rips_edges(points), "Vietoris–Rips filtration"
        elif batches is not None and options.neighbors_key is None:
            edges, average, matching, graph = balanced_graph(points, batches, options.random_state)
        else:
            edges, graph = knn_edges(adata, options.neighbors_key, points, options.random_state)
        if batches is not None and average is None:  # the user's graph: averaged over as it is
            average = BalancedAverage.from_edges(edges, batches)
    return Inputs(X, source, genes, points, representation, edges, graph, timings, batches, average, matching)


def read_batches(adata: AnnData, batch_key: str | None, n_comps: int) -> Batches | None:
    """Read and check the batch of every cell from ``adata.obs[batch_key]``; ``None`` without a key.

    The column must be categorical or hold strings, with no missing value, at least two
    batches, and at least ``n_comps`` cells in each (a batch's cells must be able to span the
    factors). Categories no cell holds are ignored.
    """
    if batch_key is None:
        return None
    if batch_key not in adata.obs.columns:
        msg = f"batch_key={batch_key!r} is not a column of adata.obs (available: {list(adata.obs.columns)})."
        raise PnmfKeyError(msg)
    column = adata.obs[batch_key]
    if not (isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(column.dtype)):
        msg = (
            f"adata.obs[{batch_key!r}] has dtype {column.dtype}; batch_key needs a categorical or string column. "
            f"If its values name batches, convert it: adata.obs[{batch_key!r}] = adata.obs[{batch_key!r}].astype(str)."
        )
        raise PnmfTypeError(msg)
    missing = int(column.isna().sum())
    if missing:
        msg = f"adata.obs[{batch_key!r}] has no batch for {missing} cells (NaN); give them a batch or subset adata to the cells that have one."
        raise PnmfValueError(msg)
    codes, names = pd.factorize(column.astype(str), sort=True)
    if len(names) < 2:
        msg = f"adata.obs[{batch_key!r}] holds one batch ({names[0]!r}); there is nothing to integrate: pass batch_key=None."
        raise PnmfValueError(msg)
    sizes = np.bincount(codes, minlength=len(names))
    small = [f"{names[b]!r} ({sizes[b]} cells)" for b in np.flatnonzero(sizes < n_comps)]
    if small:
        msg = (
            f"batches with fewer cells than n_comps={n_comps} factors: {', '.join(small)}. Pass a smaller n_comps, "
            f"or merge or drop these batches in adata.obs[{batch_key!r}]."
        )
        raise PnmfValueError(msg)
    return Batches(batch_key, np.asarray(names, dtype=str), codes.astype(np.int64))


def balanced_graph(
    points: np.ndarray, batches: Batches, random_state: int | None
) -> tuple[EdgeList, BalancedAverage, np.ndarray, str]:
    """Build a batch-balanced kNN graph on ``points`` (each cell's nearest cells within every batch) and its averaging.

    The filtration reads every edge; the averaging keeps a cell's edges to the batches
    that match its neighbourhood (:meth:`~pnmf._core.batches.BalancedNeighbors.matched`),
    whose shares per pair of batches are returned too.
    """
    k = neighbors_per_batch(DEFAULT_N_NEIGHBORS, batches.n_batches)
    logg.info(f"    building a batch-balanced kNN graph: {k} nearest cells within each of {batches.n_batches} batches")
    neighbours = balanced_neighbors(points, batches, k, random_state)
    matched = neighbours.matched()
    average = BalancedAverage.from_edges(neighbours.matched_edges(points, matched), batches)
    graph = f"batch-balanced {k}-NN graph per batch of adata.obs[{batches.key!r}], built by pnmf"
    return neighbours.edges(points), average, neighbours.matching(matched), graph


def check_n_comps(n_comps: int, X: Matrix) -> int:
    """Check a number of factors against the cells × selected genes matrix it factorizes."""
    return check_int(
        "n_comps",
        n_comps,
        minimum=1,
        maximum=min(X.shape),
        hint=f"It cannot exceed the number of cells ({X.shape[0]}) or selected genes ({X.shape[1]}).",
    )


def align_mask_var(adata: AnnData, mask_var: object) -> object:
    """Return ``mask_var`` with a pandas Series read by gene name, aligned to ``adata.var_names``; others unchanged.

    A Series indexed by other genes (e.g. a column of another AnnData's ``var``) is refused
    rather than applied by position.
    """
    if not isinstance(mask_var, pd.Series):
        return mask_var
    if mask_var.dtype != bool:
        msg = f"mask_var is a Series of dtype {mask_var.dtype}, expected bool (True for the genes to use)."
        raise PnmfValueError(msg)
    absent = adata.var_names.difference(mask_var.index)
    if not mask_var.index.is_unique or len(absent):
        problem = (
            "repeats gene names"
            if not mask_var.index.is_unique
            else f"lacks {len(absent)} of adata's genes (e.g. {list(absent[:3])})"
        )
        msg = (
            f"mask_var is a Series whose index {problem}: it is indexed by other genes, e.g. a column of another "
            "AnnData's var. Pass a Series indexed by adata.var_names (e.g. adata.var['highly_variable']) or a "
            "boolean array in adata's gene order."
        )
        raise PnmfValueError(msg)
    return mask_var.reindex(adata.var_names).to_numpy(dtype=bool)


def gene_mask(adata: AnnData, mask_var: MaskVar) -> np.ndarray:
    """Resolve ``mask_var`` to a boolean mask over ``adata.var`` of the genes to factorize."""
    if mask_var is HVG_IF_PRESENT:
        mask_var = "highly_variable" if "highly_variable" in adata.var.columns else None
    if mask_var is None:
        mask = np.ones(adata.n_vars, dtype=bool)
    elif isinstance(mask_var, str):
        if mask_var not in adata.var.columns:
            msg = f"mask_var={mask_var!r} is not a column of adata.var; pass mask_var=None to use all genes, or one of the boolean columns: {_bool_columns(adata.var)}."
            raise PnmfKeyError(msg)
        column = adata.var[mask_var]
        if column.dtype != bool:
            msg = f"adata.var[{mask_var!r}] has dtype {column.dtype}, expected bool (True for the genes to use)."
            raise PnmfValueError(msg)
        mask = column.to_numpy()
    else:
        mask = np.asarray(mask_var)
        if mask.dtype != bool or mask.shape != (adata.n_vars,):
            msg = f"mask_var must be a boolean array with one entry per gene ({adata.n_vars}), got dtype {mask.dtype} and shape {mask.shape}."
            raise PnmfValueError(msg)
    if not mask.any():
        msg = "mask_var selects no genes; pass mask_var=None to use all genes."
        raise PnmfValueError(msg)
    return mask


def _bool_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if frame[c].dtype == bool]


def read_matrix(adata: AnnData, layer: str | None, mask: np.ndarray, *, out_of_core: bool) -> tuple[Matrix, str]:
    """Read the cells × selected-genes matrix (:func:`read_expression`), or describe it where it is.

    With ``out_of_core``, the matrix of a backed AnnData (``read_h5ad(..., backed='r')``) is
    returned as a :class:`~pnmf._core.streamed.BlockSource` and a Dask array as a
    :class:`~pnmf._core.dask_expression.DaskSource`: neither is loaded; their values are
    checked as the fit reads them.
    """
    X, where = _stored_matrix(adata, layer)
    columns = None if mask.all() else np.flatnonzero(mask)
    if out_of_core and is_dask_array(X):
        import_dask()
        check_row_chunks(X, where)
        source = DaskSource(X, where, columns)
        _check_dtype(source.dtype, where)
        return source, where
    if out_of_core and _is_backed_matrix(X):
        return _backed_source(X, where, columns), where
    return read_expression(adata, layer, mask, out_of_core=out_of_core)


def _stored_matrix(adata: AnnData, layer: str | None) -> tuple[Any, str]:
    """Return the matrix of ``layer`` (``None``: X) as stored, and its name in messages."""
    if layer is None:
        X, where = adata.X, "adata.X"
        if X is None:
            msg = "adata.X is empty; pass layer='<name>' to use one of adata.layers."
            raise PnmfValueError(msg)
    else:
        if layer not in adata.layers:
            msg = f"layer={layer!r} is not in adata.layers (available: {list(adata.layers)}); pass layer=None to use adata.X."
            raise PnmfKeyError(msg)
        X, where = adata.layers[layer], f"adata.layers[{layer!r}]"
    return X, where


def read_expression(
    adata: AnnData, layer: str | None, mask: np.ndarray, *, out_of_core: bool = False
) -> tuple[np.ndarray | sparse.csr_matrix, str]:
    """Read the cells × selected-genes matrix into memory as float (CSR when sparse), checked, never densified.

    Returns the matrix and a name for it to use in messages. ``out_of_core`` only words the
    refusal of a matrix that is not in memory (see :func:`read_matrix`).
    """
    X, where = _stored_matrix(adata, layer)
    columns = None if mask.all() else np.flatnonzero(mask)
    if sparse.issparse(X) or isinstance(X, sparse.sparray):
        X = canonical_csr(X)  # duplicate entries are summed (in a copy), as they mean
    elif isinstance(X, np.ndarray):
        pass
    else:
        hint = (
            "a backed AnnData's matrix and Dask arrays are read where they are by tl.pnmf only; load it into memory first for this tool"
            if not out_of_core
            else "load it into memory first"
        )
        msg = f"{where} is a {type(X).__name__}; pnmf needs a NumPy array or a SciPy sparse matrix ({hint})."
        raise PnmfTypeError(msg)
    if columns is not None:
        X = X[:, columns]
    X = as_float(X, where)
    check_nonnegative_finite(X, where)
    return X, where


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype not in (np.float32, np.float64):
        msg = f"{where} has dtype {dtype}; pnmf needs real numbers (float or integer counts)."
        raise PnmfTypeError(msg)


def _is_backed_matrix(X: object) -> bool:
    """Whether ``X`` is the on-disk matrix of a backed AnnData (sparse dataset or HDF5/zarr array)."""
    from anndata.abc import CSCDataset, CSRDataset

    return isinstance(X, CSRDataset | CSCDataset) or type(X).__module__.split(".")[0] in {"h5py", "zarr"}


def _backed_source(X: Any, where: str, columns: np.ndarray | None) -> BlockSource:
    """Describe a backed matrix to read by blocks of rows; CSC on disk is refused (every block would read it whole)."""
    from anndata.abc import CSCDataset, CSRDataset

    if isinstance(X, CSCDataset):
        msg = (
            f"{where} is stored column by column (CSC) on disk; pnmf reads it by blocks of cells, which would read "
            "the whole file for every block. Store it as CSR: load it (adata = adata.to_memory()), convert it "
            "(adata.X = adata.X.tocsr()) and write it again with adata.write_h5ad(path)."
        )
        raise PnmfValueError(msg)
    n_rows, n_cols = (int(n) for n in X.shape)
    dtype = np.dtype(X.dtype)
    if isinstance(X, CSRDataset):
        n_stored = int(X.group["data"].shape[0])
        bytes_per_row = n_stored * (dtype.itemsize + X.group["indices"].dtype.itemsize) / max(n_rows, 1)
    else:
        bytes_per_row = n_cols * dtype.itemsize
    _check_dtype(factorized_dtype(dtype), where)
    return BlockSource(lambda start, stop: X[start:stop], n_rows, n_cols, dtype, bytes_per_row, where, columns)


def read_representation(
    adata: AnnData,
    use_rep: str,
    n_pcs: int | None,
    expression: Matrix,
    random_state: int | None,
) -> tuple[np.ndarray, str]:
    """Read the cell coordinates that define the geometry, and say where they came from.

    When ``use_rep='X_pca'`` is missing, the PCA is computed on the expression matrix as
    ``sc.pp.neighbors`` would (scanpy's defaults), without writing it to ``adata``.
    ``use_rep='X'`` uses the selected expression itself (small data only). Neither is done
    for a matrix that is not in memory (backed or Dask): the representation must be given.
    """
    if isinstance(expression, BlockSource | DaskSource) and use_rep not in adata.obsm:
        kind = "a Dask array" if isinstance(expression, DaskSource) else "read from disk (backed)"
        msg = (
            f"use_rep={use_rep!r} is not in adata.obsm, and the expression is {kind}: pnmf does not compute a "
            "representation from it. Compute one first, e.g. sc.pp.pca(adata) (on the data in memory or on a "
            "Dask array), and pass use_rep='X_pca'."
        )
        raise PnmfValueError(msg)
    if use_rep == "X":
        if expression.shape[0] * expression.shape[1] > MAX_DENSE_REPRESENTATION:
            msg = f"use_rep='X' needs the expression as dense coordinates ({expression.shape[0]} × {expression.shape[1]}), too large; run sc.pp.pca(adata) and pass use_rep='X_pca'."
            raise PnmfValueError(msg)
        points = sparse.csr_matrix(expression).toarray() if sparse.issparse(expression) else np.asarray(expression)
        source = "the expression matrix (use_rep='X')"
    elif use_rep in adata.obsm:
        points = np.asarray(
            adata.obsm[use_rep] if not isinstance(adata.obsm[use_rep], pd.DataFrame) else adata.obsm[use_rep].to_numpy()
        )
        source = f"adata.obsm[{use_rep!r}]"
    elif use_rep == "X_pca":
        n_comps = min(DEFAULT_N_PCS, *expression.shape) - 1
        if n_comps < 1:
            msg = "Too few cells or genes to compute a PCA; pass use_rep='<key>' of a representation in adata.obsm."
            raise PnmfValueError(msg)
        logg.info(
            f"    no 'X_pca' in adata.obsm: computing a {n_comps}-component PCA of the expression matrix (not stored)"
        )
        points = sc.pp.pca(expression, n_comps=n_comps, random_state=random_state)
        source = "PCA computed by pnmf"
    else:
        msg = f"use_rep={use_rep!r} is not in adata.obsm (available: {list(adata.obsm)}); run sc.pp.pca(adata) and pass use_rep='X_pca', or name an existing representation."
        raise PnmfKeyError(msg)
    if points.ndim != 2 or points.shape[0] != adata.n_obs:
        msg = f"{source} must be a cells × dimensions matrix, got shape {points.shape}."
        raise PnmfValueError(msg)
    if n_pcs is not None:
        if n_pcs > points.shape[1]:
            msg = f"n_pcs={n_pcs} exceeds the {points.shape[1]} columns of {source}; pass n_pcs=None to use them all."
            raise PnmfValueError(msg)
        points = points[:, :n_pcs]
    points = np.ascontiguousarray(points, dtype=np.float64)
    if not np.isfinite(points).all():
        msg = (
            f"{source} contains NaN or infinite values; recompute the representation (e.g. sc.pp.pca) from finite data."
        )
        raise PnmfValueError(msg)
    return points, source


def knn_edges(
    adata: AnnData, neighbors_key: str | None, points: np.ndarray, random_state: int | None
) -> tuple[EdgeList, str]:
    """Read the edges of the cells' kNN graph, with lengths measured in ``points``.

    The graph of ``sc.pp.neighbors`` under ``neighbors_key`` is used when present (by
    default the one under ``'neighbors'``); otherwise a kNN graph is built on ``points`` and
    kept private, so the user's own ``neighbors`` are never overwritten.
    """
    key = neighbors_key if neighbors_key is not None else "neighbors"
    if key in adata.uns:
        distances = _neighbor_distances(adata, key)
        source = f"neighbour graph adata.uns[{key!r}]"
    elif neighbors_key is not None:
        msg = f"neighbors_key={neighbors_key!r} is not in adata.uns; run sc.pp.neighbors(adata, key_added={neighbors_key!r}) or pass neighbors_key=None to build a graph."
        raise PnmfKeyError(msg)
    else:
        n_neighbors = min(DEFAULT_N_NEIGHBORS, adata.n_obs - 1)
        logg.info(
            f"    no neighbour graph in adata.uns: building a {n_neighbors}-NN graph on the representation (not stored)"
        )
        distances = neighbor_distances(points, n_neighbors, random_state)
        source = f"{n_neighbors}-NN graph built by pnmf"
    coo = sparse.coo_matrix(distances)
    return EdgeList.from_pairs(adata.n_obs, coo.row, coo.col, points), source


def neighbor_distances(points: np.ndarray, n_neighbors: int, random_state: int | None) -> sparse.csr_matrix:
    """Return the kNN distances of ``points`` (cells × cells) as :func:`scanpy.pp.neighbors` finds them, without its connectivities.

    The same search (:class:`scanpy.Neighbors`, the same neighbours and distances; exact up
    to :data:`EXACT_SEARCH_MAX_CELLS` cells); the connectivities, which a search for
    candidates does not read, are not computed: at a million cells and 45 neighbours they
    cost minutes and gigabytes.
    """
    scratch = AnnData(obsm={"rep": np.asarray(points)}, shape=(points.shape[0], 0))
    neighbors = sc.Neighbors(scratch)
    neighbors.compute_neighbors(
        n_neighbors, use_rep="rep", method=None, transformer=_search(len(points)), random_state=random_state
    )
    return sparse.csr_matrix(neighbors.distances)


def scratch_neighbors(points: np.ndarray, n_neighbors: int, random_state: int | None) -> AnnData:
    """Return a throwaway AnnData holding only ``points`` (as ``obsm['rep']``) and their kNN graph.

    The graph is built by :func:`scanpy.pp.neighbors`, exact up to
    :data:`EXACT_SEARCH_MAX_CELLS` cells; nothing is written to the user's AnnData.
    """
    scratch = AnnData(obsm={"rep": np.asarray(points)}, shape=(points.shape[0], 0))
    sc.pp.neighbors(
        scratch, n_neighbors=n_neighbors, use_rep="rep", transformer=_search(len(points)), random_state=random_state
    )
    return scratch


def _search(n_cells: int) -> Literal["sklearn"] | None:
    """Return scanpy's neighbour search for ``n_cells`` cells: exact up to :data:`EXACT_SEARCH_MAX_CELLS`, its default above."""
    return "sklearn" if n_cells <= EXACT_SEARCH_MAX_CELLS else None


def _neighbor_distances(adata: AnnData, key: str) -> sparse.spmatrix:
    entry = adata.uns[key]
    dists_key = entry.get("distances_key", "distances") if isinstance(entry, dict) else "distances"
    if dists_key not in adata.obsp:
        msg = f"adata.uns[{key!r}] names distances {dists_key!r}, which is not in adata.obsp; rerun sc.pp.neighbors."
        raise PnmfKeyError(msg)
    distances = adata.obsp[dists_key]
    if distances.shape != (adata.n_obs, adata.n_obs):
        msg = f"adata.obsp[{dists_key!r}] has shape {distances.shape}, expected ({adata.n_obs}, {adata.n_obs}); rerun sc.pp.neighbors."
        raise PnmfValueError(msg)
    return distances
