"""Nothing of the user's is ever lost: foreign manifests, clashing keys, odd-but-valid matrices."""

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import pnmf
from pnmf._core.expression import Expression, normalize_cells

FAST = {"n_scales": 2, "max_iter": 5, "max_sweeps": 1}


def snapshot(adata):
    return {
        "obsm": {k: np.array(v) for k, v in adata.obsm.items()},
        "varm": {k: np.array(v) for k, v in adata.varm.items()},
        "obs": adata.obs.copy(),
        "uns": sorted(adata.uns),
    }


# 1. a foreign or stale manifest never deletes another tool's entries


def test_foreign_manifest_under_the_key_is_refused_and_nothing_is_deleted(populations):
    populations.obs["cell_type"] = "t"
    populations.uns["pnmf"] = {
        "obsm_keys": ["X_pca"],
        "varm_keys": ["PCs"],
        "clusters": {"x": {"obs_keys": ["cell_type"]}},
    }
    with pytest.raises(pnmf.PnmfValueError, match=r"key_added='pnmf' names an entry of adata.uns that pnmf did not"):
        pnmf.tl.pnmf(populations, 3, **FAST)
    assert {"X_pca"} <= set(populations.obsm)
    assert "PCs" in populations.varm
    assert "cell_type" in populations.obs


def test_stale_pnmf_manifest_listing_foreign_keys_removes_only_pnmf_entries(populations):
    pnmf.tl.pnmf(populations, 3, **FAST)
    pnmf.tl.leiden(populations, 0.5, n_neighbors=5)
    populations.obs["cell_type"] = "t"
    manifest = populations.uns["pnmf"]
    # a stale (or edited) pnmf manifest that names other tools' keys
    manifest["obsm_keys"] = np.array([*manifest["obsm_keys"], "X_pca"])
    manifest["varm_keys"] = np.array([*manifest["varm_keys"], "PCs"])
    manifest["clusters"]["leiden"]["obs_keys"] = np.array([*manifest["clusters"]["leiden"]["obs_keys"], "cell_type"])
    manifest["umap"] = {"obsm_keys": np.array(["X_umap_user"])}
    populations.obsm["X_umap_user"] = np.zeros((populations.n_obs, 2))
    pnmf.tl.pnmf(populations, 3, n_scales=1, max_iter=5, max_sweeps=1)
    assert "X_pca" in populations.obsm
    assert "X_umap_user" in populations.obsm
    assert "PCs" in populations.varm
    assert "cell_type" in populations.obs
    # the old result's own entries are gone: one scale now
    assert [k for k in populations.obsm if k.startswith("X_pnmf")] == ["X_pnmf_0"]
    assert not [k for k in populations.obs if k.startswith("pnmf_leiden")]


def test_a_result_written_before_the_writer_field_is_still_replaced(populations):
    pnmf.tl.pnmf(populations, 3, **FAST)
    del populations.uns["pnmf"]["writer"]  # as in files written by earlier versions
    pnmf.tl.pnmf(populations, 3, n_scales=1, max_iter=5, max_sweeps=1)
    assert [k for k in populations.obsm if k.startswith("X_pnmf")] == ["X_pnmf_0"]
    assert populations.uns["pnmf"]["writer"].startswith("pnmf")


def test_writer_field_survives_h5ad(populations, tmp_path):
    pnmf.tl.pnmf(populations, 3, **FAST)
    populations.write_h5ad(tmp_path / "a.h5ad")
    loaded = ad.read_h5ad(tmp_path / "a.h5ad")
    pnmf.tl.pnmf(loaded, 3, n_scales=1, max_iter=5, max_sweeps=1)
    assert [k for k in loaded.obsm if k.startswith("X_pnmf")] == ["X_pnmf_0"]


# 2. key_added may not name another tool's uns entry


@pytest.mark.parametrize("key", ["neighbors", "pca", "umap", "leiden"])
def test_key_added_naming_a_scanpy_entry_is_refused(populations, key):
    sc.tl.umap(populations, random_state=0) if key == "umap" else None
    sc.tl.leiden(populations, flavor="igraph", n_iterations=2, directed=False) if key == "leiden" else None
    before = snapshot(populations)
    entry = populations.uns[key]
    with pytest.raises(pnmf.PnmfValueError, match=rf"key_added='{key}' names an entry of adata.uns"):
        pnmf.tl.pnmf(populations, 3, key_added=key, **FAST)
    assert populations.uns[key] is entry
    assert snapshot(populations)["uns"] == before["uns"]
    if key == "neighbors":
        sc.tl.umap(populations, random_state=0)  # scanpy still finds its graph


# 3. names of two results never collide


def test_key_that_clashes_with_another_results_umap_names_is_refused(populations):
    pnmf.tl.pnmf(populations, 3, key_added="pnmf_umap", **FAST)
    kept = populations.obsm["X_pnmf_umap_0"].copy()
    with pytest.raises(pnmf.PnmfValueError, match=r"clashes with the pnmf result 'pnmf_umap'"):
        pnmf.tl.pnmf(populations, 3, **FAST)
    np.testing.assert_array_equal(populations.obsm["X_pnmf_umap_0"], kept)


def test_key_clashing_the_other_way_round_is_refused(populations):
    pnmf.tl.pnmf(populations, 3, **FAST)
    with pytest.raises(pnmf.PnmfValueError, match=r"per-scale UMAPs of 'pnmf'"):
        pnmf.tl.pnmf(populations, 3, key_added="pnmf_umap", **FAST)


def test_umap_never_overwrites_an_entry_it_does_not_own(populations):
    pnmf.tl.pnmf(populations, 3, **FAST)
    populations.obsm["X_pnmf_umap_0"] = np.ones((populations.n_obs, 2))  # the user's own
    with pytest.raises(pnmf.PnmfValueError, match=r"adata.obsm\['X_pnmf_umap_0'\] already exists"):
        pnmf.tl.umap(populations, n_neighbors=5)
    np.testing.assert_array_equal(populations.obsm["X_pnmf_umap_0"], 1.0)
    assert "umap" not in populations.uns["pnmf"]


def test_result_never_overwrites_an_embedding_it_does_not_own(populations):
    populations.obsm["X_mine_0"] = np.ones((populations.n_obs, 2))
    with pytest.raises(pnmf.PnmfValueError, match=r"adata.obsm\['X_mine_0'\] already exists"):
        pnmf.tl.pnmf(populations, 3, key_added="mine", **FAST)
    np.testing.assert_array_equal(populations.obsm["X_mine_0"], 1.0)
    assert "mine" not in populations.uns


def test_result_never_overwrites_populations_it_does_not_own(populations):
    mine = np.zeros((populations.n_obs, 2))
    populations.obsm["pnmf_populations"] = mine
    with pytest.raises(pnmf.PnmfValueError, match=r"adata.obsm\['pnmf_populations'\] already exists"):
        pnmf.tl.pnmf(populations, 3, n_scales=2, max_iter=5, max_sweeps=0)
    assert populations.obsm["pnmf_populations"] is mine
    assert "pnmf" not in populations.uns
    assert not [k for k in populations.obsm if k.startswith("X_pnmf")]


def test_similar_keys_that_cannot_clash_coexist(populations):
    pnmf.tl.pnmf(populations, 3, **FAST)
    pnmf.tl.pnmf(populations, 3, key_added="pnmf_k3", **FAST)
    pnmf.tl.umap(populations, n_neighbors=5)
    pnmf.tl.umap(populations, key="pnmf_k3", n_neighbors=5)
    assert {"X_pnmf_0", "X_pnmf_k3_0", "X_pnmf_umap_0", "X_pnmf_k3_umap_0"} <= set(populations.obsm)


# 4. duplicate entries mean their sum


def test_non_canonical_csr_gives_the_canonical_answer_and_is_not_modified(populations):
    canonical = populations.X.tocsr().astype(np.float64)
    coo = canonical.tocoo()
    # split every stored value into two halves stored twice, in reversed order
    rows, cols, data = np.r_[coo.row, coo.row][::-1], np.r_[coo.col, coo.col][::-1], np.r_[coo.data, coo.data][::-1] / 2
    order = np.argsort(rows, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=canonical.shape[0]))]
    duplicated = sparse.csr_matrix((data[order], cols[order], indptr), shape=canonical.shape)
    assert not duplicated.has_canonical_format
    stored = (duplicated.data.copy(), duplicated.indices.copy(), duplicated.indptr.copy())
    reference = populations.copy()
    reference.X = canonical
    populations.X = duplicated
    for adata in (reference, populations):
        pnmf.tl.pnmf(adata, 3, n_scales=3, max_iter=10, max_sweeps=1)
    for name in reference.uns["pnmf"]["obsm_keys"]:
        np.testing.assert_allclose(populations.obsm[name], reference.obsm[name], rtol=1e-6, atol=1e-9)
    for before, after in zip(stored, (duplicated.data, duplicated.indices, duplicated.indptr), strict=True):
        np.testing.assert_array_equal(before, after)


def test_duplicates_summing_to_a_nonnegative_value_are_accepted():
    # -1 and +2 stored for one entry: the value is 1
    X = sparse.csr_matrix((np.array([-1.0, 2.0, 1.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
    np.testing.assert_allclose(normalize_cells(X).toarray(), [[1.0, 0.0], [0.0, 1.0]])


# 5. getters return copies


def test_getters_return_copies(fitted):
    frame = pnmf.get.embedding(fitted, 0)
    frame.iloc[:, :] = -1.0
    assert (fitted.obsm["X_pnmf_0"] >= 0).all()
    loadings = pnmf.get.loadings(fitted, 0)
    loadings.iloc[:, :] = -1.0
    assert (fitted.varm["pnmf_loadings_0"] >= 0).all()


# 6. normalization never squares raw values


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize(
    ("dtype", "magnitude"),
    [(np.float64, 1e160), (np.float64, 1e-170), (np.float64, 5e-320), (np.float32, 1e-40), (np.float32, 1e30)],
)
def test_normalize_cells_handles_extreme_magnitudes(fmt, dtype, magnitude):
    rows = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]) * magnitude
    X = rows.astype(dtype)
    X = sparse.csr_matrix(X) if fmt == "csr" else X
    normalized = normalize_cells(X)
    dense = normalized.toarray() if sparse.issparse(normalized) else normalized
    assert dense.dtype == dtype
    expected = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # denormals carry few significant bits: 3 × 5e-320 is stored only to about 1e-3
    denormal = magnitude < np.finfo(dtype).tiny
    np.testing.assert_allclose(dense, expected, rtol=1e-2 if denormal else 1e-6)


def test_all_denormal_matrix_is_factorized_not_called_empty(rng):
    X = np.abs(rng.normal(size=(60, 12))) * 1e-310
    adata = ad.AnnData(X, obsm={"X_pca": rng.normal(size=(60, 3))})
    pnmf.tl.pnmf(adata, 2, **FAST)
    assert np.isfinite(adata.obsm["X_pnmf_0"]).all()
    assert adata.obsm["X_pnmf_0"].max() > 0


@pytest.mark.parametrize(("magnitude", "word"), [(1e-310, "small"), (1e160, "large")])
def test_unnormalized_extreme_values_get_a_clear_error(rng, magnitude, word):
    X = np.abs(rng.normal(size=(60, 12))) * magnitude
    adata = ad.AnnData(X, obsm={"X_pca": rng.normal(size=(60, 3))})
    with pytest.raises(pnmf.PnmfValueError, match=rf"too {word} to factorize.*normalize=True"):
        pnmf.tl.pnmf(adata, 2, normalize=False, **FAST)
    with pytest.raises(ValueError, match=rf"too {word}"):
        Expression(X)


# 7. empty trailing cells in sparse input


@pytest.mark.parametrize("normalize", [True, False])
def test_sparse_input_whose_last_cells_are_empty_in_the_selected_genes(populations, normalize):
    X = populations.X.tolil()
    genes = np.zeros(populations.n_vars, dtype=bool)
    genes[:50] = True
    X[-7:, :50] = 0.0
    populations.X = X.tocsr()
    populations.X.eliminate_zeros()
    pnmf.tl.pnmf(populations, 3, mask_var=genes, normalize=normalize, **FAST)
    assert np.isfinite(populations.obsm["X_pnmf_0"]).all()


def test_normalize_cells_with_trailing_empty_rows_directly():
    X = sparse.csr_matrix(np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(normalize_cells(X).toarray(), [[2**-0.5, 2**-0.5], [0, 0], [0, 0]])
