"""Which factor at one scale is which factor at the next: matching loadings across scales."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["align_factors", "consecutive_similarity"]


def consecutive_similarity(loadings: Sequence[np.ndarray]) -> np.ndarray:
    """Cosine similarity of factor j's loadings between scales t and t+1, shape (T-1, k)."""
    if len(loadings) < 2:
        return np.empty((0, loadings[0].shape[1] if loadings else 0))
    return np.stack([_cosine(a, b).diagonal() for a, b in pairwise(loadings)])


def align_factors(loadings: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Column permutations that make factor j the same program at every scale.

    Scale 0 (finest) keeps its order; each coarser scale is permuted to maximize the
    total cosine similarity of its loadings with the (already aligned) finer scale, by
    the Hungarian algorithm.

    Returns
    -------
    One permutation per scale: ``loadings[t][:, perm[t]]`` is aligned.
    """
    permutations = [np.arange(loadings[0].shape[1])]
    for t in range(1, len(loadings)):
        reference = loadings[t - 1][:, permutations[t - 1]]
        _, columns = linear_sum_assignment(-_cosine(reference, loadings[t]))
        permutations.append(columns)
    return permutations


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=0)[:, None] * np.linalg.norm(b, axis=0)[None, :]
    return np.divide(a.T @ b, norms, out=np.zeros((a.shape[1], b.shape[1])), where=norms > 0)
