import numpy as np
import pytest
from scipy import sparse

from pnmf._core.expression import Expression, normalize_cells


@pytest.fixture
def matrix(rng):
    X = rng.random((40, 15)) * (rng.random((40, 15)) < 0.3)
    X[3] = 0.0  # a cell with no counts
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_normalize_cells_gives_unit_rows_and_keeps_empty_rows(matrix, dtype, fmt):
    X = matrix.astype(dtype)
    X = X if fmt == "dense" else sparse.csr_matrix(X) if fmt == "csr" else sparse.csc_matrix(X)
    original = X.copy()
    normalized = normalize_cells(X)
    dense = normalized.toarray() if sparse.issparse(normalized) else normalized
    norms = np.linalg.norm(dense, axis=1)
    np.testing.assert_allclose(norms[np.arange(40) != 3], 1.0, rtol=1e-6)
    assert norms[3] == 0
    assert dense.dtype == dtype
    # the input is not modified
    before = original.toarray() if sparse.issparse(original) else original
    after = X.toarray() if sparse.issparse(X) else X
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_products_and_statistics(matrix, rng, fmt):
    X = matrix if fmt == "dense" else sparse.csr_matrix(matrix)
    expression = Expression(X)
    W, U = rng.random((15, 4)), rng.random((40, 4))
    np.testing.assert_allclose(expression.times(W), matrix @ W)
    np.testing.assert_allclose(expression.transpose_times(U), matrix.T @ U)
    assert expression.sq_norm == pytest.approx(np.sum(matrix**2))
    assert expression.mean == pytest.approx(matrix.mean())
    assert expression.times(W).dtype == np.float64


def test_float32_products_stay_float32_inside(matrix, rng):
    expression = Expression(sparse.csr_matrix(matrix.astype(np.float32)))
    assert expression.matrix.dtype == np.float32
    W = rng.random((15, 3))
    np.testing.assert_allclose(expression.times(W), matrix @ W, rtol=1e-5)
