"""datasets.nested_populations: two levels of cell types in sparse log-normalized counts, seeded and checked."""

import numpy as np
import pytest
from scipy import sparse

import pnmf


def test_populations_are_sparse_log_normalized_counts_with_two_label_levels():
    adata = pnmf.datasets.nested_populations(400, 120, n_types=3, n_subtypes=2, density=0.2, random_state=2)
    assert adata.shape == (400, 120)
    assert sparse.isspmatrix_csr(adata.X)
    assert adata.X.dtype == np.float32
    assert (adata.X.data > 0).all()
    # log1p of counts scaled to 10,000 per cell: expm1 sums back to 1e4 in every cell with counts
    totals = np.asarray(np.expm1(adata.X.astype(np.float64)).sum(axis=1)).ravel()
    np.testing.assert_allclose(totals[adata.obs["total_counts"].to_numpy() > 0], 1e4, rtol=1e-4)
    assert 0.1 < adata.X.nnz / np.prod(adata.shape) < 0.3
    assert adata.obs["cell_type"].cat.categories.tolist() == ["type_0", "type_1", "type_2"]
    assert adata.obs["subtype"].nunique() == 6
    # every subtype lies inside its type
    for subtype, cell_type in adata.obs[["subtype", "cell_type"]].drop_duplicates().itertuples(index=False):
        assert subtype.startswith(f"{cell_type}.")


def test_subtypes_of_one_type_are_closer_than_types():
    adata = pnmf.datasets.nested_populations(600, 300, n_types=2, n_subtypes=2, random_state=0)
    X = adata.X.toarray()
    centroids = {s: X[adata.obs["subtype"].to_numpy() == s].mean(axis=0) for s in adata.obs["subtype"].cat.categories}
    within = np.linalg.norm(centroids["type_0.0"] - centroids["type_0.1"])
    between = np.linalg.norm(centroids["type_0.0"] - centroids["type_1.0"])
    assert within < between


def test_same_seed_same_data_other_seed_differs():
    a = pnmf.datasets.nested_populations(100, 50, random_state=5)
    b = pnmf.datasets.nested_populations(100, 50, random_state=5)
    assert (a.X != b.X).nnz == 0
    assert (a.X != pnmf.datasets.nested_populations(100, 50, random_state=6).X).nnz > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_cells": 0}, ValueError, "n_cells=0 is out of range"),
        ({"n_genes": 10}, ValueError, "n_genes=10 is out of range"),
        ({"density": 1.0}, ValueError, "density=1.0 must be below 1"),
        ({"density": 0.0}, ValueError, "density=0.0 is invalid"),
        ({"fold_change": 0.5}, ValueError, "fold_change=0.5 is invalid"),
        ({"n_types": "3"}, TypeError, "n_types must be an integer"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.datasets.nested_populations(**{"n_cells": 50, "n_genes": 100, **kwargs})
    assert isinstance(raised.value, pnmf.PnmfError)
