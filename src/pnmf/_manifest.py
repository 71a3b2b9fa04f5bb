"""Writing results into an AnnData all at once, and finding them again through the manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anndata import AnnData

from ._keys import Manifest

__all__ = ["Results", "read_manifest", "scale_index", "write_results"]


@dataclass(frozen=True)
class Results:
    """Entries to write into an AnnData in one go: ``uns`` maps top-level keys to values."""

    obsm: dict[str, np.ndarray] = field(default_factory=dict)
    varm: dict[str, np.ndarray] = field(default_factory=dict)
    obs: dict[str, Any] = field(default_factory=dict)
    uns: dict[str, Any] = field(default_factory=dict)


def _clusterings(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    clusters = manifest.get(Manifest.CLUSTERS, {})
    return clusters if isinstance(clusters, Mapping) else {}


def stale_entries(adata: AnnData, key_added: str, clustering: str | None = None) -> dict[str, list[str]]:
    """Entries that a previous result under ``key_added`` wrote, as its manifest names them.

    With ``clustering``, only the entries of that clustering of the result.
    """
    manifest = adata.uns.get(key_added)
    empty = {"obsm": [], "varm": [], "obs": [], "uns": []}
    if not isinstance(manifest, Mapping):
        return empty
    clusterings = _clusterings(manifest)
    names = [clustering] if clustering is not None else list(clusterings)
    obs_keys = [
        str(k)
        for name in names
        if isinstance(clusterings.get(name), Mapping)
        for k in clusterings[name].get("obs_keys", [])
    ]
    stale = {**empty, "obs": obs_keys, "uns": [f"{k}_colors" for k in obs_keys]}
    if clustering is None:
        umap = manifest.get(Manifest.UMAP, {})
        umap_keys = [str(k) for k in umap.get("obsm_keys", [])] if isinstance(umap, Mapping) else []
        stale["obsm"] = [str(k) for k in manifest.get(Manifest.OBSM_KEYS, [])] + umap_keys
        stale["varm"] = [str(k) for k in manifest.get(Manifest.VARM_KEYS, [])]
    return stale


def write_results(adata: AnnData, results: Results, stale: Mapping[str, list[str]]) -> None:
    """Remove ``stale`` entries and write ``results``, atomically.

    If anything fails part-way, including a KeyboardInterrupt, every touched entry is
    restored, so the AnnData holds either the old result or the new one.
    """
    touched = {attr: set(stale.get(attr, [])) | set(getattr(results, attr)) for attr in ("obsm", "varm", "obs", "uns")}
    backup = {
        attr: {k: getattr(adata, attr)[k] for k in keys if k in getattr(adata, attr)} for attr, keys in touched.items()
    }
    try:
        _replace(adata, touched, results)
    except BaseException:
        _replace(adata, touched, Results(**backup))
        raise


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


def read_manifest(adata: AnnData, key_added: str) -> Mapping[str, Any]:
    """Return the manifest of a ``tl.pnmf`` run, checked to name entries that exist."""
    manifest = adata.uns.get(key_added)
    if not isinstance(manifest, Mapping) or Manifest.OBSM_KEYS not in manifest:
        msg = f"No pnmf result under key {key_added!r} in adata.uns; run pnmf.tl.pnmf(adata, key_added={key_added!r}) first."
        raise KeyError(msg)
    missing = [k for k in manifest[Manifest.OBSM_KEYS] if k not in adata.obsm]
    if missing:
        msg = f"The pnmf result {key_added!r} names embeddings missing from adata.obsm ({missing}); rerun pnmf.tl.pnmf."
        raise KeyError(msg)
    return manifest


def scale_index(manifest: Mapping[str, Any], scale: int | str) -> int:
    """Resolve a scale given as an index (negative counts from the coarsest) or ``'recommended'``."""
    n_scales = len(manifest[Manifest.OBSM_KEYS])
    if isinstance(scale, str):
        if scale != "recommended":
            msg = f"scale={scale!r} is not understood; pass an integer in [0, {n_scales}) or 'recommended'."
            raise ValueError(msg)
        return int(manifest[Manifest.RECOMMENDED])
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or not -n_scales <= scale < n_scales:
        msg = (
            f"scale={scale!r} is out of range: this result has {n_scales} scales (0 finest … {n_scales - 1} coarsest)."
        )
        raise IndexError(msg)
    return int(scale) % n_scales
