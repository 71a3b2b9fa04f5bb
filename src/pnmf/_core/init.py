"""NNDSVDa initialization (Boutsidis & Gallopoulos, 2008) from a randomized truncated SVD."""

from __future__ import annotations

import numpy as np

from .expression import Factorized

__all__ = ["nndsvda"]


def nndsvda(
    expression: Factorized, n_comps: int, random_state: int | np.random.RandomState | None
) -> tuple[np.ndarray, np.ndarray]:
    """Nonnegative starting factors ``U`` (cells × k) and ``W`` (genes × k) with unit-norm columns of W.

    Each singular triplet is split into its positive and negative parts and the dominant
    part is kept; zeros are filled with the mean of X (the "a" variant), so that no entry
    starts at zero, where multiplicative and coordinate updates can stall. The same
    randomized SVD serves dense, sparse and streamed input, so both start from the same point.
    """
    left, singular, right_t = expression.truncated_svd(n_comps, random_state)
    left = left.astype(np.float64)
    right = right_t.T.astype(np.float64)
    U = np.zeros((expression.shape[0], n_comps))
    W = np.zeros((expression.shape[1], n_comps))
    for j in range(n_comps):
        u, w = left[:, j], right[:, j]
        u_pos, u_neg, w_pos, w_neg = np.maximum(u, 0), np.maximum(-u, 0), np.maximum(w, 0), np.maximum(-w, 0)
        norms_pos = np.linalg.norm(u_pos) * np.linalg.norm(w_pos)
        norms_neg = np.linalg.norm(u_neg) * np.linalg.norm(w_neg)
        u_part, w_part, mass = (u_pos, w_pos, norms_pos) if norms_pos >= norms_neg else (u_neg, w_neg, norms_neg)
        if mass <= 0:
            continue
        weight = np.sqrt(singular[j] * mass)
        U[:, j] = weight * u_part / np.linalg.norm(u_part)
        W[:, j] = weight * w_part / np.linalg.norm(w_part)
    fill = expression.mean if expression.mean > 0 else 1e-6
    U[U == 0] = fill
    W[W == 0] = fill
    norms = np.linalg.norm(W, axis=0)
    return U * norms, W / norms
