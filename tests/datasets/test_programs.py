"""datasets.gene_programs: counts mixed from known programs, the truth stored beside them, seeded and checked."""

import numpy as np
import pytest
from scipy import sparse

import pnmf


def test_programs_store_the_truth_beside_the_counts():
    adata = pnmf.datasets.gene_programs(300, 120, 4, random_state=1)
    assert adata.shape == (300, 120)
    assert sparse.isspmatrix_csr(adata.X)
    assert (adata.X.data > 0).all()
    usage, programs = adata.obsm["usage"], adata.varm["programs"]
    assert usage.shape == (300, 4)
    assert programs.shape == (120, 4)
    np.testing.assert_allclose(usage.sum(axis=1), 1.0)  # Dirichlet usages
    np.testing.assert_allclose(np.linalg.norm(programs, axis=0), 1.0)
    np.testing.assert_array_equal(adata.obs["program"].cat.codes.to_numpy(), usage.argmax(axis=1))


def test_same_seed_same_data_other_seed_differs():
    a, b = (pnmf.datasets.gene_programs(100, 60, 3, random_state=7) for _ in range(2))
    assert (a.X != b.X).nnz == 0
    assert (a.X != pnmf.datasets.gene_programs(100, 60, 3, random_state=8).X).nnz > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_genes": 8}, ValueError, "n_genes=8 is out of range"),
        ({"n_programs": 0}, ValueError, "n_programs=0 is out of range"),
        ({"concentration": 0.0}, ValueError, "concentration=0.0 is invalid"),
        ({"noise": -1.0}, ValueError, "noise=-1.0 is invalid"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.datasets.gene_programs(**{"n_cells": 50, "n_genes": 60, "n_programs": 3, **kwargs})
    assert isinstance(raised.value, pnmf.PnmfError)
