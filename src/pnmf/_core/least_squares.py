"""Nonnegative least squares for many right-hand sides at once, from Gram matrices only."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_PASSES", "PASS_TOL", "clipped_least_squares", "nonnegative_least_squares"]

#: At most this many passes of coordinate descent.
MAX_PASSES = 1000
#: Passes stop when no coefficient moves by more than this fraction of the largest one.
PASS_TOL = 1e-8


def clipped_least_squares(products: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """``[Uᵀx (UᵀU)⁺]₊`` for every row ``Uᵀx`` of ``products``: the least-squares coefficients, negatives set to 0.

    A start for exact nonnegative solvers, and the embedding of a cell with nothing else to go on.
    """
    return np.maximum(np.asarray(products, dtype=np.float64) @ np.linalg.pinv(gram), 0.0)


def nonnegative_least_squares(gram: np.ndarray, products: np.ndarray, *, max_passes: int = MAX_PASSES) -> np.ndarray:
    """Solve ``min_{b ≥ 0} ‖x − U b‖²`` for many right-hand sides at once, given ``UᵀU`` and the rows ``Uᵀx``.

    Exact coordinate descent on all rows together from the clipped least-squares solution
    ``[Uᵀx (UᵀU)⁺]₊``, until no coefficient moves by more than :data:`PASS_TOL` of the
    largest, or after ``max_passes`` passes. Neither ``U`` nor ``x`` is needed: gene
    scores and held-out genes (``x`` a gene's expression over the cells) are solved from
    ``Xᵀ U``, genes × k.
    """
    coefficients = clipped_least_squares(products, gram)
    diagonal = np.diag(gram)
    for _ in range(max_passes):
        largest = 0.0
        for j in range(gram.shape[0]):
            if diagonal[j] <= 0:
                coefficients[:, j] = 0.0  # a zero column of U: its coefficient is free, take 0
                continue
            gradient = coefficients @ gram[:, j] - products[:, j]
            new = np.maximum(coefficients[:, j] - gradient / diagonal[j], 0.0)
            largest = max(largest, float(np.abs(new - coefficients[:, j]).max(initial=0.0)))
            coefficients[:, j] = new
        if largest <= PASS_TOL * max(float(coefficients.max(initial=0.0)), np.finfo(float).tiny):
            break
    return coefficients
