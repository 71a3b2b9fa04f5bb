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


@pytest.mark.parametrize("dense", [False, True])
def test_cells_are_normalized_the_same_in_chunks(dense, monkeypatch):
    from pnmf._core import expression

    X = sparse.random(500, 40, density=0.2, format="csr", random_state=3, dtype=np.float64) * 7
    X = X.tolil()
    X[3] = 0  # an empty cell, and one at the end
    X[499] = 0
    X = X.tocsr()
    if dense:
        X = X.toarray()
    whole = expression.normalize_cells(X)
    monkeypatch.setattr(expression, "NORMALIZE_CHUNK", 37)
    chunked = expression.normalize_cells(X)
    if dense:
        np.testing.assert_array_equal(chunked, whole)
    else:
        np.testing.assert_array_equal(chunked.toarray(), whole.toarray())
    norms = np.sqrt(np.asarray((chunked.multiply(chunked) if not dense else chunked**2).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms[[0, 1, 250]], 1.0)
    assert norms[3] == norms[499] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_cells_are_scaled_as_read_with_the_results_of_a_normalized_copy(matrix, rng, dtype, monkeypatch):
    from pnmf._core import expression as module

    X = sparse.csr_matrix((matrix * rng.lognormal(0, 3, (40, 1))).astype(dtype))  # cells of very different sizes
    monkeypatch.setattr(module, "NORMALIZE_CHUNK", 23)  # statistics over several chunks of rows
    scaled = Expression(X, normalize=True)
    copied = Expression(normalize_cells(X))
    assert scaled.cell_scale is not None
    assert np.shares_memory(scaled.stored.data, X.data)  # no copy of the values
    W, U = rng.random((15, 4)), rng.random((40, 4))
    np.testing.assert_array_equal(scaled.times(W), copied.times(W))
    np.testing.assert_array_equal(scaled.transpose_times(U), copied.transpose_times(U))
    assert scaled.dtype == copied.dtype
    assert scaled.sq_norm == pytest.approx(copied.sq_norm, rel=1e-14)  # summed in other groups
    assert scaled.mean == pytest.approx(copied.mean, rel=1e-14)
    np.testing.assert_array_equal(scaled.matrix.toarray(), copied.matrix.toarray())
    cells = np.array([0, 3, 17, 39])
    np.testing.assert_array_equal(scaled.rows(cells).toarray(), copied.rows(cells).toarray())


def test_cells_whose_scale_is_not_a_float_are_normalized_in_a_copy(matrix, rng):
    X = sparse.csr_matrix(matrix)
    X.data[X.indptr[5] : X.indptr[6]] *= 1e-310  # a cell of subnormal values: 1 / its norm overflows
    expression = Expression(X, normalize=True)
    assert expression.cell_scale is None
    dense = expression.matrix.toarray()
    expected = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-300)
    np.testing.assert_allclose(dense, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(expression.times(np.eye(15)), expected, rtol=1e-9, atol=1e-12)
