"""A randomized truncated SVD that touches the matrix only through its two products.

The algorithm is scikit-learn's ``randomized_svd`` (Halko, Martinsson & Tropp, 2011:
random Gaussian start, power iterations normalized by LU, a final QR, the SVD of the small
projected matrix, signs flipped deterministically), written with ``X @ Q`` and ``Xᵀ @ Q``
only, in float64. A matrix in memory, one read from a file by blocks and a Dask array
therefore start from the same factors: each product agrees to rounding in float64, where
a float32 computation would let the power iterations amplify differences in summation
order to ~1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state
from sklearn.utils.extmath import svd_flip

__all__ = ["SVD_OVERSAMPLES", "SVD_POWER_ITERATIONS", "randomized_svd"]

#: Extra random directions beyond the rank sought, and power iterations (scikit-learn's choices).
SVD_OVERSAMPLES = 10
SVD_POWER_ITERATIONS = 7

#: Entries of a singular vector below this fraction of its largest are rounding noise.
NOISE = 1e-12

Product = Callable[[np.ndarray], np.ndarray]


def randomized_svd(
    shape: tuple[int, int],
    times: Product,
    transpose_times: Product,
    n_comps: int,
    random_state: int | np.random.RandomState | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the leading ``n_comps`` singular triplets ``(left, singular values, right transposed)``.

    Parameters
    ----------
    shape
        Rows × columns of the matrix X.
    times
        ``Q -> X @ Q`` for a columns × r matrix (float64).
    transpose_times
        ``Q -> Xᵀ @ Q`` for a rows × r matrix (float64).
    n_comps
        Number of singular triplets.
    random_state
        Seed of the random start.
    """
    rng = check_random_state(random_state)
    n_rows, n_cols = shape
    transpose = n_rows < n_cols  # as scikit-learn: iterate with the smaller dimension as columns
    forward, backward = (transpose_times, times) if transpose else (times, transpose_times)
    Q = rng.normal(size=(n_rows if transpose else n_cols, n_comps + SVD_OVERSAMPLES))
    lu = partial(linalg.lu, permute_l=True, check_finite=False)
    for _ in range(SVD_POWER_ITERATIONS):
        Q = lu(forward(Q))[0]
        Q = lu(backward(Q))[0]
    Q = linalg.qr(forward(Q), mode="economic", check_finite=False)[0]
    B = backward(Q).T  # Qᵀ A, A being X or its transpose
    Uhat, s, Vt = linalg.svd(B, full_matrices=False, lapack_driver="gesdd")
    U = Q @ Uhat
    if transpose:
        U, Vt = svd_flip(U, Vt, u_based_decision=False)
        left, right_t = Vt[:n_comps].T, U[:, :n_comps].T
    else:
        U, Vt = svd_flip(U, Vt)
        left, right_t = U[:, :n_comps], Vt[:n_comps]
    return _without_noise(left, axis=0), s[:n_comps], _without_noise(right_t, axis=1)


def _without_noise(vectors: np.ndarray, axis: int) -> np.ndarray:
    """Set to zero the entries at rounding level of their singular vector (an empty cell's, e.g.).

    NNDSVDa fills the zeros of its start; whether an empty cell's entry comes out as 0 or as
    1e-17 depends on the order of summation, and must not decide its starting value.
    """
    scale = np.abs(vectors).max(axis=axis, keepdims=True)
    return np.where(np.abs(vectors) <= NOISE * scale, 0.0, vectors)
