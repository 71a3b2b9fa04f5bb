"""Writing results into an AnnData all at once, and finding them again through the manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anndata import AnnData

from ._keys import Keys, Manifest

__all__ = ["Results", "read_manifest", "scale_index", "write_results"]


@dataclass(frozen=True)
class Results:
    """A full result of ``tl.pnmf``, ready to be written."""

    keys: Keys
    obsm: dict[str, np.ndarray]
    varm: dict[str, np.ndarray]
    uns: dict[str, Any]
    obs: dict[str, Any] = field(default_factory=dict)


def stale_entries(adata: AnnData, key_added: str) -> dict[str, list[str]]:
    """Entries written by a previous run under ``key_added``, as named by its manifest."""
    manifest = adata.uns.get(key_added)
    if not isinstance(manifest, Mapping):
        return {"obsm": [], "varm": [], "obs": [], "uns": []}
    clusters = manifest.get(Manifest.CLUSTERS, {})
    obs_keys = [str(k) for k in clusters.get("obs_keys", [])] if isinstance(clusters, Mapping) else []
    return {
        "obsm": [str(k) for k in manifest.get(Manifest.OBSM_KEYS, [])],
        "varm": [str(k) for k in manifest.get(Manifest.VARM_KEYS, [])],
        "obs": obs_keys,
        "uns": [f"{k}_colors" for k in obs_keys],
    }


def write_results(adata: AnnData, results: Results) -> None:
    """Replace the previous result under the same key by ``results``, atomically.

    Entries the previous manifest named are removed first (a rerun with fewer scales leaves
    nothing stale). If anything fails part-way, including a KeyboardInterrupt, every
    touched entry is restored.
    """
    stale = stale_entries(adata, results.keys.uns)
    touched = {
        "obsm": set(stale["obsm"]) | set(results.obsm),
        "varm": set(stale["varm"]) | set(results.varm),
        "obs": set(stale["obs"]) | set(results.obs),
        "uns": set(stale["uns"]) | {results.keys.uns},
    }
    backup = {attr: {k: getattr(adata, attr)[k] for k in keys if k in getattr(adata, attr)} for attr, keys in touched.items()}
    try:
        for attr, keys in touched.items():
            mapping = getattr(adata, attr)
            for key in keys:
                if key in mapping:
                    del mapping[key]
        adata.obsm.update(results.obsm)
        adata.varm.update(results.varm)
        for key, value in results.obs.items():
            adata.obs[key] = value
        adata.uns[results.keys.uns] = results.uns
    except BaseException:
        for attr, keys in touched.items():
            mapping = getattr(adata, attr)
            for key in keys:
                if key in mapping:
                    del mapping[key]
            for key, value in backup[attr].items():
                mapping[key] = value
        raise


def read_manifest(adata: AnnData, key_added: str) -> Mapping[str, Any]:
    """The manifest of a ``tl.pnmf`` run, checked to name entries that exist."""
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
        msg = f"scale={scale!r} is out of range: this result has {n_scales} scales (0 finest … {n_scales - 1} coarsest)."
        raise IndexError(msg)
    return int(scale) % n_scales
