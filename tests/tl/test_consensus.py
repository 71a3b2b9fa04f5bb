"""tl.consensus: a complete pnmf result from many runs, with each program's reproducibility."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import pnmf


def test_writes_a_pnmf_result_that_every_reader_understands(consensus_base):
    adata = consensus_base
    manifest = adata.uns["pnmf_consensus"]
    source = adata.uns["pnmf"]
    assert list(manifest["obsm_keys"]) == ["X_pnmf_consensus_0", "X_pnmf_consensus_1"]
    np.testing.assert_array_equal(manifest["thresholds"], source["thresholds"])
    # the same cells at the same thresholds: the source's populations, under the consensus's key
    assert manifest["populations"] == "pnmf_consensus_populations"
    np.testing.assert_array_equal(adata.obsm["pnmf_consensus_populations"], adata.obsm["pnmf_populations"])
    np.testing.assert_array_equal(
        pnmf.get.scales(adata, key="pnmf_consensus")["held_out_error"], source["cross_validation"]["scale_errors"]
    )
    for t, key in enumerate(manifest["varm_keys"]):
        W = adata.varm[key]
        np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0, rtol=1e-5)
        U = adata.obsm[manifest["obsm_keys"][t]]
        assert U.shape == (adata.n_obs, 3)
        assert (U >= 0).all()
    info = manifest["consensus"]
    assert info["stability"].shape == info["reproducibility"].shape == info["n_kept"].shape == (2, 3)
    assert (info["n_kept"] >= 2).all()
    assert (info["n_kept"] <= 4).all()
    assert manifest["params"]["source"] == "pnmf"
    assert manifest["params"]["n_runs"] == 4
    assert len(pnmf.get.scales(adata, key="pnmf_consensus")) == 2
    assert len(pnmf.get.top_genes(adata, 0, 5, key="pnmf_consensus")) == 15
    assert pnmf.get.embedding(adata, key="pnmf_consensus").shape == (adata.n_obs, 3)
    history = pnmf.get.history(adata, key="pnmf_consensus")
    sweeps = history[history["phase"] == "sweep"]["objective"].to_numpy()
    assert (np.diff(sweeps) <= 1e-9 * sweeps[0]).all()


def test_consensus_reconstructs_as_well_as_one_run(consensus_base):
    """The refit embeddings with the consensus loadings fit the data about as well as the single run."""
    adata = consensus_base
    X = adata.X.toarray()
    X = X / np.linalg.norm(X, axis=1, keepdims=True)

    def error(key):
        m = adata.uns[key]
        U, W = adata.obsm[m["obsm_keys"][0]], adata.varm[m["varm_keys"][0]]
        return np.linalg.norm(X - U @ W.T) ** 2 / np.linalg.norm(X) ** 2

    assert error("pnmf_consensus") < 1.1 * error("pnmf")


def test_h5ad_round_trip(consensus_base, tmp_path):
    path = tmp_path / "consensus.h5ad"
    consensus_base.write_h5ad(path)
    back = ad.read_h5ad(path)
    before = pnmf.get.reproducibility(consensus_base)
    after = pnmf.get.reproducibility(back)
    np.testing.assert_allclose(before["stability"], after["stability"])
    assert pnmf.get.programs(back, 0, 2).shape == (6, 7)


def test_same_seed_same_result_other_seed_differs(consensus_base):
    adata = consensus_base.copy()
    pnmf.tl.consensus(adata, n_runs=4, key_added="again")
    pnmf.tl.consensus(adata, n_runs=4, random_state=1, key_added="other")
    same = adata.varm["again_loadings_0"]
    np.testing.assert_array_equal(same, adata.varm["pnmf_consensus_loadings_0"])
    assert not np.array_equal(same, adata.varm["other_loadings_0"])


def test_in_place_replaces_the_single_run(consensus_base):
    adata = consensus_base.copy()
    pnmf.tl.consensus(adata, n_runs=2, key_added="pnmf")
    assert "consensus" in adata.uns["pnmf"]
    assert list(adata.uns["pnmf"]["obsm_keys"]) == ["X_pnmf_0", "X_pnmf_1"]


def test_copy_leaves_input_untouched(consensus_base):
    adata = consensus_base.copy()
    result = pnmf.tl.consensus(adata, n_runs=2, key_added="c2", copy=True)
    assert "c2" not in adata.uns
    assert "X_c2_0" not in adata.obsm
    assert "c2" in result.uns
    assert "X_c2_0" in result.obsm


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"n_runs": 1}, ValueError, "n_runs=1 is out of range"),
        ({"subsample": 2.0}, ValueError, "fraction of the cells"),
        ({"outlier_mads": -1.0}, ValueError, "outlier_mads=-1.0 is invalid"),
        ({"tol": 0.0}, ValueError, "tol=0.0 is invalid"),
        ({"tol": "tight"}, TypeError, "tol must be a number"),
        ({"key": "missing"}, KeyError, r"run pnmf.tl.pnmf\(adata, key_added='missing'\) first"),
        ({"subsample": 0.01}, ValueError, "a run sees 2 cells"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(consensus_base, options, error, match):
    adata = consensus_base.copy()
    before = (set(adata.uns), set(adata.obsm), set(adata.varm))
    with pytest.raises(error, match=match):
        pnmf.tl.consensus(adata, **{"n_runs": 2, "key_added": "new", **options})
    assert (set(adata.uns), set(adata.obsm), set(adata.varm)) == before


def test_runs_converge_further_than_the_source_unless_told(consensus_base):
    from pnmf.tl._replicates import REPLICATE_TOL

    source_tol = consensus_base.uns["pnmf"]["params"]["tol"]
    assert consensus_base.uns["pnmf_consensus"]["params"]["tol"] == REPLICATE_TOL < source_tol
    told = pnmf.tl.consensus(consensus_base, n_runs=2, tol=1e-3, key_added="loose", copy=True)
    assert told.uns["loose"]["params"]["tol"] == 1e-3
    tight = consensus_base.copy()
    tight.uns["pnmf"]["params"]["tol"] = 1e-8  # a source fitted tighter keeps its own tolerance
    pnmf.tl.consensus(tight, n_runs=2, key_added="tight")
    assert tight.uns["tight"]["params"]["tol"] == 1e-8


def test_refuses_a_result_fitted_on_other_genes(consensus_base):
    adata = consensus_base[:, :100].copy()
    with pytest.raises(
        pnmf.PnmfKeyError, match=r"adata lacks 50 of the 150 genes the pnmf result 'pnmf' was fitted on"
    ):
        pnmf.tl.consensus(adata, n_runs=2)


# results written for cells other than those fitted record what was computed for those cells


def test_consensus_on_a_cell_subset_records_the_graphs_of_its_own_cells(consensus_base):
    subset = consensus_base[:100].copy()
    pnmf.tl.consensus(subset, n_runs=2, key_added="sub")
    table = pnmf.get.scales(subset, key="sub")
    assert (table["n_connected"] <= 100).all()
    assert (table["n_edges"] < pnmf.get.scales(consensus_base)["n_edges"]).all()
    assert subset.obsm["sub_populations"].shape == (100, 2)
    np.testing.assert_array_equal(table["threshold"], pnmf.get.scales(consensus_base)["threshold"])
    assert len(pnmf.get.persistence_bars(subset, key="sub")) == 100


def test_consensus_on_a_projected_query_records_the_query_s_own_inputs(consensus_base):
    query = consensus_base[:120].copy()
    del query.obsm["X_pca"], query.uns["neighbors"], query.obsp["distances"], query.obsp["connectivities"]
    reference = consensus_base[120:].copy()
    pnmf.tl.project(query, reference, use_rep=None, key_added="pnmf")
    pnmf.tl.consensus(query, n_runs=2)
    params = query.uns["pnmf_consensus"]["params"]
    assert params["representation"] == "PCA computed by pnmf"
    assert params["graph"].endswith("built by pnmf")
    assert (pnmf.get.scales(query, key="pnmf_consensus")["n_connected"] <= 120).all()


def test_a_random_state_instance_is_taken_and_a_negative_seed_refused(consensus_base):
    adata = consensus_base.copy()
    pnmf.tl.consensus(adata, n_runs=2, random_state=np.random.RandomState(0), key_added="seeded")
    assert isinstance(int(adata.uns["seeded"]["params"]["random_state"]), int)
    with pytest.raises(pnmf.PnmfValueError, match=r"random_state=-3 is out of range"):
        pnmf.tl.consensus(adata, n_runs=2, random_state=-3, key_added="negative")
    assert "negative" not in adata.uns
