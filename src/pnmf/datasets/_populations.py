"""Synthetic single-cell counts with nested cell types, at any size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._errors import PnmfValueError
from .._validation import check_int, check_real, check_seed

__all__ = ["nested_populations"]

_CHUNK = 8192  # cells generated at once; bounds memory at ~8192 × n_genes floats


def nested_populations(
    n_cells: int = 2000,
    n_genes: int = 2000,
    *,
    n_types: int = 4,
    n_subtypes: int = 3,
    density: float = 0.1,
    fold_change: float = 4.0,
    n_batches: int = 1,
    batch_effect: float = 0.5,
    batch_specific_types: int = 0,
    random_state: int | np.random.RandomState | None = 0,
) -> AnnData:
    """Log-normalized Poisson counts from cell types that split into subtypes, optionally in batches.

    Every type switches on its own block of marker genes and every subtype a smaller block
    of its own, so the data have structure at two resolutions: subtypes within a type are
    close, types are far apart. Type sizes are unequal (Dirichlet). Counts are drawn in
    chunks and stored sparse, so a million cells fit in a few GB.

    Parameters
    ----------
    n_cells
        Number of cells.
    n_genes
        Number of genes (at least ``2 * n_types * n_subtypes``).
    n_types
        Number of top-level cell types.
    n_subtypes
        Subtypes per type.
    density
        Target fraction of nonzero counts (0 < density < 1).
    fold_change
        Expression fold change of marker genes (subtype markers get half of it on a log scale).
    n_batches
        Number of batches (1: no batch effect, and no ``obs['batch']``).
    batch_effect
        Standard deviation of the per-gene, per-batch log factor on the rates.
    batch_specific_types
        Number of types (the last ones) present in the first batch only.
    random_state
        Seed.

    Returns
    -------
    AnnData with ``X`` = log1p of counts scaled to 10,000 per cell (CSR, float32),
    ``obs['cell_type']`` and ``obs['subtype']`` (categorical), ``obs['total_counts']``, and
    with batches ``obs['batch']`` (categorical).

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(500, 300)
    >>> adata.obs["subtype"].nunique()
    12
    """
    n_cells = check_int("n_cells", n_cells, minimum=1)
    n_types = check_int("n_types", n_types, minimum=1)
    n_subtypes = check_int("n_subtypes", n_subtypes, minimum=1)
    n_genes = check_int("n_genes", n_genes, minimum=2 * n_types * n_subtypes)
    density = check_real("density", density, strict=True)
    if density >= 1:
        msg = f"density={density} must be below 1."
        raise PnmfValueError(msg)
    fold_change = check_real("fold_change", fold_change, minimum=1.0)
    n_batches = check_int("n_batches", n_batches, minimum=1)
    batch_effect = check_real("batch_effect", batch_effect)
    batch_specific_types = check_int("batch_specific_types", batch_specific_types, minimum=0)
    if batch_specific_types and (n_batches < 2 or batch_specific_types >= n_types):
        msg = (
            f"batch_specific_types={batch_specific_types} needs n_batches >= 2 and fewer than n_types={n_types} "
            "types: every other batch must keep at least one type."
        )
        raise PnmfValueError(msg)
    rng = np.random.default_rng(check_seed("random_state", random_state))

    log_fold = _marker_log_folds(rng, n_genes, n_types, n_subtypes, np.log(fold_change))
    base = rng.lognormal(mean=0.0, sigma=1.2, size=n_genes)
    libraries = rng.lognormal(mean=0.0, sigma=0.3, size=n_cells)
    base *= _rate_scale_for_density(base, log_fold, density)
    shares = rng.dirichlet(np.full(n_types * n_subtypes, 3.0))
    leaf = rng.choice(n_types * n_subtypes, size=n_cells, p=shares)
    batch = np.zeros(n_cells, dtype=np.int64)
    if n_batches > 1:
        batch, leaf, libraries, base_per_batch = _batches(
            rng, n_batches, batch_effect, batch_specific_types * n_subtypes, shares, libraries, base
        )

    blocks, totals = [], np.empty(n_cells)
    for start in range(0, n_cells, _CHUNK):
        stop = min(start + _CHUNK, n_cells)
        rows = base[None, :] if n_batches == 1 else base_per_batch[batch[start:stop]]
        rates = (libraries[start:stop, None] * rows) * np.exp(log_fold[leaf[start:stop]])
        counts = sparse.csr_matrix(rng.poisson(rates).astype(np.float32))
        totals[start:stop] = np.asarray(counts.sum(axis=1)).ravel()
        scale = np.divide(1e4, totals[start:stop], out=np.zeros(stop - start), where=totals[start:stop] > 0)
        counts.data *= np.repeat(scale, np.diff(counts.indptr)).astype(np.float32)
        np.log1p(counts.data, out=counts.data)
        blocks.append(counts)
    X = sparse.vstack(blocks, format="csr")

    type_names = np.array([f"type_{t}" for t in range(n_types)])
    subtype_names = np.array([f"type_{t}.{s}" for t in range(n_types) for s in range(n_subtypes)])
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(type_names[leaf // n_subtypes], categories=type_names),
            "subtype": pd.Categorical(subtype_names[leaf], categories=subtype_names),
            "total_counts": totals,
        },
        index=[f"cell_{i}" for i in range(n_cells)],
    )
    if n_batches > 1:
        batch_names = np.array([f"batch_{b}" for b in range(n_batches)])
        obs["batch"] = pd.Categorical(batch_names[batch], categories=batch_names)
    var = pd.DataFrame(index=[f"gene_{g}" for g in range(n_genes)])
    return AnnData(X, obs=obs, var=var)


def _batches(
    rng: np.random.Generator,
    n_batches: int,
    batch_effect: float,
    n_specific_leaves: int,
    shares: np.ndarray,
    libraries: np.ndarray,
    base: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw each cell's batch and leaf from per-batch mixes; return them with batch-scaled depths and rates.

    The last ``n_specific_leaves`` leaves (the batch-specific types) occur in batch 0 only.
    """
    n_cells, n_leaves = len(libraries), len(shares)
    batch = rng.integers(n_batches, size=n_cells)
    leaf = np.empty(n_cells, dtype=np.int64)
    for b in range(n_batches):
        mix = shares * rng.dirichlet(np.full(n_leaves, 10.0)) * n_leaves
        if b > 0 and n_specific_leaves:
            mix[n_leaves - n_specific_leaves :] = 0.0
        members = np.flatnonzero(batch == b)
        leaf[members] = rng.choice(n_leaves, size=len(members), p=mix / mix.sum())
    depth = rng.lognormal(0.0, 0.3, size=n_batches)
    gene_factors = rng.lognormal(0.0, batch_effect, size=(n_batches, len(base)))
    return batch, leaf, libraries * depth[batch], base[None, :] * gene_factors


def _marker_log_folds(
    rng: np.random.Generator, n_genes: int, n_types: int, n_subtypes: int, log_fold: float
) -> np.ndarray:
    """Per leaf (type × subtype), the log fold change of every gene."""
    genes = rng.permutation(n_genes)
    type_block = max(n_genes // (4 * n_types), 1)
    sub_block = max(n_genes // (8 * n_types * n_subtypes), 1)
    folds = np.zeros((n_types * n_subtypes, n_genes))
    cursor = 0
    for t in range(n_types):
        type_genes = genes[cursor : cursor + type_block]
        cursor += type_block
        for s in range(n_subtypes):
            leaf = t * n_subtypes + s
            folds[leaf, type_genes] = log_fold
            folds[leaf, genes[cursor : cursor + sub_block]] = log_fold / 2
            cursor += sub_block
    return folds


def _rate_scale_for_density(base: np.ndarray, log_fold: np.ndarray, density: float) -> float:
    """Factor on the base rates that makes the expected fraction of nonzero counts ``density``."""
    profile = base[None, :] * np.exp(log_fold)

    def expected_density(scale: float) -> float:
        return float(np.mean(1.0 - np.exp(-scale * profile)))

    low, high = 1e-8, 1e8
    for _ in range(100):
        mid = np.sqrt(low * high)
        low, high = (mid, high) if expected_density(mid) < density else (low, mid)
    return float(np.sqrt(low * high))
