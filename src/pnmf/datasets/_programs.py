"""Synthetic counts from a known number of gene programs mixed in every cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._validation import check_int, check_real, check_seed

__all__ = ["gene_programs"]


def gene_programs(
    n_cells: int = 2000,
    n_genes: int = 1000,
    n_programs: int = 5,
    *,
    concentration: float = 0.1,
    fold_change: float = 6.0,
    counts_per_cell: float = 5000.0,
    noise: float = 0.2,
    random_state: int | np.random.RandomState | None = 0,
) -> AnnData:
    r"""Log-normalized counts whose expected values are a nonnegative mix of known gene programs.

    Each program p is a gene profile :math:`g_p`: shared base rates, raised by
    ``fold_change`` on a block of ``n_genes / (3 · n_programs)`` marker genes of its own
    (fold changes vary by ±30 % between genes). Each cell i has program usages
    :math:`u_i \sim \mathrm{Dirichlet}(\text{concentration})`, so cells range from pure
    programs (small ``concentration``) to even mixes (large), and counts

    .. math::

        x_{ig} \sim \mathrm{Poisson}(\ell_i \gamma_{ig} \textstyle\sum_p u_{ip} g_{pg}),
        \quad \gamma_{ig} \sim \mathrm{Gamma}(1/\phi, \phi)

    with library size :math:`\ell_i` around ``counts_per_cell`` and extra-Poisson noise of
    dispersion :math:`\phi` = ``noise`` (0: plain Poisson), the negative binomial of
    scRNA-seq counts. The true number of programs is ``n_programs``: an NMF with more
    factors has to split some program, and can split it in many equally good ways.

    Parameters
    ----------
    n_cells
        Number of cells.
    n_genes
        Number of genes (at least ``3 * n_programs``).
    n_programs
        Number of gene programs.
    concentration
        Dirichlet concentration of the usages (below 1: most cells dominated by one program).
    fold_change
        Mean fold change of a program's marker genes over the base rates.
    counts_per_cell
        Median library size.
    noise
        Dispersion φ of the multiplicative gamma noise (variance μ + φμ²).
    random_state
        Seed.

    Returns
    -------
    AnnData with ``X`` = log1p of counts scaled to 10,000 per cell (CSR, float32),
    ``obs['program']`` (the dominant program, categorical), ``obsm['usage']`` (cells ×
    programs, the true usages) and ``varm['programs']`` (genes × programs, the true
    profiles, unit-norm columns).

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(500, 300, 4)
    >>> adata.obsm["usage"].shape
    (500, 4)
    """
    n_cells = check_int("n_cells", n_cells, minimum=1)
    n_programs = check_int("n_programs", n_programs, minimum=1)
    n_genes = check_int("n_genes", n_genes, minimum=3 * n_programs)
    concentration = check_real("concentration", concentration, strict=True)
    fold_change = check_real("fold_change", fold_change, minimum=1.0)
    counts_per_cell = check_real("counts_per_cell", counts_per_cell, strict=True)
    noise = check_real("noise", noise)
    rng = np.random.default_rng(check_seed("random_state", random_state))

    base = rng.lognormal(mean=0.0, sigma=1.0, size=n_genes)
    profiles = np.tile(base, (n_programs, 1))
    block = n_genes // (3 * n_programs)
    genes = rng.permutation(n_genes)
    for p in range(n_programs):
        markers = genes[p * block : (p + 1) * block]
        profiles[p, markers] *= fold_change * rng.uniform(0.7, 1.3, size=block)
    profiles /= profiles.sum(axis=1, keepdims=True)

    usage = rng.dirichlet(np.full(n_programs, concentration), size=n_cells)
    libraries = counts_per_cell * rng.lognormal(mean=0.0, sigma=0.3, size=n_cells)
    rates = libraries[:, None] * (usage @ profiles)
    if noise > 0:
        rates *= rng.gamma(shape=1.0 / noise, scale=noise, size=rates.shape)
    counts = sparse.csr_matrix(rng.poisson(rates).astype(np.float32))
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(1e4, totals, out=np.zeros(n_cells), where=totals > 0)
    counts.data *= np.repeat(scale, np.diff(counts.indptr)).astype(np.float32)
    np.log1p(counts.data, out=counts.data)

    names = np.array([f"program_{p}" for p in range(n_programs)])
    obs = pd.DataFrame(
        {"program": pd.Categorical(names[usage.argmax(axis=1)], categories=names)},
        index=[f"cell_{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene_{g}" for g in range(n_genes)])
    truth = profiles.T / np.linalg.norm(profiles.T, axis=0)
    return AnnData(counts, obs=obs, var=var, obsm={"usage": usage}, varm={"programs": truth})
