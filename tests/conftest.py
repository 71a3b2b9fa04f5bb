"""Shared fixtures: small seeded data, real scanpy preprocessing."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import scanpy as sc

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def pbmc():
    """scanpy's bundled PBMCs with their log-normalized values in a layer (X is scaled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.pbmc68k_reduced()
    adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    return adata


@pytest.fixture(scope="session")
def populations_base():
    from pnmf.datasets import nested_populations

    adata = nested_populations(300, 400, n_types=3, n_subtypes=2, random_state=1)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
    return adata


@pytest.fixture
def populations(populations_base):
    """300 synthetic cells × 400 genes in 3 types × 2 subtypes, with PCA and neighbours."""
    return populations_base.copy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def fitted_base(populations_base):
    """The populations with a quick 3-scale, 5-factor pnmf result (read-only: copy before writing)."""
    import pnmf

    adata = populations_base.copy()
    pnmf.tl.pnmf(adata, 5, n_scales=3, max_iter=40, max_sweeps=2)
    return adata


@pytest.fixture
def fitted(fitted_base):
    """A fresh copy of ``fitted_base`` for tests that write."""
    return fitted_base.copy()


@pytest.fixture(scope="session")
def programs_base():
    """240 synthetic cells × 150 genes mixed from 3 known programs, with PCA and neighbours."""
    from pnmf.datasets import gene_programs

    adata = gene_programs(240, 150, 3, random_state=0)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
    return adata


#: Fit options that keep the tests of select_k and consensus fast.
QUICK = {"n_scales": 2, "max_iter": 20, "max_sweeps": 1}


@pytest.fixture
def quick():
    """Fit options that keep the tests of select_k and consensus fast."""
    return dict(QUICK)


@pytest.fixture(scope="session")
def selected_base(programs_base):
    """``programs_base`` with a quick ``tl.select_k`` over k = 2, 3, 4 (read-only)."""
    import pnmf

    adata = programs_base.copy()
    pnmf.tl.select_k(adata, [2, 3, 4], n_runs=3, **QUICK)
    return adata


@pytest.fixture(scope="session")
def consensus_base(programs_base):
    """``programs_base`` with a quick 3-factor ``tl.pnmf`` and its ``tl.consensus`` of 4 runs (read-only)."""
    import pnmf

    adata = programs_base.copy()
    pnmf.tl.pnmf(adata, 3, **QUICK)
    pnmf.tl.consensus(adata, n_runs=4)
    return adata


@pytest.fixture(scope="session")
def scored_base(fitted_base):
    """``fitted_base`` clustered and scored against its cell types with every baseline (read-only)."""
    import pnmf

    adata = fitted_base.copy()
    pnmf.tl.leiden(adata, 0.8, n_neighbors=5)
    pnmf.tl.score_scales(adata, "cell_type", n_seeds=2, n_init=2)
    return adata
