"""get.k_selection, get.reproducibility and get.programs: tidy tables from the manifests."""

from __future__ import annotations

import numpy as np
import pytest

import pnmf


def test_k_selection_by_k(selected_base):
    table = pnmf.get.k_selection(selected_base)
    assert table.columns.tolist() == [
        "n_comps",
        "stability",
        "min_stability",
        "reproducibility",
        "error",
        "error_std",
        "suggested",
    ]
    assert table["n_comps"].tolist() == [2, 3, 4]
    assert table["suggested"].sum() == 1
    assert table["error"].is_monotonic_decreasing or np.ptp(table["error"]) < 0.01


def test_k_selection_by_scale_and_factor(selected_base):
    by_scale = pnmf.get.k_selection(selected_base, "scale")
    assert by_scale.columns.tolist()[:3] == ["n_comps", "scale", "n_connected"]
    assert len(by_scale) == 6
    by_factor = pnmf.get.k_selection(selected_base, "factor")
    assert len(by_factor) == 18
    # a k's stability is the mean of its factors' stabilities
    means = by_factor.groupby("n_comps")["stability"].mean().to_numpy()
    np.testing.assert_allclose(means, pnmf.get.k_selection(selected_base)["stability"])


def test_k_selection_errors(selected_base):
    with pytest.raises(KeyError, match=r"run pnmf.tl.select_k\(adata, key_added='nope'\) first"):
        pnmf.get.k_selection(selected_base, key="nope")
    with pytest.raises(ValueError, match="by='cell' is not supported"):
        pnmf.get.k_selection(selected_base, "cell")


def test_reproducibility_and_programs(consensus_base):
    table = pnmf.get.reproducibility(consensus_base)
    assert table.columns.tolist() == ["scale", "factor", "stability", "reproducibility", "n_kept", "reproducible"]
    assert len(table) == 6
    np.testing.assert_array_equal(table["reproducible"], table["stability"] >= 0.8)
    strict = pnmf.get.reproducibility(consensus_base, min_stability=1.0)
    assert not strict["reproducible"].any()
    genes = pnmf.get.programs(consensus_base, 1, 4)
    assert len(genes) == 12
    scale1 = table[table["scale"] == 1].set_index("factor")["stability"]
    np.testing.assert_allclose(genes["stability"], scale1.loc[genes["factor"]].to_numpy())


def test_reproducibility_needs_a_consensus(fitted):
    with pytest.raises(KeyError, match=r"has no consensus; run pnmf.tl.consensus\(adata\)"):
        pnmf.get.reproducibility(fitted, key="pnmf")
    with pytest.raises(ValueError, match="n_genes=0 is out of range"):
        pnmf.get.programs(fitted, n_genes=0, key="pnmf")


def test_top_genes_of_a_consensus_carry_its_stability(consensus_base):
    table = pnmf.get.top_genes(consensus_base, 0, 3, key="pnmf_consensus")
    assert table.columns.tolist() == ["factor", "rank", "gene", "loading", "stability"]
    stability = np.asarray(consensus_base.uns["pnmf_consensus"]["consensus"]["stability"])[0]
    np.testing.assert_allclose(table["stability"], stability[table["factor"].to_numpy()])
    # a single run has no stability to report
    assert "stability" not in pnmf.get.top_genes(consensus_base, 0, 3, key="pnmf").columns


def test_default_keys_come_from_the_key_registry():
    import inspect

    from pnmf._keys import DEFAULT_CONSENSUS_KEY, DEFAULT_K_KEY, Keys

    assert DEFAULT_CONSENSUS_KEY == Keys("pnmf").consensus == "pnmf_consensus"
    assert inspect.signature(pnmf.tl.select_k).parameters["key_added"].default == DEFAULT_K_KEY
    assert inspect.signature(pnmf.get.k_selection).parameters["key"].default == DEFAULT_K_KEY
    assert inspect.signature(pnmf.pl.k_selection).parameters["key"].default == DEFAULT_K_KEY
    assert inspect.signature(pnmf.get.programs).parameters["key"].default == DEFAULT_CONSENSUS_KEY
