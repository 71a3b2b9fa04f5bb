import numpy as np
from scipy import sparse

from pnmf._core.expression import Expression
from pnmf._core.init import nndsvda


def low_rank(rng, n=80, m=30, k=3):
    return rng.random((n, k)) @ rng.random((k, m))


def test_nndsvda_is_positive_with_unit_loadings(rng):
    expression = Expression(low_rank(rng))
    U, W = nndsvda(expression, 3, random_state=0)
    assert U.shape == (80, 3)
    assert W.shape == (30, 3)
    assert (U > 0).all()
    assert (W > 0).all()
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)


def test_nndsvda_first_component_is_the_leading_singular_pair(rng):
    X = low_rank(rng)
    U, W = nndsvda(Expression(X), 3, random_state=0)
    left, singular, right = np.linalg.svd(X, full_matrices=False)
    leading = np.abs(right[0])
    np.testing.assert_allclose(W[:, 0], leading / np.linalg.norm(leading), atol=1e-6)
    np.testing.assert_allclose(U[:, 0], singular[0] * np.abs(left[:, 0]), rtol=1e-5)


def test_dense_and_sparse_start_alike(rng):
    X = low_rank(rng) * (rng.random((80, 30)) < 0.5)
    dense = nndsvda(Expression(X), 4, random_state=3)
    sparse_ = nndsvda(Expression(sparse.csr_matrix(X)), 4, random_state=3)
    for a, b in zip(dense, sparse_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_seed_controls_the_randomized_svd(rng):
    X = rng.random((200, 60))
    first, again, other = (nndsvda(Expression(X), 10, random_state=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
