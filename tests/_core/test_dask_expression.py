import sys

import dask.array as da
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from scipy import sparse

from pnmf._core.dask_expression import DaskExpression, import_dask, is_dask_array
from pnmf._core.expression import Expression, normalize_cells
from pnmf._core.init import nndsvda


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def matrix(kind, rng, shape=(211, 29)):
    X = sparse.random(*shape, density=0.25, random_state=rng, format="csr", dtype=np.float64).astype(np.float32)
    return X if kind == "csr" else X.toarray()


@pytest.mark.parametrize("kind", ["csr", "dense"])
def test_dask_blocks_give_the_products_of_the_matrix_in_memory(kind, client, rng):
    X = matrix(kind, rng)
    memory = Expression(normalize_cells(X))
    lazy = DaskExpression(da.from_array(X, chunks=(50, -1)), None, normalize=True, where="X")
    assert len(lazy.row_chunks) == 5
    assert lazy.sq_norm == pytest.approx(memory.sq_norm, rel=1e-12)
    assert lazy.mean == pytest.approx(memory.mean, rel=1e-12)
    W, U = rng.random((29, 3)), rng.random((211, 3))
    rtol = 1e-6 if kind == "dense" else 1e-12  # dense float32 blocks multiply in float32 (BLAS)
    np.testing.assert_allclose(lazy.times(W), memory.times(W), rtol=rtol)
    np.testing.assert_allclose(lazy.transpose_times(U), memory.transpose_times(U), rtol=rtol)
    cells = np.array([0, 49, 50, 120, 210])
    rows, expected = lazy.rows(cells), memory.rows(cells)
    as_dense = (lambda a: a.toarray()) if kind == "csr" else np.asarray
    np.testing.assert_array_equal(as_dense(rows), as_dense(expected))


def test_dask_start_is_the_in_memory_start(client, rng):
    X = matrix("csr", rng)
    memory = Expression(normalize_cells(X))
    lazy = DaskExpression(da.from_array(X, chunks=(40, -1)), None, normalize=True, where="X")
    for a, b in zip(nndsvda(memory, 3, 0), nndsvda(lazy, 3, 0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_genes_are_selected_in_the_blocks(client, rng):
    X = matrix("csr", rng)
    columns = np.array([1, 2, 10, 28])
    lazy = DaskExpression(da.from_array(X, chunks=(60, -1)), columns, normalize=False, where="X")
    assert lazy.shape == (211, 4)
    W = rng.random((4, 2))
    np.testing.assert_allclose(lazy.times(W), Expression(X[:, columns]).times(W), rtol=1e-12)


def test_blocks_that_split_the_genes_are_refused_with_the_fix(client, rng):
    X = da.from_array(matrix("dense", rng), chunks=(50, 10))
    with pytest.raises(ValueError, match=r"rechunk\(\{1: -1\}\)"):
        DaskExpression(X, None, normalize=True, where="adata.X")


def test_negative_values_on_a_worker_are_refused(client, rng):
    X = matrix("dense", rng)
    X[200, 3] = -2.0
    with pytest.raises(ValueError, match="negative values"):
        DaskExpression(da.from_array(X, chunks=(50, -1)), None, normalize=True, where="adata.X")


def test_dask_arrays_are_recognized_without_importing_dask_for_others(rng):
    assert is_dask_array(da.zeros((3, 2)))
    assert not is_dask_array(np.zeros((3, 2)))
    assert not is_dask_array(sparse.csr_matrix((3, 2)))


def test_without_dask_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.array", None)  # what an environment without Dask raises
    with pytest.raises(ImportError, match=r"persistent-nmf\[dask\]"):
        import_dask()
