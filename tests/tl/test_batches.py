"""``tl.pnmf(batch_key=...)``: batches integrated on real components, their errors, and the untouched input."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from plot_checks import assert_drawn
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

import pnmf
from pnmf._core.batches import BalancedAverage, Batches, balanced_neighbors

from .test_data_safety import snapshot

FAST = {"n_scales": 3, "max_iter": 30, "max_sweeps": 3}


@pytest.fixture(scope="module")
def batched_base():
    """900 cells of 4 distinct types × 2 subtypes in 3 batches with a strong technical effect; type_3 is in batch_0 only."""
    adata = pnmf.datasets.nested_populations(
        900,
        600,
        n_types=4,
        n_subtypes=2,
        fold_change=6.0,
        n_batches=3,
        batch_effect=0.5,
        batch_specific_types=1,
        random_state=3,
    )
    sc.pp.pca(adata, n_comps=20, random_state=0)
    return adata


@pytest.fixture
def batched(batched_base):
    return batched_base.copy()


def _other_batch_share(embedding, batch, n_neighbors=15):
    """Mean share of a cell's nearest cells (in ``embedding``) that come from another batch."""
    nearest = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(embedding).kneighbors(return_distance=False)
    return float((batch[nearest[:, 1:]] != batch[:, None]).mean())


def _same_type_share(embedding, types, n_neighbors=15):
    """Per cell, the share of its nearest cells (in ``embedding``) of its own type."""
    nearest = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(embedding).kneighbors(return_distance=False)
    return (types[nearest[:, 1:]] == types[:, None]).mean(axis=1)


def _recommended(adata, key):
    manifest = adata.uns[key]
    return adata.obsm[manifest["obsm_keys"][manifest["recommended_scale"]]]


def test_batches_mix_and_types_stay_apart(batched):
    batch = batched.obs["batch"].to_numpy()
    pnmf.tl.pnmf(batched, 8, key_added="plain", **FAST)
    pnmf.tl.pnmf(batched, 8, batch_key="batch", key_added="integrated", **FAST)
    plain, integrated = _recommended(batched, "plain"), _recommended(batched, "integrated")
    # the technical effect separates the batches of the plain fit; integrated, a cell's neighbours span them
    assert _other_batch_share(plain, batch) < 0.2
    assert _other_batch_share(integrated, batch) > 0.4
    # the types found in every batch keep their neighbours within the type
    types = batched.obs["cell_type"].to_numpy()
    shared = types != "type_3"
    assert _same_type_share(integrated, types)[shared].mean() > 0.9


def test_a_type_of_one_batch_keeps_its_neighbours(batched):
    pnmf.tl.pnmf(batched, 8, batch_key="batch", **FAST)
    types = batched.obs["cell_type"].to_numpy()
    specific = types == "type_3"  # 12 % of the cells, all in batch_0
    assert _same_type_share(_recommended(batched, "pnmf"), types)[specific].mean() > 0.75


def test_the_written_embeddings_are_the_balanced_averages_of_the_fitted_ones(batched):
    pnmf.tl.pnmf(batched, 6, batch_key="batch", integration_steps=0, key_added="fitted", **FAST)
    pnmf.tl.pnmf(batched, 6, batch_key="batch", integration_steps=3, key_added="integrated", **FAST)
    batches = Batches("batch", np.array(["batch_0", "batch_1", "batch_2"]), batched.obs["batch"].cat.codes.to_numpy())
    points = batched.obsm["X_pca"].astype(np.float64)
    neighbours = balanced_neighbors(points, batches, 5, random_state=0)
    average = BalancedAverage.from_edges(neighbours.matched_edges(points, neighbours.matched()), batches)
    fitted, integrated = batched.uns["fitted"]["obsm_keys"], batched.uns["integrated"]["obsm_keys"]
    for before, after in zip(fitted, integrated, strict=True):
        expected = average.apply(batched.obsm[before].astype(np.float64), 3)
        np.testing.assert_allclose(batched.obsm[after], expected, rtol=1e-5, atol=1e-7)
    # the loadings are the fit's: integration moves the cells, not the programs
    for before, after in zip(batched.uns["fitted"]["varm_keys"], batched.uns["integrated"]["varm_keys"], strict=True):
        np.testing.assert_array_equal(batched.varm[before], batched.varm[after])
    # the batches' usage: the per-batch means of the embeddings before and after the averaging
    for t, (before, after) in enumerate(zip(fitted, integrated, strict=True)):
        usage = batched.uns["integrated"]["batches"]
        np.testing.assert_allclose(usage["usage"][t], batches.means(batched.obsm[before]), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(
            usage["integrated_usage"][t], batches.means(batched.obsm[after]), rtol=1e-5, atol=1e-7
        )
        unaveraged = batched.uns["fitted"]["batches"]
        np.testing.assert_array_equal(unaveraged["usage"][t], unaveraged["integrated_usage"][t])


def test_a_program_of_one_batch_shows_as_its_shift(batched):
    """A response added to 30 genes in batch_1's cells is the factor that batch_1 uses most beyond its matches."""
    response = np.arange(30) * 20  # genes spread over every type's markers and the background
    responding = (batched.obs["batch"] == "batch_1").to_numpy()
    X = batched.X.toarray()
    X[np.ix_(responding, response)] += 2.0
    batched.X = sparse.csr_matrix(X)
    pnmf.tl.pnmf(batched, 8, batch_key="batch", **FAST)
    table = pnmf.get.batch_usage(batched)
    assert table.shape == (3 * 8, 6)
    loadings = pnmf.get.loadings(batched).to_numpy()
    response_factor = int(np.argmax(loadings[response].sum(axis=0)))
    shifts = table.pivot(index="batch", columns="factor", values="shift")
    # batch_1's largest shift is the response's factor, and the other batches use it less than their matches
    assert int(shifts.loc["batch_1"].idxmax()) == response_factor
    assert shifts.loc["batch_1", response_factor] > 0.5
    assert (shifts.loc[["batch_0", "batch_2"], response_factor] < 0).all()
    # the mean usage over all cells, weighted by the batches' cells, is what the shifts are relative to
    counts = table.drop_duplicates("batch")["n_cells"].to_numpy()
    assert counts.tolist() == batched.obs["batch"].value_counts().sort_index().tolist()


def test_batch_usage_needs_a_batch_fit(batched):
    pnmf.tl.pnmf(batched, 6, **FAST)
    with pytest.raises(pnmf.PnmfKeyError, match="fitted without batch_key"):
        pnmf.get.batch_usage(batched)


def test_manifest_names_the_batches_and_the_graph(batched):
    pnmf.tl.pnmf(batched, 6, batch_key="batch", **FAST)
    manifest = batched.uns["pnmf"]
    entry = manifest["batches"]
    assert entry["key"] == "batch"
    assert list(entry["names"]) == ["batch_0", "batch_1", "batch_2"]
    assert entry["n_cells"].tolist() == batched.obs["batch"].value_counts().sort_index().tolist()
    # batch_0 holds a type no other batch has: fewer of its cells are matched to the others than theirs to it
    matched = entry["matched"]
    assert np.allclose(np.diag(matched), 1.0)
    assert matched[0, 1:].mean() < matched[1:, 0].min() - 0.05
    assert manifest["params"]["batch_key"] == "batch"
    assert manifest["params"]["integration_steps"] == 8
    assert "batch-balanced" in manifest["params"]["graph"]
    assert "integration" in manifest["timings"]
    # a fit without batches writes no batch entry
    pnmf.tl.pnmf(batched, 6, key_added="plain", **FAST)
    assert "batches" not in batched.uns["plain"]
    assert "batch_key" not in batched.uns["plain"]["params"]


def test_a_named_graph_replaces_the_balanced_one(batched):
    sc.pp.neighbors(batched, n_neighbors=10, key_added="mine", random_state=0)
    pnmf.tl.pnmf(batched, 6, batch_key="batch", neighbors_key="mine", **FAST)
    assert batched.uns["pnmf"]["params"]["graph"] == "neighbour graph adata.uns['mine']"


def test_backed_dask_and_in_memory_fits_agree(batched, tmp_path):
    import dask.array as da

    path = tmp_path / "batched.h5ad"
    batched.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    lazy = batched.copy()
    lazy.X = da.from_array(lazy.X, chunks=(300, -1))
    try:
        pnmf.tl.pnmf(backed, 6, batch_key="batch", **FAST)
        pnmf.tl.pnmf(lazy, 6, batch_key="batch", **FAST)
        pnmf.tl.pnmf(batched, 6, batch_key="batch", **FAST)
        for key in batched.uns["pnmf"]["obsm_keys"]:
            np.testing.assert_allclose(backed.obsm[key], batched.obsm[key], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(lazy.obsm[key], batched.obsm[key], rtol=1e-4, atol=1e-6)
        assert backed.uns["pnmf"]["batches"]["n_cells"].tolist() == batched.uns["pnmf"]["batches"]["n_cells"].tolist()
    finally:
        backed.file.close()


def test_clusters_of_the_integrated_result_span_the_batches(batched):
    pnmf.tl.pnmf(batched, 6, batch_key="batch", **FAST)
    pnmf.tl.leiden(batched, 0.5, n_neighbors=10)
    finest = batched.obs[batched.uns["pnmf"]["clusters"]["leiden"]["obs_keys"][0]]
    shared = (batched.obs["cell_type"] != "type_3").to_numpy()
    composition = pd.crosstab(finest[shared], batched.obs["batch"][shared], normalize="index")
    # a cluster of the types every batch has draws on every batch, none on one batch alone
    assert composition.max(axis=1).max() < 0.8
    figure = pnmf.pl.cluster_tree(batched, color="batch", show=False, return_fig=True)
    assert_drawn(figure)


@pytest.mark.parametrize(
    ("prepare", "error", "match"),
    [
        (lambda a: None, pnmf.PnmfKeyError, r"batch_key='missing' is not a column of adata.obs"),
        (lambda a: a.obs.__setitem__("missing", np.arange(a.n_obs)), pnmf.PnmfTypeError, r"categorical or string"),
        (
            lambda a: a.obs.__setitem__("missing", pd.Categorical(["x"] * (a.n_obs - 1) + [np.nan])),
            pnmf.PnmfValueError,
            r"no batch for 1 cells",
        ),
        (lambda a: a.obs.__setitem__("missing", "one"), pnmf.PnmfValueError, r"holds one batch \('one'\)"),
        (
            lambda a: a.obs.__setitem__("missing", ["big"] * (a.n_obs - 3) + ["tiny"] * 3),
            pnmf.PnmfValueError,
            r"fewer cells than n_comps=6 factors: 'tiny' \(3 cells\)",
        ),
    ],
)
def test_bad_batch_columns_are_refused_and_the_anndata_is_untouched(batched, prepare, error, match):
    prepare(batched)
    before = snapshot(batched)
    with pytest.raises(error, match=match):
        pnmf.tl.pnmf(batched, 6, batch_key="missing", **FAST)
    after = snapshot(batched)
    assert after["uns"] == before["uns"]
    assert set(after["obsm"]) == set(before["obsm"])
    pd.testing.assert_frame_equal(after["obs"], before["obs"])


def test_batches_need_the_knn_filtration(batched):
    with pytest.raises(pnmf.PnmfValueError, match=r"batch_key needs filtration='knn'"):
        pnmf.tl.pnmf(batched, 6, batch_key="batch", filtration="rips", **FAST)


def test_consensus_of_an_integrated_result_is_integrated_too(batched):
    batch = batched.obs["batch"].to_numpy()
    pnmf.tl.pnmf(batched, 6, batch_key="batch", **FAST)
    pnmf.tl.consensus(batched, n_runs=3)
    manifest = batched.uns["pnmf_consensus"]
    assert manifest["batches"]["key"] == "batch"
    assert "integration" in manifest["timings"]
    embedding = batched.obsm[manifest["obsm_keys"][manifest["recommended_scale"]]]
    assert _other_batch_share(embedding, batch) > 0.4


def test_an_unseen_batch_lands_on_the_clusters_of_its_types(batched):
    reference = batched[batched.obs["batch"] != "batch_2"].copy()
    query = batched[batched.obs["batch"] == "batch_2"].copy()
    sc.pp.pca(reference, n_comps=20, random_state=0)
    pnmf.tl.pnmf(reference, 8, batch_key="batch", **FAST)
    pnmf.tl.leiden(reference)
    pnmf.tl.project(query, reference)
    finest = reference.uns["pnmf"]["clusters"]["leiden"]["obs_keys"][0]
    # each reference cluster's type, by majority; the query's cells land on clusters of their own type
    cluster_type = reference.obs.groupby(finest, observed=True)["cell_type"].agg(lambda s: s.value_counts().index[0])
    landed = query.obs[finest].map(cluster_type).astype(str).to_numpy()
    assert (landed == query.obs["cell_type"].astype(str).to_numpy()).mean() > 0.95
