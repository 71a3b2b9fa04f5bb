"""Writing results into an AnnData all at once, and finding them again through the manifest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from anndata import AnnData

from ._errors import PnmfIndexError, PnmfKeyError, PnmfTypeError, PnmfValueError
from ._keys import Keys, Manifest
from ._options import PnmfOptions
from ._sections import Clustering, GeneScores, Umap, read_section
from ._validation import check_result, check_selection, listed, matrix_problem

__all__ = [
    "Results",
    "check_result_key",
    "fit_options",
    "fitted_genes",
    "is_pnmf_manifest",
    "read_clustering",
    "read_manifest",
    "read_populations",
    "read_umaps",
    "scale_index",
    "stale_entries",
    "umap_section",
    "write_results",
    "writer",
]


@dataclass(frozen=True)
class Results:
    """Entries to write into an AnnData in one go: ``uns`` maps top-level keys to values."""

    obsm: dict[str, np.ndarray] = field(default_factory=dict)
    varm: dict[str, np.ndarray] = field(default_factory=dict)
    obs: dict[str, Any] = field(default_factory=dict)
    uns: dict[str, Any] = field(default_factory=dict)


def writer() -> str:
    """Return the value of the manifest's ``writer`` field: ``'pnmf <version>'``."""
    try:
        return f"pnmf {version('persistent-nmf')}"
    except PackageNotFoundError:  # running from a source tree
        return "pnmf"


def fit_options(manifest: Mapping[str, Any], **overrides: Any) -> PnmfOptions:
    """Return the options of a result's fit from its checked manifest, its thresholds as the scales.

    ``overrides`` replace fields (e.g. ``mask_var``) before the options are validated; a
    damaged option raises a :class:`~pnmf.PnmfError` naming it.
    """
    thresholds = tuple(float(t) for t in manifest[Manifest.THRESHOLDS])
    return PnmfOptions.from_uns(manifest[Manifest.PARAMS], **{"scales": thresholds, "n_scales": None, **overrides})


def fitted_genes(adata: AnnData, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Return the manifest's record of the fitted genes: their mask over ``adata.var`` and their names.

    The names let a reader find the genes again after the user subsets or reorders them
    (:func:`~pnmf._validation.check_result`).
    """
    mask = np.asarray(mask, dtype=bool)
    return {Manifest.GENES: mask, Manifest.GENE_NAMES: np.asarray(adata.var_names[mask]).astype(str)}


def is_pnmf_manifest(entry: object) -> bool:
    """Whether an ``adata.uns`` entry is a manifest that pnmf wrote.

    Manifests carry ``writer = 'pnmf …'``; those written before that field existed are
    recognised by the fields only ``tl.pnmf`` writes together.
    """
    if not isinstance(entry, Mapping):
        return False
    stamp = entry.get(Manifest.WRITER)
    if stamp is not None:
        return isinstance(stamp, str) and (stamp == "pnmf" or stamp.startswith("pnmf "))
    legacy = (Manifest.OBSM_KEYS, Manifest.VARM_KEYS, Manifest.PARAMS, Manifest.CONVERGENCE, Manifest.THRESHOLDS)
    return all(field in entry for field in legacy)


def check_result_key(adata: AnnData, key_added: str) -> None:
    """Refuse a ``key_added`` that would overwrite another tool's entry or share names with another result.

    ``adata.uns[key_added]`` may only hold a previous pnmf result (which is then replaced).
    A key that is another pnmf result's key followed by ``'_umap'`` (or the other way
    round) would write embeddings under that result's UMAP names.
    """
    entry = adata.uns.get(key_added)
    if key_added in adata.uns and not is_pnmf_manifest(entry):
        msg = (
            f"key_added={key_added!r} names an entry of adata.uns that pnmf did not write "
            f"(a {type(entry).__name__}, e.g. another tool's result); pnmf never replaces it. "
            f"Pass another key_added, e.g. key_added='pnmf_{key_added}'."
        )
        raise PnmfValueError(msg)
    for other in _pnmf_results(adata):
        if other == key_added:
            continue
        for short, long in ((other, key_added), (key_added, other)):
            if long == f"{short}_umap":
                msg = (
                    f"key_added={key_added!r} clashes with the pnmf result {other!r}: the embeddings of "
                    f"{long!r} ('X_{long}_0', …) would carry the names of the per-scale UMAPs of {short!r}. "
                    f"Pass another key_added, e.g. {key_added.replace('_umap', '_umap2')!r}."
                )
                raise PnmfValueError(msg)


def _pnmf_results(adata: AnnData) -> list[str]:
    return [str(k) for k, v in adata.uns.items() if is_pnmf_manifest(v)]


def stale_entries(adata: AnnData, key_added: str, clustering: str | None = None) -> dict[str, list[str]]:
    """Entries that a previous result under ``key_added`` wrote, as its manifest names them.

    With ``clustering``, only the entries of that clustering of the result. Only entries
    that pnmf writes are ever returned: the manifest must be pnmf's, and each name must
    have the form pnmf gives it for this key (a manifest listing ``'X_pca'`` or
    ``'cell_type'`` is ignored for those names), so removing them never touches another
    tool's data.
    """
    manifest = adata.uns.get(key_added)
    stale: dict[str, list[str]] = {"obsm": [], "varm": [], "obs": [], "uns": []}
    if not is_pnmf_manifest(manifest):
        return stale
    keys = Keys(key_added)
    clusterings = manifest.get(Manifest.CLUSTERS)
    for cluster_key, entry in clusterings.items() if isinstance(clusterings, Mapping) else ():
        if clustering is None or str(cluster_key) == clustering:  # names only: a damaged entry's are stale too
            for attr, names in Clustering.listing(entry).written(keys, str(cluster_key)).items():
                stale[attr] += names
    if clustering is None:
        umap = Umap(tuple(listed(manifest.get(Manifest.UMAP), "obsm_keys")))
        stale["obsm"] = [k for k in listed(manifest, Manifest.OBSM_KEYS) if keys.is_embedding(k)]
        stale["obsm"] += umap.written(keys)["obsm"]
        if manifest.get(Manifest.POPULATIONS) == keys.populations:
            stale["obsm"].append(keys.populations)
        stale["varm"] = [k for k in listed(manifest, Manifest.VARM_KEYS) if keys.is_loadings(k)]
        scores = GeneScores(tuple(listed(manifest.get(Manifest.GENE_SCORES), "varm_keys")))
        stale["varm"] += scores.written(keys)["varm"]
    return stale


def write_results(adata: AnnData, results: Results, stale: Mapping[str, list[str]]) -> None:
    """Remove ``stale`` entries and write ``results``, atomically.

    Nothing that exists is overwritten unless it is ``stale`` (the previous result's own
    entry), the manifest of the result, or the colours of a column written here: writing
    into another tool's (or another result's) entry is refused before anything changes.
    If anything fails part-way, including a KeyboardInterrupt, every touched entry is
    restored, so the AnnData holds either the old result or the new one.
    """
    _check_overwrites(adata, results, stale)
    touched = {attr: set(stale.get(attr, [])) | set(getattr(results, attr)) for attr in ("obsm", "varm", "obs", "uns")}
    backup = {
        attr: {k: getattr(adata, attr)[k] for k in keys if k in getattr(adata, attr)} for attr, keys in touched.items()
    }
    try:
        _replace(adata, touched, results)
    except BaseException:
        _replace(adata, touched, Results(**backup))
        raise


def _check_overwrites(adata: AnnData, results: Results, stale: Mapping[str, list[str]]) -> None:
    colors = {Keys.colors(k) for k in results.obs}
    for attr in ("obsm", "varm", "obs", "uns"):
        existing = getattr(adata, attr)
        allowed = set(stale.get(attr, []))
        for name in getattr(results, attr):
            if name not in existing or name in allowed:
                continue
            if attr == "uns" and (name in colors or is_pnmf_manifest(existing[name])):
                continue
            owner = _owner(adata, attr, name)
            msg = (
                f"adata.{attr}[{name!r}] already exists and {owner}; pnmf does not overwrite it. "
                f"Pass another key_added, or delete adata.{attr}[{name!r}] if it is no longer needed."
            )
            raise PnmfValueError(msg)


def _owner(adata: AnnData, attr: str, name: str) -> str:
    for key in _pnmf_results(adata):
        if name in stale_entries(adata, key)[attr]:
            return f"belongs to the pnmf result {key!r}"
    return "was not written by this pnmf result"


def _replace(adata: AnnData, touched: Mapping[str, set[str]], values: Results) -> None:
    for attr, keys in touched.items():
        mapping = getattr(adata, attr)
        for key in keys:
            if key in mapping:
                del mapping[key]
    adata.obsm.update(values.obsm)
    adata.varm.update(values.varm)
    for key, value in values.obs.items():
        adata.obs[key] = value
    for key, value in values.uns.items():
        adata.uns[key] = value


def read_manifest(
    adata: AnnData, key_added: str, *, loadings: bool = False, genes: bool = False, params: bool = False
) -> dict[str, Any]:
    """Return the manifest of a result, checked against ``adata`` (:func:`~pnmf._validation.check_result`).

    ``loadings``, ``genes`` and ``params`` ask for the checks of what the reader needs
    beyond the embeddings; with ``genes``, the mask of the fitted genes is realigned to
    ``adata``'s genes in the returned copy.
    """
    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData object, got {type(adata).__name__}."
        raise PnmfTypeError(msg)
    if not isinstance(key_added, str):
        msg = f"key must be the key_added of a pnmf result (a string), got {key_added!r}."
        raise PnmfTypeError(msg)
    manifest = adata.uns.get(key_added)
    if not isinstance(manifest, Mapping) or Manifest.OBSM_KEYS not in manifest:
        msg = f"No pnmf result under key {key_added!r} in adata.uns; run pnmf.tl.pnmf(adata, key_added={key_added!r}) first."
        raise PnmfKeyError(msg)
    return check_result(adata, key_added, manifest, loadings=loadings, genes=genes, params=params)


def read_clustering(adata: AnnData, key: str, cluster_key: str) -> Clustering:
    """Return a ``tl.leiden`` clustering of a result, checked: one column per scale, all in ``adata.obs``."""
    manifest = read_manifest(adata, key)
    rerun = f"pnmf.tl.leiden(adata, key={key!r}, key_added={cluster_key!r})"
    missing = f"No clustering {cluster_key!r} of the pnmf result {key!r}; run {rerun} first."
    summary = read_section(manifest, Clustering, cluster_key, missing=missing)
    n_scales = len(manifest[Manifest.OBSM_KEYS])
    if len(summary.obs_keys) != n_scales:
        msg = f"The clustering {cluster_key!r} of the pnmf result {key!r} names {len(summary.obs_keys)} columns for {n_scales} scales; rerun {rerun}."
        raise PnmfValueError(msg)
    absent = [k for k in summary.obs_keys if k not in adata.obs]
    if absent:
        msg = f"Cluster columns {absent} are missing from adata.obs; rerun {rerun}."
        raise PnmfKeyError(msg)
    return summary


def read_umaps(adata: AnnData, scales: Sequence[int], key: str) -> list[np.ndarray]:
    """Return the 2-D UMAP coordinates of ``tl.umap`` at each of ``scales``, checked to exist as finite cells × 2 arrays."""
    section = umap_section(adata, key)
    not_laid_out = [t for t in scales if t not in section.scales]
    if not_laid_out:
        msg = f"No UMAP of scales {not_laid_out} for the pnmf result {key!r} (laid out: {list(section.scales)}); run pnmf.tl.umap(adata, which={list(scales)}, key={key!r})."
        raise PnmfKeyError(msg)
    names = [section.obsm_keys[section.scales.index(t)] for t in scales]
    absent = [name for name in names if name not in adata.obsm]
    if absent:
        msg = f"The per-scale UMAPs {absent} of the pnmf result {key!r} are missing from adata.obsm; rerun pnmf.tl.umap(adata, key={key!r})."
        raise PnmfKeyError(msg)
    for name in names:
        problem = matrix_problem(adata.obsm[name], 2)
        if problem:
            msg = f"adata.obsm[{name!r}] holds a UMAP {problem}; rerun pnmf.tl.umap(adata, key={key!r})."
            raise PnmfValueError(msg)
    return [np.asarray(adata.obsm[name]) for name in names]


def umap_section(adata: AnnData, key: str) -> Umap:
    """Return the ``tl.umap`` section of a result."""
    missing = f"No per-scale UMAP for the pnmf result {key!r}; run pnmf.tl.umap(adata, key={key!r}) first, or pass basis='factors'."
    return read_section(read_manifest(adata, key), Umap, missing=missing)


def scale_index(manifest: Mapping[str, Any], scale: int | str) -> int:
    """Resolve a scale given as an index (negative counts from the coarsest) or ``'recommended'``."""
    n_scales = len(manifest[Manifest.OBSM_KEYS])
    if isinstance(scale, str):
        if scale != "recommended":
            msg = f"scale={scale!r} is not understood; pass an integer in [0, {n_scales}) or 'recommended'."
            raise PnmfValueError(msg)
        return int(manifest[Manifest.RECOMMENDED])
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer):
        msg = f"scale must be an integer scale index or 'recommended', got {scale!r}."
        raise PnmfTypeError(msg)
    if not -n_scales <= scale < n_scales:
        msg = (
            f"scale={scale!r} is out of range: this result has {n_scales} scales (0 finest … {n_scales - 1} coarsest)."
        )
        raise PnmfIndexError(msg)
    return int(scale) % n_scales


def scale_selection(manifest: Mapping[str, Any], which: object) -> list[int]:
    """Resolve ``which``, a selection of scales (indices, negative from the coarsest, or ``'recommended'``), each named once."""
    if isinstance(which, str) or not isinstance(which, Sequence | np.ndarray):
        msg = f"which must be a sequence of scale indices, e.g. [0, 2], got {which!r}."
        raise PnmfTypeError(msg)
    return check_selection("which", [scale_index(manifest, t) for t in which], which, "scale")


def read_populations(adata: AnnData, manifest: Mapping[str, Any], key: str, n_scales: int) -> list[np.ndarray] | None:
    """Return every scale's persistent population of every cell, as ``tl.pnmf`` wrote them; ``None`` for a result without them.

    Results written before the populations were, and projections of new cells, have none.
    """
    name = manifest.get(Manifest.POPULATIONS)
    if name is None:
        return None
    name = str(name)
    if name not in adata.obsm:
        msg = f"The persistent populations adata.obsm[{name!r}] of the pnmf result {key!r} are missing; rerun pnmf.tl.pnmf(adata, key_added={key!r})."
        raise PnmfKeyError(msg)
    value = adata.obsm[name]
    shape = (adata.n_obs, n_scales)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.shape != shape or (value < -1).any():
        held = (
            f"a {type(value).__name__} of dtype {getattr(value, 'dtype', '?')} and shape {getattr(value, 'shape', '?')}"
        )
        msg = (
            f"adata.obsm[{name!r}] holds {held}, not the cells × {n_scales} integers (-1 for no population) "
            f"that tl.pnmf writes; rerun pnmf.tl.pnmf(adata, key_added={key!r})."
        )
        raise PnmfValueError(msg)
    return [np.ascontiguousarray(value[:, t]) for t in range(n_scales)]
