"""``tl.pnmf`` where large data live: a backed .h5ad read by blocks, and a Dask array on a cluster."""

import anndata as ad
import dask.array as da
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from scipy import sparse

import pnmf
from pnmf._core import streamed

FIT = {"n_comps": 4, "n_scales": 3, "max_iter": 60, "max_sweeps": 3}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def reference(populations_base):
    """The populations (sparse float32 X, an empty cell) and their fit in memory."""
    adata = populations_base.copy()
    X = sparse.lil_matrix(adata.X, dtype=np.float32)
    X[11] = 0
    adata.X = X.tocsr()
    fitted = adata.copy()
    pnmf.tl.pnmf(fitted, **FIT)
    return adata, fitted


def assert_same_fit(result, expected, rtol=3e-6):
    # the path runs fine to coarse: each coarser scale starts from the finer solution, which carries
    # the streamed products' rounding further along the path (measured up to 1.5e-6)
    manifest, other = result.uns["pnmf"], expected.uns["pnmf"]
    np.testing.assert_allclose(manifest["thresholds"], other["thresholds"])
    assert manifest["params"]["graph_weight"] == other["params"]["graph_weight"]
    assert manifest["convergence"]["objective"] == pytest.approx(other["convergence"]["objective"], rel=1e-7)
    for key in other["obsm_keys"]:
        scale = np.abs(expected.obsm[key]).max()
        np.testing.assert_allclose(result.obsm[key], expected.obsm[key], rtol=0, atol=rtol * scale)
        assert result.obsm[key].dtype == expected.obsm[key].dtype
    for key in other["varm_keys"]:
        np.testing.assert_allclose(result.varm[key], expected.varm[key], rtol=0, atol=rtol)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 40 cells, so that every product streams over several blocks."""
    monkeypatch.setattr(streamed, "BLOCK_BYTES", 40 * 400 * 8 // 2)


@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_backed_fit_is_the_in_memory_fit(reference, layout, tmp_path, small_blocks):
    adata, expected = reference
    if layout == "dense":
        adata = adata.copy()
        adata.X = adata.X.toarray()
        expected = adata.copy()
        pnmf.tl.pnmf(expected, **FIT)
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        assert pnmf.tl.pnmf(backed, **FIT) is None
        assert backed.isbacked
        assert_same_fit(backed, expected)
        # the results survive a round trip, as for data in memory
        backed.write_h5ad(tmp_path / "results.h5ad")
    finally:
        backed.file.close()
    reread = ad.read_h5ad(tmp_path / "results.h5ad")
    assert_same_fit(reread, expected)


def test_backed_fit_selects_genes_and_chooses_the_weight_as_in_memory(reference, tmp_path, small_blocks):
    adata, _ = reference
    adata = adata.copy()
    adata.var["highly_variable"] = np.arange(adata.n_vars) % 3 != 0
    expected = adata.copy()
    pnmf.tl.pnmf(expected, **FIT, graph_weight="auto")
    adata.write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    try:
        pnmf.tl.pnmf(backed, **FIT, graph_weight="auto")
        assert backed.uns["pnmf"]["params"]["n_genes"] == int(adata.var["highly_variable"].sum())
        assert_same_fit(backed, expected)
        assert not backed.varm[backed.uns["pnmf"]["varm_keys"][0]][~adata.var["highly_variable"].to_numpy()].any()
    finally:
        backed.file.close()


def backed_copy(adata, tmp_path, name="cells.h5ad"):
    adata.write_h5ad(tmp_path / name)
    return ad.read_h5ad(tmp_path / name, backed="r")


def test_backed_copy_is_refused_and_the_data_untouched(reference, tmp_path):
    backed = backed_copy(reference[0], tmp_path)
    try:
        with pytest.raises(ValueError, match="copy=False"):
            pnmf.tl.pnmf(backed, **FIT, copy=True)
        assert "pnmf" not in backed.uns
        assert not any(k.startswith("X_pnmf") for k in backed.obsm)
    finally:
        backed.file.close()


def test_backed_negative_values_are_refused_and_nothing_is_written(reference, tmp_path):
    adata = reference[0].copy()
    X = adata.X.tolil()
    X[290, 5] = -1.0
    adata.X = X.tocsr()
    backed = backed_copy(adata, tmp_path)
    try:
        with pytest.raises(ValueError, match="negative values"):
            pnmf.tl.pnmf(backed, **FIT)
        assert "pnmf" not in backed.uns
        assert set(backed.obsm) == set(adata.obsm)
    finally:
        backed.file.close()


def test_backed_csc_is_refused_with_the_fix(reference, tmp_path):
    adata = reference[0].copy()
    adata.X = adata.X.tocsc()
    backed = backed_copy(adata, tmp_path)
    try:
        with pytest.raises(ValueError, match=r"tocsr\(\)"):
            pnmf.tl.pnmf(backed, **FIT)
    finally:
        backed.file.close()


def test_backed_without_a_representation_is_refused_with_the_fix(reference, tmp_path):
    adata = reference[0].copy()
    del adata.obsm["X_pca"]
    backed = backed_copy(adata, tmp_path)
    try:
        with pytest.raises(ValueError, match=r"sc\.pp\.pca"):
            pnmf.tl.pnmf(backed, **FIT)
        with pytest.raises(ValueError, match="backed"):
            pnmf.tl.pnmf(backed, **FIT, use_rep="X")
    finally:
        backed.file.close()


def test_backed_data_are_still_refused_by_tools_that_fit_many_times(fitted, tmp_path):
    backed = backed_copy(fitted, tmp_path)
    try:
        with pytest.raises(ValueError, match="to_memory"):
            pnmf.tl.select_k(backed, [2, 3])
    finally:
        backed.file.close()


def test_clusters_and_umaps_of_a_backed_fit_are_those_in_memory(fitted, tmp_path):
    # only the embeddings are read: the file's matrix stays where it is
    expected = fitted.copy()
    pnmf.tl.leiden(expected)
    other = 1 if fitted.uns["pnmf"]["recommended_scale"] == 0 else 0
    pnmf.tl.umap(expected, which=[other, "recommended"])
    backed = backed_copy(fitted, tmp_path)
    try:
        pnmf.tl.leiden(backed)
        pnmf.tl.umap(backed, which=[other, "recommended"])
        assert backed.isbacked
        for key in expected.uns["pnmf"]["clusters"]["leiden"]["obs_keys"]:
            assert backed.obs[key].equals(expected.obs[key])
        for key in expected.uns["pnmf"]["umap"]["obsm_keys"]:
            np.testing.assert_array_equal(backed.obsm[key], expected.obsm[key])
        with pytest.raises(ValueError, match="copy=False"):
            pnmf.tl.leiden(backed, key_added="again", copy=True)
        assert not any(k.startswith("pnmf_again") for k in backed.obs)
        with pytest.raises(ValueError, match="copy=False"):
            pnmf.tl.umap(backed, copy=True)
    finally:
        backed.file.close()


@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_dask_fit_is_the_in_memory_fit(reference, layout, client):
    adata, expected = reference
    adata = adata.copy()
    if layout == "dense":
        adata.X = adata.X.toarray()
        expected = adata.copy()
        pnmf.tl.pnmf(expected, **FIT)
    adata.X = da.from_array(adata.X, chunks=(70, -1))
    assert pnmf.tl.pnmf(adata, **FIT) is None
    assert isinstance(adata.X, da.Array)  # the user's array is left as it was
    assert_same_fit(adata, expected)


def test_dask_copy_returns_a_new_object(reference, client):
    adata, expected = reference
    lazy = adata.copy()
    lazy.X = da.from_array(adata.X, chunks=(100, -1))
    result = pnmf.tl.pnmf(lazy, **FIT, copy=True)
    assert "pnmf" not in lazy.uns
    assert_same_fit(result, expected)


def test_dask_chunks_along_genes_are_refused_with_the_fix(reference, client):
    adata = reference[0].copy()
    adata.X = da.from_array(adata.X.toarray(), chunks=(100, 100))
    with pytest.raises(ValueError, match=r"adata\.X\.rechunk\(\{1: -1\}\)"):
        pnmf.tl.pnmf(adata, **FIT)
    assert "pnmf" not in adata.uns
