import tracemalloc

import numpy as np
import pytest
from scipy import sparse

from pnmf._core import streamed
from pnmf._core.expression import Expression, normalize_cells
from pnmf._core.init import nndsvda
from pnmf._core.streamed import BlockSource, StreamedExpression, prepare_block


def source_of(X, columns=None, where="X"):
    bytes_per_row = (X.nnz * 8 if sparse.issparse(X) else X.size * X.itemsize) / X.shape[0]
    return BlockSource(
        lambda start, stop: X[start:stop], X.shape[0], X.shape[1], X.dtype, bytes_per_row, where, columns
    )


def matrix(kind, dtype, rng, shape=(203, 37), density=0.2):
    X = (sparse.random(*shape, density=density, random_state=rng, format="lil", dtype=np.float64) * 5).tolil()
    X[7] = 0  # an empty cell
    X = X.tocsr().astype(dtype)
    X.eliminate_zeros()
    return X if kind == "csr" else X.toarray()


@pytest.mark.parametrize("kind", ["csr", "dense"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [True, False])
def test_blocks_give_the_products_of_the_matrix_in_memory(kind, dtype, normalize, rng):
    X = matrix(kind, dtype, rng)
    memory = Expression(normalize_cells(X) if normalize else X)
    blocks = StreamedExpression(source_of(X), normalize=normalize, block_bytes=400)
    assert blocks.n_blocks > 5
    assert blocks.shape == memory.shape
    assert blocks.dtype == memory.dtype
    assert blocks.sq_norm == pytest.approx(memory.sq_norm, rel=1e-12)
    assert blocks.mean == pytest.approx(memory.mean, rel=1e-12)
    W, U = rng.random((37, 4)), rng.random((203, 4))
    # sparse products accumulate in float64 (rows exactly as in memory); dense ones use BLAS in the data's dtype
    rtol = 1e-6 if kind == "dense" and dtype == np.float32 else 1e-12
    np.testing.assert_allclose(blocks.times(W), memory.times(W), rtol=rtol)
    np.testing.assert_allclose(blocks.transpose_times(U), memory.transpose_times(U), rtol=rtol)
    cells = np.array([0, 7, 8, 100, 202])
    rows = blocks.rows(cells)
    expected = memory.rows(cells)
    np.testing.assert_array_equal(
        rows.toarray() if sparse.issparse(rows) else rows, expected.toarray() if sparse.issparse(expected) else expected
    )


@pytest.mark.parametrize("progress", [True, False])
def test_the_first_read_shows_a_bar_over_the_cells_only_when_asked(progress, rng, capfd):
    X = matrix("csr", np.float32, rng)
    StreamedExpression(source_of(X, where="adata.X"), normalize=True, block_bytes=400, progress=progress)
    err = capfd.readouterr().err
    assert ("reading adata.X" in err and "/203 " in err) == progress  # the bar counts the cells


def test_the_streamed_start_is_the_in_memory_start(rng):
    X = matrix("csr", np.float32, rng)
    memory = Expression(normalize_cells(X))
    blocks = StreamedExpression(source_of(X), normalize=True, block_bytes=400)
    for a, b in zip(nndsvda(memory, 4, 0), nndsvda(blocks, 4, 0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_genes_are_selected_block_by_block(rng):
    X = matrix("csr", np.float64, rng)
    columns = np.array([0, 3, 4, 20, 36])
    blocks = StreamedExpression(source_of(X, columns), normalize=True, block_bytes=400)
    memory = Expression(normalize_cells(X[:, columns]))
    assert blocks.shape == (203, 5)
    W = rng.random((5, 3))
    np.testing.assert_allclose(blocks.times(W), memory.times(W), rtol=1e-12)


def test_integer_counts_are_factorized_in_float32(rng):
    X = sparse.csr_matrix(rng.poisson(1.0, size=(50, 10)))
    blocks = StreamedExpression(source_of(X), normalize=False, block_bytes=200)
    assert blocks.dtype == np.float32
    assert blocks.sq_norm == pytest.approx(float(X.multiply(X).sum()))


def test_a_negative_value_in_a_late_block_is_refused_and_nothing_is_left_behind(rng, tmp_path):
    X = matrix("csr", np.float64, rng).tolil()
    X[190, 3] = -1.0
    with pytest.raises(ValueError, match="negative values"):
        StreamedExpression(source_of(X.tocsr(), where="adata.X"), normalize=True, block_bytes=400, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_spilled_blocks_are_removed_on_close(rng, tmp_path):
    blocks = StreamedExpression(source_of(matrix("csr", np.float64, rng)), normalize=True, directory=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    blocks.close()
    assert list(tmp_path.iterdir()) == []


def test_the_matrix_itself_is_refused_with_the_fix(rng):
    blocks = StreamedExpression(source_of(matrix("csr", np.float64, rng), where="adata.X"), normalize=True)
    with pytest.raises(TypeError, match="to_memory"):
        _ = blocks.matrix


def test_values_whose_squares_overflow_are_refused(rng):
    X = sparse.csr_matrix(np.full((4, 3), 1e200))
    with pytest.raises(ValueError, match="too large"):
        StreamedExpression(source_of(X), normalize=False)


def test_prepare_block_sums_duplicate_entries():
    block = sparse.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 2])), shape=(1, 3))
    prepared = prepare_block(block, None, False, "X")
    np.testing.assert_array_equal(prepared.toarray(), [[0.0, 3.0, 0.0]])


def test_a_large_sparse_matrix_is_never_densified(rng, monkeypatch, tmp_path):
    # 100,000 cells × 50,000 genes: 20 GB as dense float32, 16 MB as it is stored
    n, m, nnz = 100_000, 50_000, 2_000_000
    X = sparse.csr_matrix(
        (rng.random(nnz).astype(np.float32) + 0.1, (rng.integers(0, n, nnz), rng.integers(0, m, nnz))), shape=(n, m)
    )
    monkeypatch.setattr(streamed, "BLOCK_BYTES", 1 << 22)
    tracemalloc.start()
    try:
        blocks = StreamedExpression(source_of(X), normalize=True, directory=tmp_path)
        blocks.times(rng.random((m, 5)))
        blocks.transpose_times(rng.random((n, 5)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blocks.n_blocks > 3
    # the factors (n × 5 and m × 5 in float64: 6 MB) and a few 4 MB blocks; dense would be 20 GB
    assert peak < 100 * 2**20


def test_the_cross_validation_reads_only_its_sampled_rows(rng):
    # above MAX_CELLS cells, the cross-validation of λ1 indexes a matrix that is not in memory
    from pnmf._core.cross_validation import MAX_CELLS
    from pnmf._core.fit import _cross_validation_matrix

    X = sparse.random(MAX_CELLS + 7, 6, density=0.5, random_state=rng, format="csr", dtype=np.float64)
    blocks = StreamedExpression(source_of(X), normalize=False, block_bytes=1 << 15)
    seen = _cross_validation_matrix(blocks, MAX_CELLS)
    assert seen.shape == X.shape
    assert not sparse.issparse(seen)  # a view that reads rows on demand, not the matrix
    cells = np.sort(rng.choice(X.shape[0], size=50, replace=False))
    np.testing.assert_array_equal(seen[cells].toarray(), X[cells].toarray())
    small = StreamedExpression(source_of(X[:100]), normalize=False)
    np.testing.assert_array_equal(_cross_validation_matrix(small, MAX_CELLS).toarray(), X[:100].toarray())
