"""Nonnegative least squares from Gram matrices, against scipy's active-set solver."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from pnmf._core.least_squares import nonnegative_least_squares


def test_matches_scipy_nnls_for_every_right_hand_side():
    rng = np.random.default_rng(0)
    U = np.abs(rng.normal(size=(40, 3)))
    x = rng.normal(size=(40, 6))  # some columns best fitted with zero coefficients
    b = nonnegative_least_squares(U.T @ U, x.T @ U)
    for g in range(6):
        np.testing.assert_allclose(b[g], nnls(U, x[:, g])[0], atol=1e-6)
    assert (b == 0).any()


def test_a_zero_column_of_u_gets_a_zero_coefficient():
    rng = np.random.default_rng(1)
    U = np.abs(rng.normal(size=(30, 3)))
    U[:, 1] = 0.0
    x = np.abs(rng.normal(size=(30, 4)))
    b = nonnegative_least_squares(U.T @ U, x.T @ U)
    np.testing.assert_array_equal(b[:, 1], 0.0)
    for g in range(4):
        np.testing.assert_allclose(b[g, [0, 2]], nnls(U[:, [0, 2]], x[:, g])[0], atol=1e-6)
