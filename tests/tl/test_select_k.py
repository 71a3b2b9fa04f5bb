"""tl.select_k: per-k stability and error, the suggested k, errors, seeds and round trips."""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np
import pytest
import scanpy as sc

import pnmf
from pnmf.tl._select_k import REPLICATE_TOL, suggest_k


def test_manifest_holds_flat_tables(selected_base):
    manifest = selected_base.uns["pnmf_k"]
    np.testing.assert_array_equal(manifest["n_comps"], [2, 3, 4])
    assert int(manifest["suggested_k"]) in (2, 3, 4)
    by_scale, by_factor = manifest["by_scale"], manifest["by_factor"]
    assert len(by_scale["n_comps"]) == 3 * 2
    assert len(by_factor["n_comps"]) == (2 + 3 + 4) * 2
    assert np.all((by_scale["error"] > 0) & (by_scale["error"] < 1))
    assert np.all(np.abs(by_factor["stability"]) <= 1)
    assert manifest["n_runs"] == 3
    assert manifest["subsample"] == 0.8
    assert manifest["params"]["max_iter"] == 20
    assert "n_comps" not in manifest["params"]
    assert {"prepare", "runs", "matching"} <= set(manifest["timings"])
    np.testing.assert_array_equal(manifest["scales_fitted"], [0, 1])


def test_prepared_edges_rebuild_the_graphs_of_tl_pnmf(programs_base, quick):
    from pnmf._core.graphs import scale_graph
    from pnmf._options import PnmfOptions
    from pnmf.tl._replicates import prepare

    prepared = prepare(programs_base.copy(), PnmfOptions(**quick, random_state=0))
    for threshold, graph in zip(prepared.problem.thresholds, prepared.graphs, strict=True):
        rebuilt = scale_graph(prepared.edges, threshold)
        np.testing.assert_allclose(rebuilt.adjacency.toarray(), graph.adjacency.toarray())


def test_runs_fit_the_finest_recommended_and_coarsest_scales(programs_base, quick):
    options = {**quick, "n_scales": 5}
    adata = pnmf.tl.select_k(programs_base, [2, 3], n_runs=2, copy=True, **options)
    manifest = adata.uns["pnmf_k"]
    n_scales = len(manifest["thresholds"])
    assert n_scales > 3
    # the scale tl.pnmf recommends at the middle k, where select_k cross-validates
    reference = pnmf.tl.pnmf(programs_base, 3, copy=True, **options).uns["pnmf"]
    expected = sorted({0, int(reference["recommended_scale"]), n_scales - 1})
    np.testing.assert_array_equal(manifest["scales_fitted"], expected)
    by_scale = pnmf.get.k_selection(adata, "scale")
    assert by_scale["scale"].tolist() == expected * 2
    np.testing.assert_array_equal(by_scale["n_connected"], np.tile(manifest["n_connected"][expected], 2))
    every = pnmf.tl.select_k(programs_base, [2, 3], n_runs=2, all_scales=True, copy=True, **options)
    np.testing.assert_array_equal(every.uns["pnmf_k"]["scales_fitted"], np.arange(n_scales))
    assert pnmf.get.k_selection(every, "scale")["scale"].tolist() == list(range(n_scales)) * 2


def test_fit_options_follow_tl_pnmf_defaults_but_the_runs_converge_further():
    select = inspect.signature(pnmf.tl.select_k).parameters
    pnmf_parameters = inspect.signature(pnmf.tl.pnmf).parameters
    for name, p in pnmf_parameters.items():
        if name in select and name not in ("adata", "n_comps", "key_added", "copy", "random_state", "tol"):
            assert select[name].default is p.default or select[name].default == p.default, name
    assert select["tol"].default == REPLICATE_TOL < pnmf_parameters["tol"].default


def test_runs_converged_further_agree_on_the_planted_programs():
    """At the planted number of programs, runs stopped at tl.pnmf's tol still disagree on a factor."""
    adata = pnmf.datasets.gene_programs(400, 200, 4, noise=0.05, random_state=2)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)

    def least_stable_at_four(tol):
        pnmf.tl.select_k(adata, [3, 4], n_runs=3, n_scales=3, tol=tol)
        return pnmf.get.k_selection(adata, "k").set_index("n_comps").loc[4, "min_stability"]

    one_fit_tol = inspect.signature(pnmf.tl.pnmf).parameters["tol"].default
    assert least_stable_at_four(REPLICATE_TOL) > 0.8
    assert least_stable_at_four(one_fit_tol) < 0.6


def test_h5ad_round_trip(selected_base, tmp_path):
    path = tmp_path / "selected.h5ad"
    selected_base.write_h5ad(path)
    back = ad.read_h5ad(path)
    for by in ("k", "scale", "factor"):
        pd_before = pnmf.get.k_selection(selected_base, by)
        pd_after = pnmf.get.k_selection(back, by)
        assert pd_before.columns.tolist() == pd_after.columns.tolist()
        np.testing.assert_allclose(pd_before.select_dtypes("number"), pd_after.select_dtypes("number"))


def test_same_seed_same_result_other_seed_differs(programs_base, quick):
    runs = []
    for seed in (0, 0, 1):
        adata = pnmf.tl.select_k(programs_base, [2, 3], n_runs=2, random_state=seed, copy=True, **quick)
        runs.append(pnmf.get.k_selection(adata, "factor"))
    np.testing.assert_array_equal(runs[0]["stability"], runs[1]["stability"])
    assert not np.allclose(runs[0]["stability"], runs[2]["stability"])


def test_a_second_run_replaces_the_first_and_other_entries_are_refused(programs_base, quick):
    adata = programs_base.copy()
    pnmf.tl.select_k(adata, [2, 3], n_runs=2, **quick)
    pnmf.tl.select_k(adata, [2, 4], n_runs=2, **quick)
    np.testing.assert_array_equal(adata.uns["pnmf_k"]["n_comps"], [2, 4])
    adata.uns["mine"] = {"a": 1}
    with pytest.raises(ValueError, match=r"adata.uns\['mine'\] already exists"):
        pnmf.tl.select_k(adata, [2, 3], n_runs=2, key_added="mine", **quick)
    assert adata.uns["mine"] == {"a": 1}


def test_copy_leaves_input_untouched(programs_base, quick):
    adata = programs_base.copy()
    result = pnmf.tl.select_k(adata, [2, 3], n_runs=2, key_added="choice", copy=True, **quick)
    assert "choice" not in adata.uns
    assert "choice" in result.uns


def test_subsample_one_uses_every_cell(programs_base, quick):
    adata = pnmf.tl.select_k(programs_base, [2, 3], n_runs=2, subsample=1.0, copy=True, **quick)
    assert adata.uns["pnmf_k"]["subsample"] == 1.0


@pytest.mark.parametrize(
    ("n_comps", "error", "match"),
    [
        (5, TypeError, "must be a sequence"),
        ("5", TypeError, "must be a sequence"),
        ([2, 3.5], TypeError, "must hold integers"),
        ([True, 3], TypeError, "must hold integers"),
        ([], ValueError, "compares at least two"),
        ([4], ValueError, "compares at least two"),
        ([3, 3], ValueError, "repeats values"),
        ([0, 3], ValueError, "must be ≥ 1"),
        ([2, 500], ValueError, "pass values of k up to 150"),
    ],
)
def test_bad_k_ranges_are_refused_and_nothing_is_written(programs_base, quick, n_comps, error, match):
    adata = programs_base.copy()
    before = set(adata.uns)
    with pytest.raises(error, match=match):
        pnmf.tl.select_k(adata, n_comps, n_runs=2, **quick)
    assert set(adata.uns) == before


def test_k_above_the_subsample_is_refused(programs_base, quick):
    with pytest.raises(ValueError, match="a run sees 24 cells"):
        pnmf.tl.select_k(programs_base, [2, 30], n_runs=2, subsample=0.1, **quick)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"n_runs": 1}, ValueError, "n_runs=1 is out of range"),
        ({"subsample": 0.0}, ValueError, "subsample=0.0 is invalid"),
        ({"subsample": 1.5}, ValueError, r"fraction of the cells; pass a number in \(0, 1\]"),
        ({"max_iter": 0}, ValueError, "max_iter=0 is out of range"),
        ({"max_sweeps": -1}, ValueError, "max_sweeps=-1 is out of range"),
        ({"graph_weight": -1.0}, ValueError, "graph_weight=-1.0 is invalid"),
        ({"key_added": "a/b"}, ValueError, "contains '/'"),
        ({"all_scales": "yes"}, TypeError, "all_scales must be"),
    ],
)
def test_bad_options_are_refused(programs_base, quick, options, error, match):
    kwargs = {"n_runs": 2, **quick, **options}
    with pytest.raises(error, match=match):
        pnmf.tl.select_k(programs_base.copy(), [2, 3], **kwargs)


def test_suggest_k_takes_the_k_whose_least_stable_factor_is_most_stable():
    ks = np.array([2, 3, 4, 5, 6])
    assert suggest_k(ks, np.array([0.90, 0.95, 0.99, 0.70, 0.60])) == 4
    assert suggest_k(ks, np.array([0.99, 0.95, 0.98, 0.985, 0.60])) == 2
    assert suggest_k(ks, np.array([np.nan, 0.5, 0.7, 0.7, 0.1])) == 4
    assert suggest_k(ks, np.full(5, np.nan)) == 2


def test_suggested_k_follows_the_least_stable_factor(selected_base):
    table = pnmf.get.k_selection(selected_base)
    factors = pnmf.get.k_selection(selected_base, "factor")
    least = factors.groupby(["n_comps", "scale"])["stability"].min().groupby("n_comps").mean()
    np.testing.assert_allclose(table["min_stability"], least.to_numpy())
    assert table.loc[table["suggested"], "n_comps"].item() == least.idxmax()


def test_a_random_state_instance_is_taken_and_a_negative_seed_refused(programs_base, quick):
    adata = programs_base.copy()
    pnmf.tl.select_k(adata, [2, 3], n_runs=2, random_state=np.random.RandomState(0), **quick)
    assert list(adata.uns["pnmf_k"]["n_comps"]) == [2, 3]
    with pytest.raises(pnmf.PnmfValueError, match=r"random_state=-3 is out of range"):
        pnmf.tl.select_k(adata, [2, 3], n_runs=2, random_state=-3, key_added="negative", **quick)
    assert "negative" not in adata.uns
