"""A fitted result read as a reference for new cells: loadings, embeddings, scales, clusters, representation.

:func:`read_reference` reads what :func:`pnmf.tl.project` needs from a fitted AnnData, or from
the file that :func:`pnmf.io.write_reference` writes (the same entries without the
expression); both give the same :class:`Reference`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._errors import PnmfError, PnmfKeyError, PnmfValueError
from .._keys import Keys, Manifest
from .._manifest import fit_options, fitted_genes, read_manifest, read_umaps
from .._options import PnmfOptions
from .._palette import stored_colors
from .._sections import Clustering, PcaBasis, Umap, read_section, section_entries
from .._validation import matrix_problem

__all__ = ["Reference", "TransferableClustering", "bundle", "pca_basis", "read_reference"]


@dataclass(frozen=True)
class TransferableClustering:
    """One ``tl.leiden`` clustering of the reference: its columns, integer codes per scale (-1: none) and categories."""

    obs_keys: tuple[str, ...]
    codes: list[np.ndarray]
    categories: list[list[str]]
    colors: list[list[str] | None]
    nested: bool
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Reference:
    """What new cells are embedded against: the fitted genes and loadings, the reference cells' embeddings and coordinates."""

    key: str
    manifest: Mapping[str, Any]
    options: PnmfOptions
    gene_names: np.ndarray
    loadings: list[np.ndarray]
    embeddings: list[np.ndarray]
    points: np.ndarray
    use_rep: str
    n_pcs: int | None
    pca: PcaBasis | None
    pca_components: np.ndarray | None
    clusterings: dict[str, TransferableClustering]
    umaps: dict[int, np.ndarray]  # scale → its UMAP

    @property
    def n_cells(self) -> int:
        """Number of reference cells."""
        return self.points.shape[0]

    @property
    def params(self) -> Mapping[str, Any]:
        """The options of the reference's fit, as its manifest records them."""
        return self.manifest[Manifest.PARAMS]


#: The weights of the fit's objective, which a projection solves with the reference's values.
WEIGHTS = ("graph_weight", "coupling_weight", "anchor_weight")


def read_reference(reference: AnnData, key: str) -> Reference:
    """Read a fitted result (or a reference written by :func:`pnmf.io.write_reference`) as a :class:`Reference`.

    Everything is checked first (:func:`~pnmf._validation.check_result` and the entries
    only a reference needs); a problem raises a :class:`~pnmf.PnmfError` that names the
    reference as the input at fault.
    """
    if not isinstance(reference, AnnData):
        msg = f"reference must be an AnnData with a pnmf result, got {type(reference).__name__}."
        raise PnmfValueError(msg)
    if not isinstance(reference.uns.get(key), Mapping):
        msg = f"The reference has no pnmf result under key {key!r}: run pnmf.tl.pnmf(reference) first, or pass key='<key_added of its result>'."
        raise PnmfKeyError(msg)
    try:
        return _read_reference(reference, key)
    except PnmfError as error:
        raise type(error)(f"In the reference: {error}") from error


def _read_reference(reference: AnnData, key: str) -> Reference:
    manifest = read_manifest(reference, key, loadings=True, genes=True, params=True)
    options = _fit_options(manifest)
    genes = manifest[Manifest.GENES]
    loadings = [np.asarray(reference.varm[str(k)], dtype=np.float64)[genes] for k in manifest[Manifest.VARM_KEYS]]
    embeddings = [np.asarray(reference.obsm[str(k)], dtype=np.float64) for k in manifest[Manifest.OBSM_KEYS]]
    points = _reference_points(reference, manifest, options.use_rep, options.n_pcs)
    pca, components = _stored_basis(reference, manifest, points.shape[1])
    if pca is None and options.use_rep == "X_pca" and "PCs" in reference.varm:
        pca, components = pca_basis(reference, points, options.n_pcs)
    umaps = {}
    if Manifest.UMAP in manifest:
        section = read_section(manifest, Umap)
        laid_out = read_umaps(reference, list(section.scales), key)
        umaps = {t: np.asarray(c, dtype=np.float64) for t, c in zip(section.scales, laid_out, strict=True)}
    return Reference(
        key=key,
        manifest=manifest,
        options=options,
        gene_names=np.asarray(reference.var_names[genes], dtype=object),
        loadings=loadings,
        embeddings=embeddings,
        points=points,
        use_rep=options.use_rep,
        n_pcs=options.n_pcs,
        pca=pca,
        pca_components=components,
        clusterings=_clusterings(reference, manifest),
        umaps=umaps,
    )


def _fit_options(manifest: Mapping[str, Any]) -> PnmfOptions:
    """Return the options of the reference's fit from its ``params``, checked, with its weights present."""
    absent = [name for name in WEIGHTS if name not in manifest[Manifest.PARAMS]]
    if absent:
        msg = f"the params of its fit lack {absent}, the weights of the objective that new cells are embedded with; refit the reference with pnmf.tl.pnmf."
        raise PnmfKeyError(msg)
    return fit_options(manifest, mask_var=None)


def _reference_points(reference: AnnData, manifest: Mapping[str, Any], use_rep: str, n_pcs: int | None) -> np.ndarray:
    """Return the reference cells' coordinates in the representation that defined the fit's distances."""
    if use_rep == "X":
        msg = "The reference was fitted with use_rep='X' (distances in expression space); tl.project needs a representation in adata.obsm, e.g. refit with use_rep='X_pca'."
        raise PnmfValueError(msg)
    if use_rep not in reference.obsm:
        source = manifest[Manifest.PARAMS].get("representation", "")
        detail = " (the fit computed a PCA itself and did not store it)" if "computed by pnmf" in str(source) else ""
        msg = f"The reference has no adata.obsm[{use_rep!r}]{detail}, the representation its scales were measured in; run sc.pp.pca(reference) and refit, so that new cells can be placed in it."
        raise PnmfKeyError(msg)
    points = reference.obsm[use_rep]
    points = points.to_numpy() if isinstance(points, pd.DataFrame) else points
    problem = matrix_problem(points)
    if problem or (n_pcs is not None and points.shape[1] < n_pcs):
        problem = problem or f"with {points.shape[1]} columns, fewer than the fit's n_pcs={n_pcs}"
        msg = f"adata.obsm[{use_rep!r}], the representation its scales were measured in, is there {problem}; restore the one the result was fitted on."
        raise PnmfValueError(msg)
    points = np.asarray(points, dtype=np.float64)
    return np.ascontiguousarray(points[:, :n_pcs] if n_pcs is not None else points)


def _stored_basis(
    reference: AnnData, manifest: Mapping[str, Any], dimensions: int
) -> tuple[PcaBasis | None, np.ndarray | None]:
    """Return the PCA basis a bundle carries, with its components in the order of its genes, checked."""
    if Manifest.PCA_BASIS not in manifest:
        return None, None
    basis = read_section(manifest, PcaBasis)
    rows = reference.var_names.get_indexer(pd.Index(basis.genes))
    components = reference.varm.get("PCs")
    problem = "is missing" if components is None else matrix_problem(np.nan_to_num(np.asarray(components)))
    if problem or (rows < 0).any() or basis.mean.shape != rows.shape or basis.center.shape != (dimensions,):
        problem = problem or "does not match the genes and dimensions that the manifest's 'pca_basis' records"
        msg = f"adata.varm['PCs'], the PCA loadings that place new cells, {problem}; write the reference again with pnmf.io.write_reference."
        raise PnmfValueError(msg)
    components = np.nan_to_num(np.asarray(components, dtype=np.float64))[rows]
    if components.shape[1] < dimensions:
        msg = f"adata.varm['PCs'] has {components.shape[1]} components, fewer than the {dimensions} dimensions of the representation; write the reference again with pnmf.io.write_reference."
        raise PnmfValueError(msg)
    return basis, components


def pca_basis(reference: AnnData, points: np.ndarray, n_pcs: int | None) -> tuple[PcaBasis, np.ndarray]:
    """Recover how ``sc.pp.pca`` placed the reference cells, so that new cells can be placed the same way.

    scanpy stores the components (``varm['PCs']``, zero or NaN outside the genes used) but
    not the mean it subtracted. With the genes' means μ over the reference cells, new cells
    go to ``(x − μ) P + c`` with ``c`` the mean of the stored coordinates, which is exact
    whenever the stored PCA was computed from ``adata.X`` by these components (whatever
    cells it was centred on). ``residual`` measures how far the stored coordinates are from
    that (relative RMS).
    """
    components = np.nan_to_num(np.asarray(reference.varm["PCs"], dtype=np.float64))
    used = np.flatnonzero(np.abs(components).sum(axis=1) > 0)
    components = components[used][:, : points.shape[1]]
    if reference.X is None or components.shape[1] < points.shape[1]:
        msg = "The reference's PCA cannot be recomputed for new cells: its adata.X is missing or varm['PCs'] has fewer components than the representation; pass the query's coordinates with use_rep."
        raise PnmfValueError(msg)
    X = reference.X[:, used]
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    placed = np.asarray(X @ components if sparse.issparse(X) else np.asarray(X, dtype=np.float64) @ components)
    placed -= mean @ components
    center = (points - placed).mean(axis=0)
    deviation = points - center
    residual = float(np.linalg.norm(placed - deviation) / max(np.linalg.norm(deviation), np.finfo(float).tiny))
    basis = PcaBasis(
        genes=np.asarray(reference.var_names[used], dtype=object), mean=mean, center=center, residual=residual
    )
    return basis, components


def _clusterings(reference: AnnData, manifest: Mapping[str, Any]) -> dict[str, TransferableClustering]:
    """Every clustering of the result whose columns are all present, as codes per scale."""
    found = {}
    n_scales = len(manifest[Manifest.OBSM_KEYS])
    for cluster_key, entry in section_entries(manifest, Clustering).items():
        if len(entry.obs_keys) != n_scales or any(k not in reference.obs for k in entry.obs_keys):
            continue
        columns = [pd.Categorical(reference.obs[k]) for k in entry.obs_keys]
        found[cluster_key] = TransferableClustering(
            obs_keys=entry.obs_keys,
            codes=[np.asarray(c.codes, dtype=np.int64) for c in columns],
            categories=[[str(x) for x in c.categories] for c in columns],
            colors=[_colors_of(reference, k, len(c.categories)) for k, c in zip(entry.obs_keys, columns, strict=True)],
            nested=bool(len(entry.nesting) == 0 or np.all(entry.nesting >= 1.0)),
            params=entry.params,
        )
    return found


def _colors_of(reference: AnnData, obs_key: str, n_categories: int) -> list[str] | None:
    """Return the stored colours of a cluster column's categories (exactly one each), ``None`` when unusable."""
    colors = stored_colors(reference.uns, obs_key, n_categories)
    return colors[:n_categories] if colors is not None else None


def bundle(adata: AnnData, key: str) -> AnnData:
    """Return what :func:`pnmf.tl.project` needs from a fitted result, as an AnnData without expression.

    The reference cells and only the genes the result used (and those of its PCA), no
    ``X``: the per-scale embeddings, loadings, UMAPs and cluster labels under the result's
    own names, the representation the scales were measured in, the PCA loadings
    ``varm['PCs']`` and the manifest with ``pca_basis`` (the genes' means and the centre
    that place new cells in that PCA). Projecting onto it gives the same result as
    projecting onto ``adata``.
    """
    ref = read_reference(adata, key)
    manifest: dict[str, Any] = dict(ref.manifest)
    genes = manifest[Manifest.GENES]
    needed = genes.copy()
    if ref.pca is not None:
        needed |= adata.var_names.isin(pd.Index(ref.pca.genes))
        manifest[Manifest.PCA_BASIS] = ref.pca.to_uns()
    manifest.update(fitted_genes(adata, genes))
    manifest[Manifest.GENES] = genes[needed]  # the bundle holds the needed genes only; the names stay
    keys = Keys(key)
    obsm = {str(k): np.asarray(adata.obsm[str(k)]) for k in manifest[Manifest.OBSM_KEYS]}
    obsm[ref.use_rep] = ref.points
    obsm.update({keys.umap(t): coordinates for t, coordinates in ref.umaps.items()})
    # the persistent populations travel with the embeddings, so that the bundle clusters as the fit does
    populations = manifest.get(Manifest.POPULATIONS)
    if populations is not None and str(populations) in adata.obsm:
        obsm[str(populations)] = np.asarray(adata.obsm[str(populations)])
    else:
        manifest.pop(Manifest.POPULATIONS, None)
    varm = {str(k): np.asarray(adata.varm[str(k)])[needed] for k in manifest[Manifest.VARM_KEYS]}
    if ref.pca is not None and ref.pca_components is not None:
        components = np.zeros((int(needed.sum()), ref.pca_components.shape[1]))
        rows = pd.Index(adata.var_names[needed]).get_indexer(pd.Index(ref.pca.genes))
        components[rows] = ref.pca_components
        varm["PCs"] = components
    columns = [name for clustering in ref.clusterings.values() for name in clustering.obs_keys]
    colors = {
        Keys.colors(name): np.asarray(palette)
        for clustering in ref.clusterings.values()
        for name, palette in zip(clustering.obs_keys, clustering.colors, strict=True)
        if palette is not None
    }
    return AnnData(
        obs=adata.obs[columns].copy() if columns else pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame(index=adata.var_names[needed].copy()),
        obsm=obsm,
        varm=varm,
        uns={key: manifest, **colors},
    )
