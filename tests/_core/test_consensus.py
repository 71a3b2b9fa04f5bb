"""Matching runs, their stability and consensus, on problems with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from pnmf._core.consensus import consensus_loadings, cosine_matrix, match_runs, reproducibility, stability


def planted(rng, n_genes=60, k=4):
    """Unit-norm nonnegative loadings with disjoint marker blocks, so every factor is distinct."""
    W = rng.random((n_genes, k)) * 0.05
    block = n_genes // k
    for j in range(k):
        W[j * block : (j + 1) * block, j] += 1.0
    return W / np.linalg.norm(W, axis=0)


def noisy_runs(rng, W, n_runs, noise=0.01):
    runs, permutations = [], []
    for _ in range(n_runs):
        p = rng.permutation(W.shape[1])
        runs.append(np.abs(W[:, p] + noise * rng.standard_normal(W.shape)))
        permutations.append(p)
    return runs, permutations


def test_match_runs_undoes_planted_permutations(rng):
    W = planted(rng)
    runs, permutations = noisy_runs(rng, W, 5)
    matched = match_runs([[run] for run in runs])
    # every matched run shows the planted factors in one common order
    order = np.argmax(cosine_matrix(W, matched.loadings[0][0]), axis=0)
    for r in range(5):
        assert np.argmax(cosine_matrix(W, matched.loadings[0][r]), axis=0).tolist() == order.tolist()
        np.testing.assert_array_equal(permutations[r][matched.permutations[r]], order)
    assert np.allclose(np.linalg.norm(matched.loadings[0], axis=1), 1.0)


def test_match_runs_jointly_over_scales_keeps_one_identity(rng):
    fine, coarse = planted(rng), planted(rng)
    runs = []
    for _ in range(4):
        p = rng.permutation(4)
        runs.append([fine[:, p], coarse[:, p]])
    matched = match_runs(runs)
    for r in range(4):
        np.testing.assert_allclose(matched.loadings[0][r], matched.loadings[0][0])
        np.testing.assert_allclose(matched.loadings[1][r], matched.loadings[1][0])


def test_match_runs_refuses_no_runs():
    with pytest.raises(ValueError, match="at least one run"):
        match_runs([])


def test_identical_runs_are_perfectly_reproducible_and_stable(rng):
    W = planted(rng)
    matched = match_runs([[W] for _ in range(3)]).loadings[0]
    np.testing.assert_allclose(reproducibility(matched), 1.0)
    np.testing.assert_allclose(stability(matched), 1.0)


def test_a_factor_that_changes_between_runs_scores_low(rng):
    W = planted(rng, k=4)
    runs = []
    for _ in range(6):
        run = W.copy()
        run[:, 3] = rng.random(W.shape[0]) ** 4  # a different program in every run
        runs.append(run / np.linalg.norm(run, axis=0))
    matched = match_runs([[run] for run in runs]).loadings[0]
    rep, sil = reproducibility(matched), stability(matched)
    changing = int(np.argmin(cosine_matrix(W, matched[0]).max(axis=0)))  # the factor unlike any planted one
    others = np.delete(np.arange(4), changing)
    assert sil[changing] < 0.5
    assert (sil[others] > 0.9).all()
    assert rep[changing] < 0.9
    assert (rep[others] > 0.99).all()


def test_single_run_has_no_stability(rng):
    matched = match_runs([[planted(rng)]]).loadings[0]
    assert np.isnan(reproducibility(matched)).all()
    assert np.isnan(stability(matched)).all()


def test_stability_of_one_factor_is_zero(rng):
    matched = match_runs([[planted(rng, k=1)] for _ in range(3)]).loadings[0]
    np.testing.assert_array_equal(stability(matched), [0.0])


def test_consensus_drops_an_outlying_copy_and_recovers_the_truth(rng):
    W = planted(rng)
    runs = [np.abs(W + 0.01 * rng.standard_normal(W.shape)) for _ in range(7)]
    runs[2][:, 1] = rng.random(W.shape[0])  # one run found something else for factor 1
    matched = match_runs([[run] for run in runs]).loadings[0]
    consensus, kept = consensus_loadings(matched)
    factor = int(np.argmax(cosine_matrix(W[:, [1]], consensus)))
    assert not kept[2, factor]
    assert kept.sum() == kept.size - 1
    assert np.diag(cosine_matrix(W, consensus[:, np.argmax(cosine_matrix(W, consensus), axis=1)])).min() > 0.99
    np.testing.assert_allclose(np.linalg.norm(consensus, axis=0), 1.0)
    assert (consensus >= 0).all()


def test_consensus_keeps_everything_when_copies_agree(rng):
    W = planted(rng)
    runs = [np.abs(W + 1e-4 * rng.standard_normal(W.shape)) for _ in range(5)]
    matched = match_runs([[run] for run in runs]).loadings[0]
    _consensus, kept = consensus_loadings(matched)
    assert kept.all()


def test_consensus_keeps_at_least_half(rng):
    # five unrelated copies: nothing typical, but at least three are kept per factor
    matched = np.stack([np.abs(rng.standard_normal((30, 2))) for _ in range(5)])
    matched /= np.linalg.norm(matched, axis=1, keepdims=True)
    _, kept = consensus_loadings(matched, outlier_mads=0.0)
    assert (kept.sum(axis=0) >= 3).all()
