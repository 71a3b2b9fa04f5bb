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
def _populations_base():
    from pnmf.datasets import nested_populations

    adata = nested_populations(300, 400, n_types=3, n_subtypes=2, random_state=1)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
    return adata


@pytest.fixture
def populations(_populations_base):
    """300 synthetic cells × 400 genes in 3 types × 2 subtypes, with PCA and neighbours."""
    return _populations_base.copy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
