"""Hostile inputs, interruptions, round trips: the input is never half-written, outputs are finite."""

import signal

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

import pnmf
from pnmf._manifest import Results, write_results

FAST = {"max_iter": 20, "max_sweeps": 1}


def state(adata):
    return (sorted(adata.obsm), sorted(adata.varm), list(adata.obs.columns), sorted(adata.uns))


def finite_result(adata, key="pnmf"):
    for name in adata.uns[key]["obsm_keys"]:
        assert np.isfinite(adata.obsm[name]).all()
    for name in adata.uns[key]["varm_keys"]:
        assert np.isfinite(adata.varm[name]).all()


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ad.AnnData(np.zeros((0, 5))), ValueError, "at least 3 cells"),
        (lambda: ad.AnnData(np.ones((1, 5))), ValueError, "at least 3 cells"),
        (lambda: ad.AnnData(np.ones((10, 0))), ValueError, "no genes"),
        (
            lambda: ad.AnnData(np.zeros((20, 6)), obsm={"X_pca": np.random.default_rng(0).normal(size=(20, 3))}),
            ValueError,
            "nothing to factorize",
        ),
        (lambda: ad.AnnData(np.ones((20, 6)), obsm={"X_pca": np.full((20, 3), np.nan)}), ValueError, r"X_pca.*NaN"),
        (
            lambda: ad.AnnData(np.ones((5, 6)), obsm={"X_pca": np.ones((5, 3))}),
            ValueError,
            "cannot exceed the number of cells",
        ),
    ],
)
def test_degenerate_anndata_gets_a_clear_error(make, error, match):
    adata = make()
    before = state(adata)
    with pytest.raises(error, match=match):
        pnmf.tl.pnmf(adata, 6 if adata.n_obs == 5 else 2, **FAST)
    assert state(adata) == before


def test_single_negative_stored_value_in_sparse_matrix(populations):
    X = populations.X.copy()
    X.data[17] = -1e-6
    populations.X = X
    with pytest.raises(ValueError, match="1 negative values"):
        pnmf.tl.pnmf(populations, 3)


@pytest.mark.parametrize("kind", ["bool", "csr_array", "int32_dense"])
def test_boolean_integer_and_sparse_array_inputs(populations, kind):
    X = populations.X
    populations.X = {
        "bool": sparse.csr_matrix(X > 1.0),
        "csr_array": sparse.csr_array(X),
        "int32_dense": np.round(X.toarray() * 3).astype(np.int32),
    }[kind]
    pnmf.tl.pnmf(populations, 3, n_scales=3, **FAST)
    finite_result(populations)
    assert populations.obsm["X_pnmf_0"].dtype == (np.float32 if kind != "csr_array" else populations.X.dtype)


def test_identical_cells_give_a_single_scale(rng):
    X = np.tile(np.abs(rng.normal(size=(1, 12))), (30, 1))
    adata = ad.AnnData(X, obsm={"X_pca": np.zeros((30, 4))})
    pnmf.tl.pnmf(adata, 2, **FAST)
    assert len(adata.uns["pnmf"]["thresholds"]) == 1
    assert adata.uns["pnmf"]["n_connected"][0] == 1
    finite_result(adata)


def test_more_scales_than_the_canonical_set(populations):
    small = populations[:40].copy()
    sc.pp.neighbors(small, n_neighbors=5)
    pnmf.tl.pnmf(small, 3, n_scales=1000, **FAST)
    n = len(small.uns["pnmf"]["thresholds"])
    assert 1 < n <= 40
    assert len(np.unique(small.uns["pnmf"]["n_connected"])) == n


def test_single_population_works(rng):
    X = sparse.csr_matrix(np.abs(rng.normal(1.0, 0.1, size=(200, 30))))
    adata = ad.AnnData(X)
    pnmf.tl.pnmf(adata, 3, n_scales=4, **FAST)
    finite_result(adata)


def test_keyboard_interrupt_during_the_solve_leaves_adata_untouched(populations):
    pnmf.tl.pnmf(populations, 3, n_scales=2, key_added="kept", **FAST)
    before = state(populations)
    kept = populations.obsm["X_kept_0"].copy()

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            pnmf.tl.pnmf(populations, 5, n_scales=8, max_iter=100_000, tol=0.0, key_added="kept")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert state(populations) == before
    np.testing.assert_array_equal(populations.obsm["X_kept_0"], kept)


def test_a_failing_write_is_rolled_back(populations):
    pnmf.tl.pnmf(populations, 3, n_scales=2, **FAST)
    before = state(populations)
    old = populations.obsm["X_pnmf_0"].copy()
    broken = Results(
        obsm={"X_pnmf_0": np.zeros((populations.n_obs, 3))},
        obs={"pnmf_bad": np.zeros(populations.n_obs + 1)},  # wrong length: anndata refuses it mid-write
        uns={"pnmf": {"obsm_keys": np.array(["X_pnmf_0"])}},
    )
    with pytest.raises(ValueError, match="length"):
        write_results(populations, broken, {"obsm": ["X_pnmf_0", "X_pnmf_1"], "varm": [], "obs": [], "uns": []})
    assert state(populations) == before
    np.testing.assert_array_equal(populations.obsm["X_pnmf_0"], old)


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_round_trip_then_getters_and_plots_work(populations, tmp_path, fmt):
    import matplotlib.pyplot as plt

    pnmf.tl.pnmf(populations, 4, n_scales=3, **FAST)
    pnmf.tl.leiden(populations, 0.5)
    path = tmp_path / f"result.{fmt}"
    getattr(populations, f"write_{fmt}")(path)
    loaded = getattr(ad, f"read_{fmt}")(path)
    for name in populations.uns["pnmf"]["obsm_keys"]:
        np.testing.assert_array_equal(loaded.obsm[name], populations.obsm[name])
    for name in populations.uns["pnmf"]["varm_keys"]:
        np.testing.assert_array_equal(loaded.varm[name], populations.varm[name])
    pd.testing.assert_frame_equal(pnmf.get.scales(loaded), pnmf.get.scales(populations))
    pd.testing.assert_frame_equal(pnmf.get.history(loaded), pnmf.get.history(populations))
    pd.testing.assert_frame_equal(pnmf.get.cluster_tree(loaded)[1], pnmf.get.cluster_tree(populations)[1])
    for draw in (pnmf.pl.persistence, pnmf.pl.convergence, pnmf.pl.cluster_tree, pnmf.pl.scales):
        fig = draw(loaded, return_fig=True)
        assert fig.axes
        plt.close(fig)


def test_dense_and_sparse_input_agree_to_float_tolerance(populations):
    dense = populations.copy()
    dense.X = populations.X.toarray().astype(np.float64)
    sparse_ = populations.copy()
    sparse_.X = populations.X.astype(np.float64)
    for adata in (dense, sparse_):
        pnmf.tl.pnmf(adata, 4, n_scales=3, **FAST)
    for name in dense.uns["pnmf"]["obsm_keys"]:
        np.testing.assert_allclose(dense.obsm[name], sparse_.obsm[name], rtol=1e-6, atol=1e-8)
