"""Which factor of one run is which factor of another: matching runs, their stability, a consensus.

Every function here works on plain arrays. A *run* is a list over scales of genes × k
loading matrices (one fit of the multi-scale model); several runs of the same k differ by
their random start and the cells they saw.

Matching
    Runs are matched to a reference by the Hungarian algorithm on the cosine similarity of
    their loadings. The reference is the *medoid run*, the run whose optimal matches to
    all others have the largest total similarity, so no arbitrary first run biases the
    result; every run is then matched once more to the element-wise median of the
    matched runs, which no single run dominates.
Reproducibility of a factor
    The median, over all pairs of runs, of the cosine similarity of the factor's matched
    loadings (1: every run finds the same gene program).
Stability of a factor
    The silhouette (cosine distance) of its R matched copies seen as one cluster among the
    k clusters, as cNMF scores its components: near 1 when the copies are much closer to
    each other than to any other factor, near 0 or below when the factor is one arbitrary
    way of splitting a program that another run splits differently.
Consensus
    The element-wise median of the matched loadings after dropping outlying copies (see
    :func:`consensus_loadings`), rescaled to unit norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "MIN_OUTLIER_MARGIN",
    "Matched",
    "consensus_loadings",
    "cosine_matrix",
    "match_runs",
    "reproducibility",
    "stability",
]

#: A copy of a factor is an outlier only if its cosine to the median falls this far below the typical copy, at least.
MIN_OUTLIER_MARGIN = 0.05
_MAD_TO_SD = 1.4826  # median absolute deviation of a normal sample × this = its standard deviation


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every column of ``a`` with every column of ``b`` (zero columns give 0)."""
    norms = np.linalg.norm(a, axis=0)[:, None] * np.linalg.norm(b, axis=0)[None, :]
    return np.divide(a.T @ b, norms, out=np.zeros((a.shape[1], b.shape[1])), where=norms > 0)


def _unit(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=0)
    return np.divide(a, norms, out=np.zeros_like(a, dtype=np.float64), where=norms > 0)


def _match(run: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float]:
    """Permutation of ``run``'s factors that best matches ``reference``, and its total similarity.

    Both are scales stacked on top of each other, each scale's columns of unit norm, so
    ``referenceᵀ run`` is the k × k sum over scales of the cosine similarities.
    """
    score = reference.T @ run
    _, columns = linear_sum_assignment(-score)
    return columns, float(score[np.arange(len(columns)), columns].sum())


@dataclass(frozen=True)
class Matched:
    """Runs with their factors put in one common order.

    ``loadings[t]`` is an array runs × genes × k of unit-norm columns, factor j being the
    same program in every run; ``permutations[r]`` maps run r's original factors to that
    order (``original[:, permutations[r]]``); ``reference`` is the medoid run's index.
    """

    loadings: list[np.ndarray]
    permutations: np.ndarray
    reference: int


def match_runs(runs: Sequence[Sequence[np.ndarray]]) -> Matched:
    """Put the factors of several runs in one order, by the Hungarian algorithm on cosine similarity.

    Parameters
    ----------
    runs
        ``runs[r][t]``: loadings (genes × k) of run r at scale t. With several scales, a
        factor is matched on the sum of its similarities over the scales, so that factor j
        stays the same program at every scale (pass one scale at a time to match scales
        independently).

    Returns
    -------
    The matched runs (see :class:`Matched`).
    """
    n_runs = len(runs)
    if n_runs == 0:
        msg = "match_runs needs at least one run."
        raise ValueError(msg)
    units = [[_unit(np.asarray(w, dtype=np.float64)) for w in run] for run in runs]
    stacked = [np.vstack(run) for run in units]
    total = np.zeros(n_runs)
    for a, b in combinations(range(n_runs), 2):
        _, value = _match(stacked[b], stacked[a])
        total[a] += value
        total[b] += value
    reference = int(np.argmax(total))
    permutations = np.stack([_match(run, stacked[reference])[0] for run in stacked])
    median = np.vstack(
        [
            _unit(np.median(np.stack([run[t][:, p] for run, p in zip(units, permutations, strict=True)]), axis=0))
            for t in range(len(units[0]))
        ]
    )
    permutations = np.stack([_match(run, median)[0] for run in stacked])
    loadings = [
        np.stack([run[t][:, p] for run, p in zip(units, permutations, strict=True)]) for t in range(len(units[0]))
    ]
    return Matched(loadings, permutations, reference)


def reproducibility(matched: np.ndarray) -> np.ndarray:
    """Median over pairs of runs of the cosine similarity of each matched factor.

    Parameters
    ----------
    matched
        Runs × genes × k, unit-norm columns in a common order (one scale of :class:`Matched`).

    Returns
    -------
    One value per factor in [0, 1]; 1 when every run has the same loadings. ``nan`` with a
    single run.
    """
    n_runs, _, k = matched.shape
    if n_runs < 2:
        return np.full(k, np.nan)
    pairs = np.stack([np.einsum("gj,gj->j", matched[a], matched[b]) for a, b in combinations(range(n_runs), 2)])
    return np.median(pairs, axis=0)


def stability(matched: np.ndarray) -> np.ndarray:
    """Silhouette of each matched factor's copies, with cosine distance, as one cluster among k.

    For copy i of factor j, ``a`` is its mean cosine distance to the other copies of j and
    ``b`` the smallest mean distance to the copies of another factor; its silhouette is
    ``(b - a) / max(a, b)``. A factor's stability is the mean over its copies.

    Parameters
    ----------
    matched
        Runs × genes × k, unit-norm columns in a common order.

    Returns
    -------
    One value per factor in [-1, 1]; ``nan`` with a single run, 0 when k = 1 (no other
    cluster to compare with).
    """
    n_runs, _, k = matched.shape
    if n_runs < 2:
        return np.full(k, np.nan)
    if k == 1:
        return np.zeros(1)
    flat = matched.transpose(0, 2, 1).reshape(n_runs * k, -1)  # row r * k + j is copy r of factor j
    distance = np.clip(1.0 - flat @ flat.T, 0.0, 2.0)
    labels = np.tile(np.arange(k), n_runs)
    # mean distance of every copy to every cluster, its own excluding itself
    sums = np.stack([distance[:, labels == j].sum(axis=1) for j in range(k)], axis=1)
    counts = np.full(k, float(n_runs))
    mean = sums / counts
    own = sums[np.arange(n_runs * k), labels] / (n_runs - 1)
    mean[np.arange(n_runs * k), labels] = np.inf
    other = mean.min(axis=1)
    denominator = np.maximum(own, other)
    silhouette = np.divide(other - own, denominator, out=np.zeros_like(own), where=denominator > 0)
    return silhouette.reshape(n_runs, k).mean(axis=0)


def consensus_loadings(matched: np.ndarray, outlier_mads: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Combine matched runs into one loading matrix: a median after dropping outlying copies.

    For factor j, let ``m_j`` be the element-wise median of its R copies and ``c_rj`` the
    cosine of copy r with ``m_j``. Copy r is an outlier when ``c_rj`` falls below
    ``median_r(c_rj) − max(outlier_mads · 1.4826 · MAD_r(c_rj), 0.05)``: more than
    ``outlier_mads`` robust standard deviations below the typical copy, and at least 0.05
    below it (so that nothing is dropped when all copies agree to within noise). The
    consensus is the element-wise median of the copies kept, rescaled to unit norm; at
    least half of the copies are always kept.

    Parameters
    ----------
    matched
        Runs × genes × k, unit-norm columns in a common order.
    outlier_mads
        How many robust standard deviations below the typical copy make an outlier.

    Returns
    -------
    The consensus (genes × k, unit-norm nonnegative columns) and the runs × k mask of the
    copies kept.
    """
    n_runs, n_genes, k = matched.shape
    median = np.median(matched, axis=0)
    similarity = np.einsum("rgj,gj->rj", matched, _unit(median))
    typical = np.median(similarity, axis=0)
    spread = _MAD_TO_SD * np.median(np.abs(similarity - typical), axis=0)
    cutoff = typical - np.maximum(outlier_mads * spread, MIN_OUTLIER_MARGIN)
    kept = similarity >= cutoff
    # never fewer than half of the copies: keep the most similar ones
    minimum = -(-n_runs // 2)
    for factor in np.flatnonzero(kept.sum(axis=0) < minimum):
        kept[np.argsort(-similarity[:, factor], kind="stable")[:minimum], factor] = True
    consensus = np.empty((n_genes, k))
    for j in range(k):
        consensus[:, j] = np.median(matched[kept[:, j], :, j], axis=0)
    consensus = np.maximum(consensus, 0.0)
    return _unit(consensus), kept
