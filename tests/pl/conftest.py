"""Results shared by the plot tests (read-only: copy before writing)."""

import numpy as np
import pandas as pd
import pytest

import pnmf


@pytest.fixture(scope="session")
def result(populations_base):
    """The populations with a 4-scale result and its nested Leiden clustering."""
    adata = populations_base.copy()
    pnmf.tl.pnmf(adata, 5, n_scales=4, max_iter=40, max_sweeps=2)
    pnmf.tl.leiden(adata, 0.8)
    return adata


@pytest.fixture(scope="session")
def annotated(fitted_base):
    """``fitted_base`` clustered, with a categorical and a numeric column holding missing values."""
    adata = fitted_base.copy()
    pnmf.tl.leiden(adata, 0.8, n_neighbors=5)
    labels = np.array(["a", "b", "c"])[np.arange(adata.n_obs) % 3].astype(object)
    labels[::4] = None
    adata.obs["group"] = pd.Categorical(labels)
    score = np.linspace(0.0, 1.0, adata.n_obs)
    score[::5] = np.nan
    adata.obs["score"] = score
    return adata
