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
