import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

import pnmf
from pnmf._core.persistence import rips_persistence

FAST = {"max_iter": 30, "max_sweeps": 2}


def snapshot(adata):
    """Everything a tool could write to, for an untouched-input check."""
    return {
        "obsm": sorted(adata.obsm.keys()),
        "varm": sorted(adata.varm.keys()),
        "obs": list(adata.obs.columns),
        "uns": sorted(adata.uns.keys()),
        "X": adata.X.copy(),
    }


def assert_untouched(adata, before):
    after = snapshot(adata)
    for key in ("obsm", "varm", "obs", "uns"):
        assert after[key] == before[key], key
    a, b = (m.toarray() if sparse.issparse(m) else m for m in (after["X"], before["X"]))
    np.testing.assert_array_equal(a, b)


def test_pbmc_writes_the_documented_keys(pbmc):
    adata = pbmc.copy()
    pnmf.tl.pnmf(adata, layer="lognorm")
    manifest = adata.uns["pnmf"]
    n_scales = len(manifest["obsm_keys"])
    assert n_scales == 8
    for t, (obsm_key, varm_key) in enumerate(zip(manifest["obsm_keys"], manifest["varm_keys"], strict=True)):
        assert obsm_key == f"X_pnmf_{t}"
        embedding, loadings = adata.obsm[obsm_key], adata.varm[varm_key]
        assert embedding.shape == (700, 20)
        assert loadings.shape == (765, 20)
        assert np.isfinite(embedding).all()
        assert (embedding >= 0).all()
        assert (loadings >= 0).all()
        # loadings are zero outside the highly variable genes
        assert not loadings[~adata.var["highly_variable"].to_numpy()].any()
        np.testing.assert_allclose(np.linalg.norm(loadings, axis=0), 1.0, rtol=1e-5)
    assert np.all(np.diff(manifest["thresholds"]) > 0)
    assert np.all(np.diff(manifest["n_connected"]) < 0)
    assert manifest["n_connected"][-1] == 1
    assert 0 <= manifest["recommended_scale"] < n_scales
    assert manifest["params"]["n_genes"] == int(adata.var["highly_variable"].sum())
    assert manifest["convergence"]["converged"].all()
    assert "neighbors" in manifest["params"]["graph"]


def test_scales_follow_the_persistence_of_the_user_graph(populations):
    pnmf.tl.pnmf(populations, 5, n_scales=4, **FAST)
    manifest = populations.uns["pnmf"]
    deaths = manifest["persistence"]["deaths"]
    assert len(deaths) == populations.n_obs - 1
    assert manifest["persistence"]["n_essential"] == 1
    # thresholds are death values (or the top one) and components counted as the barcode says
    for threshold, count in zip(manifest["thresholds"][:-1], manifest["n_connected"][:-1], strict=True):
        assert threshold in deaths
        assert count == populations.n_obs - np.sum(deaths < threshold)


def test_rips_filtration_is_the_exact_construction(populations):
    pnmf.tl.pnmf(populations, 5, filtration="rips", n_scales=3, **FAST)
    deaths = populations.uns["pnmf"]["persistence"]["deaths"]
    np.testing.assert_allclose(deaths, rips_persistence(populations.obsm["X_pca"]).deaths)


def test_all_scales_and_explicit_thresholds(populations):
    small = populations[:60].copy()
    sc.pp.neighbors(small, n_neighbors=8)
    pnmf.tl.pnmf(small, 3, scales="all", **FAST)
    deaths = np.unique(small.uns["pnmf"]["persistence"]["deaths"])
    assert len(small.uns["pnmf"]["thresholds"]) == len(deaths[deaths > 0]) + 1
    pnmf.tl.pnmf(small, 3, scales=[8.0, 2.0, 4.0], key_added="explicit", **FAST)
    np.testing.assert_array_equal(small.uns["explicit"]["thresholds"], [2.0, 4.0, 8.0])


def test_copy_returns_new_object_and_leaves_input(populations):
    before = snapshot(populations)
    result = pnmf.tl.pnmf(populations, 4, n_scales=3, copy=True, **FAST)
    assert isinstance(result, ad.AnnData)
    assert "pnmf" in result.uns
    assert_untouched(populations, before)
    assert pnmf.tl.pnmf(populations, 4, n_scales=3, **FAST) is None
    assert "pnmf" in populations.uns


def test_every_scale_s_persistent_populations_are_written_as_the_manifest_counts_them(pbmc):
    adata = pbmc.copy()
    pnmf.tl.pnmf(adata, layer="lognorm", **FAST)
    manifest = adata.uns["pnmf"]
    assert manifest["populations"] == "pnmf_populations"
    populations = adata.obsm["pnmf_populations"]
    assert populations.shape == (adata.n_obs, len(manifest["thresholds"]))
    assert populations.dtype == np.int32
    assert populations.min() >= -1
    for t in range(populations.shape[1]):
        pooled = populations[:, t][populations[:, t] >= 0]
        assert len(pooled) == manifest["n_pooled"][t]
        assert len(np.unique(pooled)) == manifest["n_groups"][t]


def test_rerun_with_fewer_scales_leaves_nothing_stale(populations):
    pnmf.tl.pnmf(populations, 4, n_scales=6, **FAST)
    assert len(populations.uns["pnmf"]["obsm_keys"]) == 6
    assert populations.obsm["pnmf_populations"].shape[1] == 6
    pnmf.tl.pnmf(populations, 4, n_scales=2, **FAST)
    assert populations.obsm["pnmf_populations"].shape[1] == 2
    assert [k for k in populations.obsm if k.startswith("X_pnmf_")] == ["X_pnmf_0", "X_pnmf_1"]
    assert [k for k in populations.varm if k.startswith("pnmf_")] == ["pnmf_loadings_0", "pnmf_loadings_1"]


def test_two_keys_coexist(populations):
    pnmf.tl.pnmf(populations, 4, n_scales=2, **FAST)
    pnmf.tl.pnmf(populations, 3, n_scales=3, key_added="other", **FAST)
    assert populations.obsm["X_pnmf_0"].shape[1] == 4
    assert populations.obsm["X_other_2"].shape[1] == 3


def test_same_seed_is_bitwise_reproducible_other_seed_differs(populations):
    runs = [pnmf.tl.pnmf(populations, 4, n_scales=3, random_state=seed, copy=True, **FAST) for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].obsm["X_pnmf_0"], runs[1].obsm["X_pnmf_0"])
    np.testing.assert_array_equal(runs[0].varm["pnmf_loadings_2"], runs[1].varm["pnmf_loadings_2"])
    assert not np.array_equal(runs[0].obsm["X_pnmf_0"], runs[2].obsm["X_pnmf_0"])


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_formats_and_dtypes_agree(populations, fmt, dtype):
    reference = pnmf.tl.pnmf(populations, 4, n_scales=3, copy=True, **FAST)
    X = populations.X.astype(dtype)
    populations.X = {"dense": X.toarray(), "csr": X.tocsr(), "csc": X.tocsc()}[fmt]
    pnmf.tl.pnmf(populations, 4, n_scales=3, **FAST)
    assert populations.obsm["X_pnmf_1"].dtype == dtype
    np.testing.assert_allclose(populations.obsm["X_pnmf_1"], reference.obsm["X_pnmf_1"], rtol=1e-3, atol=1e-4)


def test_integer_counts_work(populations):
    populations.layers["counts"] = sparse.csr_matrix(np.round(np.expm1(populations.X.toarray())).astype(np.int64))
    pnmf.tl.pnmf(populations, 4, n_scales=3, layer="counts", **FAST)
    assert populations.obsm["X_pnmf_0"].dtype == np.float32
    assert np.isfinite(populations.obsm["X_pnmf_0"]).all()


def test_zero_cells_zero_genes_and_duplicates_give_finite_output(populations):
    X = populations.X.toarray()
    X[5] = 0.0
    X[:, 7] = 0.0
    X[10] = X[11]
    populations.X = sparse.csr_matrix(X)
    populations.obsm["X_pca"][10] = populations.obsm["X_pca"][11]
    sc.pp.neighbors(populations, n_neighbors=10)
    pnmf.tl.pnmf(populations, 4, n_scales=3, **FAST)
    for key in populations.uns["pnmf"]["obsm_keys"]:
        assert np.isfinite(populations.obsm[key]).all()
    # the empty cell has no reconstruction term: its embedding comes from its graph neighbours
    assert (populations.obsm["X_pnmf_0"][5] >= 0).all()
    assert np.sum(populations.uns["pnmf"]["persistence"]["deaths"] == 0) >= 1


def test_view_works(populations):
    view = populations[:200]
    assert view.is_view
    with pytest.warns(ad.ImplicitModificationWarning):
        pnmf.tl.pnmf(view, 4, n_scales=3, **FAST)
    assert view.obsm["X_pnmf_0"].shape == (200, 4)


def test_builds_pca_and_graph_when_missing_without_storing_them(populations):
    bare = ad.AnnData(populations.X.copy(), obs=populations.obs.copy())
    pnmf.tl.pnmf(bare, 4, n_scales=3, **FAST)
    assert "X_pca" not in bare.obsm
    assert "neighbors" not in bare.uns
    assert bare.uns["pnmf"]["params"]["representation"] == "PCA computed by pnmf"
    assert "built by pnmf" in bare.uns["pnmf"]["params"]["graph"]


def test_disconnected_neighbour_graph_is_bridged(rng):
    points = np.vstack([rng.normal(size=(50, 5)), 60 + rng.normal(size=(50, 5))])
    X = sparse.csr_matrix(np.abs(rng.normal(size=(100, 30))))
    adata = ad.AnnData(X, obsm={"X_pca": points})
    sc.pp.neighbors(adata, n_neighbors=5, use_rep="X_pca")
    pnmf.tl.pnmf(adata, 3, n_scales=4, **FAST)
    deaths = adata.uns["pnmf"]["persistence"]["deaths"]
    assert deaths.max() > 40  # the separation of the two groups is a death
    assert adata.uns["pnmf"]["n_connected"][-1] == 1


def test_h5ad_round_trip(populations, tmp_path):
    pnmf.tl.pnmf(populations, 4, n_scales=3, **FAST)
    path = tmp_path / "result.h5ad"
    populations.write_h5ad(path)
    loaded = ad.read_h5ad(path)
    for key in populations.uns["pnmf"]["obsm_keys"]:
        np.testing.assert_array_equal(loaded.obsm[key], populations.obsm[key])
    pd.testing.assert_frame_equal(pnmf.get.scales(loaded), pnmf.get.scales(populations))
    assert loaded.uns["pnmf"]["params"] == populations.uns["pnmf"]["params"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"layer": "missing"}, KeyError, "layer='missing' is not in adata.layers"),
        ({"use_rep": "X_missing"}, KeyError, "use_rep='X_missing' is not in adata.obsm"),
        ({"neighbors_key": "missing"}, KeyError, "neighbors_key='missing' is not in adata.uns"),
        ({"mask_var": "missing"}, KeyError, "mask_var='missing' is not a column"),
        ({"mask_var": np.zeros(400, dtype=bool)}, ValueError, "selects no genes"),
        ({"mask_var": np.ones(5, dtype=bool)}, ValueError, "one entry per gene"),
        ({"n_comps": 0}, ValueError, "n_comps=0 is out of range"),
        ({"n_comps": 500}, ValueError, "cannot exceed the number of cells"),
        ({"n_comps": 2.5}, TypeError, "n_comps must be an integer"),
        ({"n_scales": 0}, ValueError, "n_scales=0 is out of range"),
        ({"n_scales": 3, "scales": "all"}, ValueError, "conflicts with"),
        ({"scales": "some"}, ValueError, "scales='some' is not supported"),
        ({"scales": [1.0, -2.0]}, ValueError, "positive finite thresholds"),
        ({"scales": [1.0, 1.0]}, ValueError, "duplicated thresholds"),
        ({"scales": []}, ValueError, "empty sequence"),
        ({"filtration": "vr"}, ValueError, "filtration='vr' is not supported"),
        ({"graph_weight": -1.0}, ValueError, "graph_weight=-1.0 is invalid"),
        ({"graph_weight": "best"}, ValueError, "graph_weight='best' is not supported"),
        ({"tol": float("nan")}, ValueError, "tol=nan is invalid"),
        ({"max_iter": 0}, ValueError, "max_iter=0 is out of range"),
        ({"key_added": "a/b"}, ValueError, "contains '/'"),
        ({"key_added": ""}, TypeError, "non-empty string"),
        ({"n_pcs": 500}, ValueError, "n_pcs=500 exceeds"),
    ],
)
def test_bad_options_raise_and_leave_adata_untouched(populations, kwargs, error, match):
    before = snapshot(populations)
    with pytest.raises(error, match=match):
        pnmf.tl.pnmf(populations, **{"n_comps": 4, **kwargs})
    assert_untouched(populations, before)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda X: X.__setitem__((0, 0), -0.5), "negative values"),
        (lambda X: X.__setitem__((1, 2), np.nan), "NaN or infinite"),
        (lambda X: X.__setitem__((1, 2), np.inf), "NaN or infinite"),
    ],
)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_bad_values_raise_and_leave_adata_untouched(populations, mutate, match, fmt):
    X = populations.X.toarray()
    mutate(X)
    populations.X = X if fmt == "dense" else sparse.csr_matrix(X)
    before = snapshot(populations)
    with pytest.raises(ValueError, match=match):
        pnmf.tl.pnmf(populations, 4)
    assert_untouched(populations, before)


def test_scaled_pbmc_error_names_the_fix(pbmc):
    with pytest.raises(ValueError, match=r"negative values.*sc\.pp\.scale.*layer="):
        pnmf.tl.pnmf(pbmc)


def test_too_few_cells(populations):
    with pytest.raises(ValueError, match="at least 3 cells"):
        pnmf.tl.pnmf(populations[:2].copy(), 1)


def test_rips_refuses_large_data(rng):
    adata = ad.AnnData(np.abs(rng.normal(size=(3001, 5))), obsm={"X_pca": rng.normal(size=(3001, 3))})
    with pytest.raises(ValueError, match="limited to 3000 cells"):
        pnmf.tl.pnmf(adata, 2, filtration="rips")


@pytest.mark.parametrize("verbosity", [0, 2])
def test_backed_adata_is_fitted_where_it_is(populations, tmp_path, verbosity, capfd):
    # more in test_pnmf_large_data.py
    path = tmp_path / "backed.h5ad"
    populations.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    before = sc.settings.verbosity
    sc.settings.verbosity = verbosity
    try:
        pnmf.tl.pnmf(backed, 4, n_scales=2, max_iter=20, max_sweeps=1)
    finally:
        sc.settings.verbosity = before
    assert backed.isbacked
    assert backed.obsm[backed.uns["pnmf"]["obsm_keys"][0]].shape == (populations.n_obs, 4)
    backed.file.close()
    # at info verbosity the first read of the file shows a bar over its cells
    assert ("reading" in capfd.readouterr().err) == bool(verbosity)


def test_default_sweeps_run_to_convergence(populations):
    # the coupled sweeps stop at tol well before the default cap
    pnmf.tl.pnmf(populations, 5)
    convergence = populations.uns["pnmf"]["convergence"]
    assert convergence["sweeps_converged"]
    assert convergence["n_sweeps"] < 50


def test_graph_weight_is_cross_validated_by_default_and_recorded(populations):
    auto = pnmf.tl.pnmf(populations, 4, n_scales=3, copy=True)
    params = auto.uns["pnmf"]["params"]
    assert params["graph_weight_rule"] == "cross-validated"
    assert params["graph_weight"] in (1.0, 3.0, 10.0, 30.0, 100.0)
    given = pnmf.tl.pnmf(populations, 4, n_scales=3, graph_weight=params["graph_weight"], copy=True)
    assert given.uns["pnmf"]["params"]["graph_weight_rule"] == "given"
    # the cross-validated weight is then the weight of an ordinary fit
    for key in auto.uns["pnmf"]["obsm_keys"]:
        np.testing.assert_array_equal(auto.obsm[key], given.obsm[key])


@pytest.mark.parametrize("key", [".", "..", "a/b"])
def test_keys_that_h5ad_cannot_store_are_refused(populations, key):
    with pytest.raises(pnmf.PnmfValueError, match=rf"key_added={key!r} (is made of dots only|contains '/')"):
        pnmf.tl.pnmf(populations, 3, key_added=key, n_scales=2, **FAST)
    assert key not in populations.uns


def test_a_mask_var_series_is_read_by_gene_name(populations):
    wanted = populations.var_names[::2]
    shuffled = pd.Series(populations.var_names.isin(wanted), index=populations.var_names).sample(frac=1, random_state=0)
    pnmf.tl.pnmf(populations, 3, mask_var=shuffled, n_scales=2, **FAST)
    assert list(populations.var_names[populations.uns["pnmf"]["genes"]]) == list(wanted)


def test_a_mask_var_series_indexed_by_other_genes_is_refused(populations):
    filtered = pd.Series(True, index=populations.var_names[:100])  # e.g. var['highly_variable'] of a filtered copy
    with pytest.raises(pnmf.PnmfValueError, match=r"mask_var is a Series whose index lacks 300 of adata's genes"):
        pnmf.tl.pnmf(populations, 3, mask_var=filtered, n_scales=2, **FAST)
    assert "pnmf" not in populations.uns


@pytest.mark.parametrize("verbosity", [0, 2])
def test_stages_show_lines_and_bars_at_info_verbosity_only(populations, verbosity, capfd, tmp_path):
    import sys

    before = sc.settings.verbosity
    sc.settings.verbosity = verbosity
    sc.settings.logfile = tmp_path / "log.txt"
    try:
        pnmf.tl.pnmf(populations, 4, copy=True, **FAST)
    finally:
        sc.settings.verbosity = before
        sc.settings.logfile = sys.stderr
    log, bars = (tmp_path / "log.txt").read_text(), capfd.readouterr().err
    # the initialization's line; bars over the cross-validation's 6 fits (5 weights, then the scales) and the solver's steps
    assert ("initial factors: NNDSVDa on 300 cells" in log) == bool(verbosity)
    assert ("cross-validation (300 cells)" in bars and "/6 [" in bars) == bool(verbosity)
    assert ("pNMF:" in bars) == bool(verbosity)
