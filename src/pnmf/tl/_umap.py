"""``pnmf.tl.umap``: a 2-D UMAP of each scale's embedding, for plotting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scanpy as sc
from anndata import AnnData
from scanpy import logging as logg
from tqdm import tqdm

from .._docs import doc_params
from .._keys import DEFAULT_KEY, Keys, Manifest
from .._manifest import Results, read_manifest, scale_selection, stale_entries, write_results
from .._sections import Umap, with_section
from .._validation import (
    check_anndata,
    check_backed_copy,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)
from ._inputs import scratch_neighbors
from ._progress import show_progress

__all__ = ["UMAP_SPECTRAL_CELLS", "umap"]

#: ``init_pos='auto'`` starts from the spectral layout up to this many cells (the size at which
#: scanpy lowers UMAP's epochs from 500 to 200), from the principal components above.
UMAP_SPECTRAL_CELLS = 10_000


@doc_params
def umap(
    adata: AnnData,
    *,
    which: Sequence[int | str] | None = None,
    key: str = DEFAULT_KEY,
    n_neighbors: int = 15,
    min_dist: float = 0.5,
    init_pos: Literal["auto", "spectral", "pca", "random"] = "auto",
    random_state: int | np.random.RandomState | None = 0,
    copy: bool = False,
) -> AnnData | None:
    """Compute a UMAP of each scale's embedding, to draw the scales with :func:`pnmf.pl.scales`.

    For each scale, a kNN graph is built on its embedding with :func:`scanpy.pp.neighbors`
    and laid out with :func:`scanpy.tl.umap`. The graphs are not stored, only the 2-D
    coordinates. The first scale laid out starts from ``init_pos``; each next one starts
    from the previous one's layout, so that populations keep their place from panel to
    panel and a merge shows as two groups moving together.

    Parameters
    ----------
    {adata}
    which
        Scales to lay out, fine to coarse (indices, negative from the coarsest, or
        ``'recommended'``; default: all). Each UMAP costs about as much as
        :func:`scanpy.tl.umap` on the cells; on millions of cells, lay out the scales you will draw.
    {key}
    n_neighbors
        Neighbours of the kNN graph built on each embedding.
    min_dist
        UMAP's minimum distance between embedded points.
    init_pos
        Where the first scale's layout starts. ``'auto'``: scanpy's spectral layout up to
        10,000 cells, the embedding's first two principal components above
        (the spectral layout's eigensolver took 20 s of a 70 s UMAP of 100,000 cells, and grows
        faster than the cells; on 2,730 and 50,000 cells both starts kept as many of the
        cells' neighbours and separated the labels as well). ``'spectral'``, ``'pca'`` or
        ``'random'``: that start, at any size.
    random_state
        Seed of the kNN graph and of UMAP.
    copy
        Return a new AnnData instead of writing into ``adata`` (refused for a backed AnnData,
        which takes the results as it is).

    Returns
    -------
    ``None``, or a new AnnData when ``copy=True``. Sets ``adata.obsm['X_{key}_umap_{t}']``
    (cells × 2 per scale laid out) and ``adata.uns[key]['umap']`` (``obsm_keys``, ``scales``
    and ``params``); the UMAPs of an earlier call are replaced.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.umap(adata)
    >>> adata.obsm["X_pnmf_umap_0"].shape
    (80, 2)
    >>> pnmf.tl.umap(adata, which=["recommended"])
    >>> len(adata.uns["pnmf"]["umap"]["obsm_keys"])
    1
    """
    start = logg.info("computing a UMAP of every pnmf scale")
    check_anndata(adata)  # only obsm and uns are read: a backed AnnData serves as it is
    manifest = read_manifest(adata, key)
    n_neighbors = check_int("n_neighbors", n_neighbors, minimum=2, maximum=max(adata.n_obs - 1, 2))
    min_dist = check_real("min_dist", min_dist)
    random_state = check_seed("random_state", random_state)
    copy = check_bool("copy", copy)
    check_backed_copy(adata, copy)
    keys = Keys(key)
    obsm_keys = manifest[Manifest.OBSM_KEYS]
    scales = scale_selection(manifest, which) if which is not None else list(range(len(obsm_keys)))
    coordinates: dict[str, np.ndarray] = {}
    init_pos = check_choice("init_pos", init_pos, ("auto", "spectral", "pca", "random"))
    if init_pos == "auto":
        init_pos = "spectral" if adata.n_obs <= UMAP_SPECTRAL_CELLS else "pca"
    layout: np.ndarray | str = init_pos
    for t in tqdm(scales, desc="UMAP", unit="scale", disable=not show_progress(), leave=False):
        scratch = scratch_neighbors(np.asarray(adata.obsm[str(obsm_keys[t])]), n_neighbors, random_state)
        sc.tl.umap(scratch, min_dist=min_dist, init_pos=layout, random_state=random_state)
        layout = coordinates[keys.umap(t)] = scratch.obsm["X_umap"]
    if copy:
        adata = adata.copy()
    stale = [k for k in stale_entries(adata, key)["obsm"] if keys.is_umap(k)]
    section = Umap(
        obsm_keys=tuple(coordinates),
        scales=tuple(scales),
        params={
            "n_neighbors": n_neighbors,
            "min_dist": float(min_dist),
            "init_pos": init_pos,
            **_seed_param(random_state),
        },
    )
    write_results(adata, Results(obsm=coordinates, uns=with_section(adata.uns[key], key, section)), {"obsm": stale})
    logg.info("    finished", time=start, deep=f"added\n    {len(coordinates)} UMAPs 'X_{key}_umap_*' (adata.obsm)")
    return adata if copy else None


def _seed_param(random_state) -> dict:
    """Return the seed as the manifest can store it (h5ad holds no None and no RandomState)."""
    return {"random_state": int(random_state)} if isinstance(random_state, int) else {}
