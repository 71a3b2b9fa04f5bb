"""``pnmf.tl.project``: embed new cells at every scale of a fitted reference, and transfer its clusters."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from itertools import pairwise
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

from .._core.expression import Expression, normalize_cells
from .._core.fit import objective_weights
from .._core.hierarchy import nesting
from .._core.projection import Neighbours, ProjectedCells, find_neighbours, project_cells, transfer_labels
from .._docs import doc_params
from .._errors import PnmfKeyError, PnmfTypeError, PnmfValueError
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, check_result_key, fitted_genes, stale_entries, write_results, writer
from .._palette import categorical_colors
from .._sections import Clustering, Convergence, History, Projection, Umap
from .._validation import (
    check_bool,
    check_in_memory,
    check_int,
    check_key_added,
    check_real,
    check_seed,
)
from ._inputs import read_expression
from ._reference import Reference, TransferableClustering, read_reference

__all__ = ["project"]

#: Fields of the reference's manifest that describe its scales and model; a projection shares them. Those
#: that describe the reference cells' graphs (``n_connected``, ``n_edges``, ``persistence``) are not the query's.
SHARED_FIELDS = (
    Manifest.THRESHOLDS,
    Manifest.RECOMMENDED,
    Manifest.ALIGNMENT,
    Manifest.PARAMS,
)
#: Copied too where the reference has it (written since the scale was cross-validated).
OPTIONAL_SHARED_FIELDS = (Manifest.CROSS_VALIDATION,)


@doc_params
def project(
    adata: AnnData,
    reference: AnnData,
    *,
    key: str = DEFAULT_KEY,
    use_rep: str | None = None,
    n_neighbors: int = 15,
    max_missing: float = 0.1,
    random_state: int | np.random.RandomState | None = 0,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Embed new cells at every scale of a fitted reference, its gene programs fixed, and transfer its clusters.

    Every cell of ``adata`` gets one embedding per scale of the result ``key`` of
    ``reference``, without refitting: the same factors, the same scales, the same cluster
    labels. A query cell's embeddings minimize the fit's own objective with the loadings and
    the reference cells fixed: the reconstruction of its expression (preprocessed as in
    the fit: the same layer and genes, cells scaled to unit norm), the graph term through
    its nearest reference cells closer than the scale's threshold ε_t, the coupling of its
    consecutive scales (stronger where a scale gives it fewer close reference cells, as in
    the fit: a cell with none at a fine scale follows its own coarser embedding) and the
    anchoring. Query cells do not influence each other or the
    reference. This is what :func:`scanpy.tl.ingest` does for a PCA and UMAP, and cNMF's
    ``refit_usage`` for programs.

    Neighbours are found in the representation the reference's scales were measured in
    (``params['use_rep']`` of its fit, usually ``'X_pca'``). By default the query cells are
    placed in the reference's PCA from ``adata.X`` (which must be preprocessed as the
    reference's ``X`` was for its PCA, as for :func:`scanpy.tl.ingest`); with ``use_rep``
    their coordinates in that space are read from ``adata.obsm`` instead (e.g. after
    ``sc.tl.ingest`` or an integration model's query mapping).

    Genes are matched by name. Missing genes are left out of the reconstruction (not
    read as zeros) and out of the PCA placement (read as the reference's mean), with a
    warning; above ``max_missing`` of the reference's genes missing, nothing is written.

    Each ``tl.leiden`` clustering of the reference is transferred by a vote of the
    ``n_neighbors`` nearest reference cells in the finest scale's embedding (where
    ``tl.leiden`` finds its clusters); when the reference's levels nest, labels are chosen
    coarse to fine among the children of the coarser label, so the query's levels nest
    too. UMAPs of ``tl.umap`` are placed at the distance-weighted mean of the same
    neighbours' positions (where UMAP's own ``transform`` starts).

    Parameters
    ----------
    adata
        The new cells, with the expression the reference was fitted on (same layer, same
        preprocessing) and, for the default placement, ``X`` preprocessed as the
        reference's for its PCA.
    reference
        AnnData with a ``tl.pnmf`` result (the fitted cells), or a reference written by
        :func:`pnmf.io.write_reference` and read back (the same without expression).
    key
        ``key_added`` of the ``tl.pnmf`` result in ``reference``.
    use_rep
        Key of ``adata.obsm`` holding the query cells' coordinates in the reference's
        representation. ``None``: place them with the reference's PCA loadings.
    n_neighbors
        Reference neighbours of each query cell (graph term, cluster votes, UMAP).
    max_missing
        Largest share of the reference's genes that may be missing from ``adata``.
    random_state
        Seed of the approximate neighbour search used for large data.
    key_added
        Where the results go, named as by ``tl.pnmf``; by default ``key``, so that
        ``pnmf.get`` and ``pnmf.pl`` read the query with the same defaults as the reference.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets, as ``tl.pnmf`` would:

    ``adata.obsm['X_{key_added}_{t}']``
        Cells × k embedding at scale t.
    ``adata.varm['{key_added}_loadings_{t}']``
        The reference's loadings (zero for genes it did not use or that ``adata`` lacks).
    ``adata.obs['{key_added}_{cluster}_{t}']``, ``adata.obs['{key_added}_{cluster}_confidence_{t}']``
        For every clustering of the reference: the transferred labels (the reference's
        categories and colours) and the share of neighbours that voted for them.
    ``adata.obsm['X_{key_added}_umap_{t}']``
        For a reference with ``tl.umap`` results: the placed positions.
    ``adata.uns[key_added]``
        The manifest: the reference's ``thresholds``, ``recommended_scale``, ``alignment``
        and fit parameters (not its ``n_connected``, ``n_edges`` and ``persistence``, which
        describe the reference cells' graphs: read them from the reference), this result's
        ``genes`` and ``gene_names``, ``convergence`` (coordinate-descent passes and the query's
        objective), ``timings``, the clusterings and ``projection`` (the reference key,
        number of reference cells, genes used and missing, how cells were placed,
        ``n_neighbors`` and the median and largest passes per cell).

    Examples
    --------
    >>> import numpy as np
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(600, 200, random_state=0)
    >>> sc.pp.pca(adata, n_comps=20)
    >>> sc.pp.neighbors(adata)
    >>> query = np.random.default_rng(0).random(adata.n_obs) < 0.2
    >>> reference, new = adata[~query].copy(), adata[query].copy()
    >>> pnmf.tl.pnmf(reference, n_comps=5, n_scales=4)
    >>> pnmf.tl.project(new, reference)
    >>> new.obsm["X_pnmf_0"].shape == (new.n_obs, 5)
    True
    """
    start = logg.info("projecting cells onto a pnmf reference")
    check_in_memory(adata)
    key_added = check_key_added(key if key_added is None else key_added)
    check_result_key(adata, key_added)
    n_neighbors = check_int("n_neighbors", n_neighbors, minimum=1)
    max_missing = check_real("max_missing", max_missing)
    if max_missing > 1:
        msg = f"max_missing is a share of the reference's genes, between 0 and 1; got {max_missing}."
        raise PnmfValueError(msg)
    seed = check_seed("random_state", random_state)
    copy = check_bool("copy", copy)
    if adata.n_obs == 0:
        msg = f"adata has no cells ({adata.n_obs} × {adata.n_vars}); there is nothing to project. Pass the new cells to embed."
        raise PnmfValueError(msg)
    timings: dict[str, float] = {}
    clock = perf_counter()
    ref = read_reference(reference, key)
    genes, positions = _match_genes(adata, ref.gene_names, max_missing, "the reference's fitted genes")
    X, _ = read_expression(adata, ref.options.layer, genes)
    present = positions >= 0
    order = np.argsort(positions[present])  # read_expression keeps the query's gene order
    loadings = [W[present][order] for W in ref.loadings]
    X = normalize_cells(X) if ref.options.normalize else X
    expression = Expression(X)
    points, placed_by = _query_points(adata, ref, use_rep, max_missing)
    timings["inputs"] = perf_counter() - clock

    clock = perf_counter()
    neighbours = find_neighbours(ref.points, points, n_neighbors, seed)
    timings["neighbors"] = perf_counter() - clock
    clock = perf_counter()
    weights = objective_weights(ref.options)
    cells = project_cells(
        expression, loadings, ref.embeddings, neighbours, np.asarray(ref.manifest[Manifest.THRESHOLDS]), weights
    )
    timings["solve"] = perf_counter() - clock
    if not all(np.isfinite(U).all() for U in cells.embeddings):
        msg = "the projection produced non-finite values; nothing was written. Please report this with your data's shape and dtype."
        raise FloatingPointError(msg)
    clock = perf_counter()
    # clusters were found in the finest embedding: votes and UMAP positions come from neighbours there
    similar = find_neighbours(ref.embeddings[0], cells.embeddings[0], n_neighbors, seed)
    timings["transfer"] = perf_counter() - clock

    keys = Keys(key_added)
    results = _assemble(keys, adata, ref, Matched(genes, positions, loadings, X.dtype), cells, similar)
    manifest = results.uns[keys.uns]
    manifest[Manifest.TIMINGS] = timings
    manifest[Manifest.PROJECTION] = Projection(
        reference_key=key,
        n_reference_cells=ref.n_cells,
        n_genes=int(genes.sum()),
        n_missing_genes=int((positions < 0).sum()),
        representation=placed_by,
        n_neighbors=neighbours.indices.shape[1],
        n_passes=np.array([np.median(cells.n_passes), cells.n_passes.max()], dtype=np.int64),
    ).to_uns()
    if copy:
        adata = adata.copy()
    write_results(adata, results, stale_entries(adata, key_added))
    logg.info(
        "    finished",
        time=start,
        deep=f"added\n    {len(loadings)} embeddings 'X_{key_added}_*' (adata.obsm), "
        f"{len(ref.clusterings)} transferred clusterings, manifest '{key_added}' (adata.uns)",
    )
    return adata if copy else None


@dataclass(frozen=True)
class Matched:
    """The reference's fitted genes found in the query: a mask over its genes, each gene's position, the loadings."""

    genes: np.ndarray
    positions: np.ndarray
    loadings: list[np.ndarray]
    dtype: np.dtype


def _assemble(
    keys: Keys, adata: AnnData, ref: Reference, matched: Matched, cells: ProjectedCells, neighbours: Neighbours
) -> Results:
    """Build everything to write, as a fit would, before anything is written."""
    obsm = {keys.embedding(t): U.astype(matched.dtype) for t, U in enumerate(cells.embeddings)}
    varm = {}
    for t, W in enumerate(matched.loadings):
        full = np.zeros((adata.n_vars, W.shape[1]), dtype=matched.dtype)
        full[matched.genes] = W
        varm[keys.loadings(t)] = full
    obs: dict[str, Any] = {}
    uns: dict[str, Any] = {}
    manifest: dict[str, Any] = {field: deepcopy(ref.manifest[field]) for field in SHARED_FIELDS}
    manifest.update({field: deepcopy(ref.manifest[field]) for field in OPTIONAL_SHARED_FIELDS if field in ref.manifest})
    clusters = {}
    for cluster_key, clustering in ref.clusterings.items():
        labels, section = _transfer(keys, cluster_key, clustering, neighbours)
        obs.update(labels)
        uns.update(_colors(clustering, section))
        clusters[cluster_key] = section.to_uns()
    if clusters:
        manifest[Manifest.CLUSTERS] = clusters
    if ref.umaps:
        umaps = {keys.umap(t): _place(neighbours, coordinates) for t, coordinates in ref.umaps.items()}
        obsm.update(umaps)
        placed = {"placed": "weighted mean of the reference neighbours"}
        manifest[Manifest.UMAP] = Umap(tuple(umaps), scales=tuple(ref.umaps), params=placed).to_uns()
    manifest.update(
        {
            Manifest.WRITER: writer(),
            Manifest.OBSM_KEYS: np.array([keys.embedding(t) for t in range(len(matched.loadings))], dtype=str),
            Manifest.VARM_KEYS: np.array(list(varm), dtype=str),
            **fitted_genes(adata, matched.genes),
            Manifest.CONVERGENCE: _convergence(cells).to_uns(),
            Manifest.HISTORY: _history(cells).to_uns(),
        }
    )
    return Results(obsm=obsm, varm=varm, obs=obs, uns={keys.uns: manifest, **uns})


def _match_genes(adata: AnnData, names: np.ndarray, max_missing: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Find ``names`` among ``adata.var_names``: a mask over ``adata.var`` and each name's position (-1: missing)."""
    if not adata.var_names.is_unique:
        msg = "adata.var_names are not unique, so genes cannot be matched to the reference's; run adata.var_names_make_unique()."
        raise PnmfValueError(msg)
    positions = adata.var_names.get_indexer(pd.Index(names))
    missing = positions < 0
    if missing.all():
        msg = (
            f"None of {what} ({len(names)}, e.g. {list(names[:3])}) are in adata.var_names (e.g. {list(adata.var_names[:3])}): "
            "the query may name genes differently (symbols or Ensembl IDs); rename adata.var_names to the reference's."
        )
        raise PnmfKeyError(msg)
    if missing.mean() > max_missing:
        msg = (
            f"{missing.sum()} of {what} ({missing.mean():.0%}) are missing from adata.var_names, more than "
            f"max_missing={max_missing:g} (e.g. {list(names[missing][:5])}); check the gene names, or pass a larger max_missing."
        )
        raise PnmfKeyError(msg)
    if missing.any():
        logg.warning(
            f"{missing.sum()} of {what} are missing from adata and are left out (e.g. {list(names[missing][:5])})"
        )
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[positions[~missing]] = True
    return mask, positions


def _query_points(adata: AnnData, ref: Reference, use_rep: str | None, max_missing: float) -> tuple[np.ndarray, str]:
    """Return the query cells' coordinates in the reference's representation, and how they were obtained."""
    dimensions = ref.points.shape[1]
    if use_rep is not None:
        if use_rep not in adata.obsm:
            msg = f"use_rep={use_rep!r} is not in adata.obsm (available: {list(adata.obsm)}); pass the key of the query's coordinates in the reference's {ref.use_rep!r} space, or use_rep=None to place the cells with the reference's PCA."
            raise PnmfKeyError(msg)
        points = adata.obsm[use_rep]
        points = np.asarray(points.to_numpy() if isinstance(points, pd.DataFrame) else points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] < dimensions:
            msg = f"adata.obsm[{use_rep!r}] has shape {points.shape}; the reference's representation has {dimensions} dimensions."
            raise PnmfValueError(msg)
        points = np.ascontiguousarray(points[:, :dimensions])
        if not np.isfinite(points).all():
            msg = f"adata.obsm[{use_rep!r}] contains NaN or infinite values."
            raise PnmfValueError(msg)
        return points, f"adata.obsm[{use_rep!r}]"
    if ref.pca is None or ref.pca_components is None:
        msg = (
            f"The reference's cells were placed with obsm[{ref.use_rep!r}], which pnmf cannot compute for new cells "
            "(only a PCA with varm['PCs'] can be); compute the query's coordinates in that space and pass use_rep='<key>'."
        )
        raise PnmfValueError(msg)
    if adata.X is None:
        msg = "adata.X is empty; the query cells are placed in the reference's PCA from adata.X, preprocessed as the reference's."
        raise PnmfValueError(msg)
    _, positions = _match_genes(adata, ref.pca.genes, max_missing, "the genes of the reference's PCA")
    present = positions >= 0
    X = adata.X[:, positions[present]]
    if not (sparse.issparse(X) or isinstance(X, np.ndarray)):
        msg = f"adata.X is a {type(X).__name__}; pnmf needs a NumPy array or a SciPy sparse matrix."
        raise PnmfTypeError(msg)
    components = ref.pca_components[present]
    product = X @ components if sparse.issparse(X) else np.asarray(X, dtype=np.float64) @ components
    points = np.asarray(product) - ref.pca.mean[present] @ components + ref.pca.center
    if not np.isfinite(points).all():
        msg = "adata.X has NaN or infinite values in the genes of the reference's PCA."
        raise PnmfValueError(msg)
    return np.ascontiguousarray(points), f"adata.X on the reference's PCA loadings ({int(present.sum())} genes)"


def _transfer(
    keys: Keys, cluster_key: str, clustering: TransferableClustering, neighbours: Neighbours
) -> tuple[dict[str, pd.Categorical | np.ndarray], Clustering]:
    """Transfer one clustering: the label and confidence columns, and the manifest entry."""
    n_classes = [len(c) for c in clustering.categories]
    chosen, confidence = transfer_labels(neighbours, clustering.codes, n_classes, nested=clustering.nested)
    obs_keys = [keys.clusters(t, cluster_key) for t in range(len(chosen))]
    confidence_keys = [keys.confidence(t, cluster_key) for t in range(len(chosen))]
    columns: dict[str, pd.Categorical | np.ndarray] = {}
    for name, codes, categories in zip(obs_keys, chosen, clustering.categories, strict=True):
        columns[name] = pd.Categorical.from_codes(codes, categories=categories)
    columns.update(zip(confidence_keys, confidence, strict=True))
    section = Clustering(
        obs_keys=tuple(obs_keys),
        n_clusters=np.array([len(np.unique(c)) for c in chosen], dtype=np.int64),
        ari_consecutive=np.array([adjusted_rand_score(a, b) for a, b in pairwise(chosen)]),
        nesting=np.array([nesting(fine, coarse) for fine, coarse in pairwise(chosen)]),
        params={**dict(clustering.params), "transferred": "vote of the reference neighbours"},
        confidence_keys=tuple(confidence_keys),
    )
    return columns, section


def _colors(clustering: TransferableClustering, section: Clustering) -> dict[str, Any]:
    """Return the reference's colours of every transferred column (fresh ones where it had none)."""
    return {
        Keys.colors(name): np.asarray(colors if colors is not None else categorical_colors(len(categories)))
        for name, colors, categories in zip(section.obs_keys, clustering.colors, clustering.categories, strict=True)
    }


def _place(neighbours: Neighbours, coordinates: np.ndarray) -> np.ndarray:
    """Every query cell at the mean of its neighbours' coordinates, weighted ``exp(-(d / median d)²)``."""
    d = neighbours.distances
    scale = np.median(d, axis=1, keepdims=True)
    weights = np.exp(-((d / np.where(scale > 0, scale, 1.0)) ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("qj,qjc->qc", weights, coordinates[neighbours.indices])


def _convergence(cells: ProjectedCells) -> Convergence:
    """Return the projection's stopping state in the fit's terms: passes per cell (largest) for every scale, no sweeps."""
    n_scales = len(cells.embeddings)
    return Convergence(
        n_iter=np.full(n_scales, int(cells.n_passes.max())),
        converged=np.full(n_scales, bool(cells.converged.all())),
        n_sweeps=0,
        sweeps_converged=True,
        objective=cells.objective,
        terms=cells.terms,
    )


def _history(cells: ProjectedCells) -> History:
    """One row per scale: the query's reconstruction error once projected (phase ``'projection'``)."""
    n_scales = len(cells.embeddings)
    return History.from_columns(
        {
            "phase": ["projection"] * n_scales,
            "scale": list(range(n_scales)),
            "iteration": [int(cells.n_passes.max())] * n_scales,
            "objective": cells.reconstruction.tolist(),
        }
    )
